"""Feature drift between a model's training window and the latest partitions.

The measure is the **population stability index** (PSI) of each input feature::

    PSI = sum over bins of (a_i - e_i) * ln(a_i / e_i)

where ``e_i`` is the share of the expected (training) sample in bin ``i`` and ``a_i`` the share
of the actual (latest) sample. It is the symmetric Kullback-Leibler divergence of the two
binned distributions (Jeffreys divergence): 0 for identical distributions, larger the more
mass moves between bins.

Binning:

- **Numeric** features are cut at the quantiles of the expected sample (``bins`` equal-share
  bins, so each training bin holds about the same mass; the quantiles of the empirical
  distribution, so every edge is a training value), with open outer bins, so latest values
  outside the training range still land in a bin. Tied quantiles (count data with many zeros)
  collapse into fewer bins. Bins are right-closed: ``(edge_{i-1}, edge_i]``.
- **Categorical** features (strings, categoricals, enums, booleans) use one bin per category
  seen in either sample.
- **Missing** values (null, and NaN for floats) form a bin of their own, so a feature that
  starts arriving empty is drift too.
- An empty bin would make ``ln`` infinite, so every share is floored at ``epsilon`` (1e-4).

Reading the number, by the conventional rule of thumb from credit scoring (Siddiqi, *Credit
Risk Scorecards*, Wiley 2006; discussed in Yurdakul, "Statistical properties of the population
stability index", Western Michigan University 2018):

- PSI < 0.1: **stable**, no significant change;
- 0.1 <= PSI < 0.25: **moderate** shift, worth watching;
- PSI >= 0.25: **major** shift, the model should be reviewed or retrained.

The PSI of a feature grows with the number of bins and shrinks toward its true value as the
samples grow; with a few hundred rows a stable feature can read 0.02-0.05 from sampling noise
alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl
from matplotlib.figure import Figure

PSI_MODERATE = 0.1
PSI_MAJOR = 0.25
DEFAULT_BINS = 10
EPSILON = 1e-4
MISSING = "<missing>"

STATUS_COLOURS = {"stable": "tab:green", "moderate": "tab:orange", "major": "tab:red"}

DRIFT_SCHEMA = {
    "feature": pl.Utf8,
    "kind": pl.Utf8,
    "psi": pl.Float64,
    "status": pl.Utf8,
    "train_rows": pl.Int64,
    "latest_rows": pl.Int64,
    "train_mean": pl.Float64,
    "latest_mean": pl.Float64,
    "train_std": pl.Float64,
    "latest_std": pl.Float64,
    "train_null_share": pl.Float64,
    "latest_null_share": pl.Float64,
    "relative_mean_shift": pl.Float64,
    "mean_shift_in_std": pl.Float64,
}


class DriftError(ValueError):
    """Drift cannot be measured on the input as given; the message says what to fix."""


def _series(values: Any, name: str) -> pl.Series:
    if isinstance(values, pl.Series):
        return values
    if isinstance(values, np.ndarray):
        return pl.Series(name, values)
    return pl.Series(name, list(values), strict=False)


def _is_categorical(series: pl.Series) -> bool:
    dtype = series.dtype
    return dtype in (pl.Utf8, pl.Boolean) or isinstance(dtype, pl.Categorical | pl.Enum)


def _missing(series: pl.Series) -> np.ndarray:
    mask = series.is_null()
    if series.dtype.is_float():
        mask = mask | series.is_nan().fill_null(True)
    return mask.to_numpy()


def _shares(counts: np.ndarray, total: int, epsilon: float) -> np.ndarray:
    return np.maximum(counts / total, epsilon)


def status(psi_value: float) -> str:
    """``stable`` (< 0.1), ``moderate`` (< 0.25) or ``major``; ``unknown`` for NaN."""
    if psi_value is None or np.isnan(psi_value):
        return "unknown"
    if psi_value < PSI_MODERATE:
        return "stable"
    if psi_value < PSI_MAJOR:
        return "moderate"
    return "major"


def bin_counts(
    expected: Any, actual: Any, bins: int = DEFAULT_BINS
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Bin labels and the counts of each sample per bin, binned as :func:`psi` does."""
    e, a = _series(expected, "expected"), _series(actual, "actual")
    if e.len() == 0:
        raise DriftError("the expected (training) sample is empty; nothing to compare against")
    if a.len() == 0:
        raise DriftError("the actual (latest) sample is empty; load the latest partitions")
    if bins < 2:
        raise DriftError(f"bins={bins}: use at least 2 bins")
    # An all-missing sample has no type of its own; it takes the other sample's.
    if e.dtype == pl.Null:
        e = e.cast(a.dtype if a.dtype != pl.Null else pl.Float64)
    if a.dtype == pl.Null:
        a = a.cast(e.dtype)
    e_missing, a_missing = _missing(e), _missing(a)
    categorical = _is_categorical(e) or _is_categorical(a)
    if categorical:
        e_vals = e.cast(pl.Utf8).to_numpy()[~e_missing].astype(str)
        a_vals = a.cast(pl.Utf8).to_numpy()[~a_missing].astype(str)
        categories, codes = np.unique(np.concatenate([e_vals, a_vals]), return_inverse=True)
        labels = categories.tolist()
        e_idx, a_idx = codes[: e_vals.size], codes[e_vals.size :]
    else:
        if not (e.dtype.is_numeric() and a.dtype.is_numeric()):
            raise DriftError(f"cannot bin {e.dtype} against {a.dtype}; pass numbers or categories")
        e_num = e.cast(pl.Float64).to_numpy()[~e_missing]
        a_num = a.cast(pl.Float64).to_numpy()[~a_missing]
        if e_num.size:
            # Quantiles of the empirical distribution, so every edge is a training value.
            levels = np.linspace(0, 1, bins + 1)[1:-1]
            quantiles = np.quantile(e_num, levels, method="inverted_cdf")
            edges = np.unique(quantiles)
        else:
            edges = np.array([], dtype=float)
        e_idx = np.searchsorted(edges, e_num, side="left")
        a_idx = np.searchsorted(edges, a_num, side="left")
        bounds = [-np.inf, *edges.tolist(), np.inf]
        labels = [f"({lo:.4g}, {hi:.4g}]" for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]
    n = len(labels)
    e_counts = np.bincount(e_idx, minlength=n).astype(float)
    a_counts = np.bincount(a_idx, minlength=n).astype(float)
    if e_missing.any() or a_missing.any():
        labels = [*labels, MISSING]
        e_counts = np.append(e_counts, e_missing.sum())
        a_counts = np.append(a_counts, a_missing.sum())
    return labels, e_counts, a_counts


def psi(expected: Any, actual: Any, bins: int = DEFAULT_BINS, epsilon: float = EPSILON) -> float:
    """Population stability index of ``actual`` against ``expected`` (see the module docstring).

    Either sample may be a polars Series, a numpy array or a list. Numeric samples are cut at
    the expected sample's quantiles; strings, categoricals and booleans bin by category;
    missing values are a bin of their own.
    """
    _, e_counts, a_counts = bin_counts(expected, actual, bins)
    e_share = _shares(e_counts, int(e_counts.sum()), epsilon)
    a_share = _shares(a_counts, int(a_counts.sum()), epsilon)
    return float(np.sum((a_share - e_share) * np.log(a_share / e_share)))


def _summary(series: pl.Series, numeric: bool) -> tuple[float | None, float | None, float]:
    missing = _missing(series)
    null_share = float(missing.mean()) if series.len() else float("nan")
    if not numeric:
        return None, None, null_share
    values = series.cast(pl.Float64).to_numpy()[~missing]
    if values.size == 0:
        return None, None, null_share
    std = float(values.std(ddof=1)) if values.size > 1 else None
    return float(values.mean()), std, null_share


def feature_drift(
    train: pl.DataFrame,
    latest: pl.DataFrame,
    features: Sequence[str],
    bins: int = DEFAULT_BINS,
    epsilon: float = EPSILON,
) -> pl.DataFrame:
    """Drift of each feature from the training window to the latest partitions.

    One row per feature (:data:`DRIFT_SCHEMA`): ``psi`` and its ``status``; row counts; mean,
    standard deviation and null share in each window (mean and std are null for categorical
    features); ``relative_mean_shift`` = (latest - train) / |train| (null when the training
    mean is 0) and ``mean_shift_in_std``, the same shift in training standard deviations.
    """
    missing = [f for f in features if f not in train.columns or f not in latest.columns]
    if missing:
        raise DriftError(
            f"feature(s) {missing} missing from the training or the latest frame; "
            "pass the model's input columns"
        )
    if not features:
        raise DriftError("no features given; pass the model's input column names")
    rows = []
    for feature in features:
        e, a = train[feature], latest[feature]
        numeric = not (_is_categorical(e) or _is_categorical(a))
        value = psi(e, a, bins=bins, epsilon=epsilon)
        e_mean, e_std, e_null = _summary(e, numeric)
        a_mean, a_std, a_null = _summary(a, numeric)
        shift = (
            (a_mean - e_mean) / abs(e_mean)
            if e_mean is not None and a_mean is not None and e_mean != 0
            else None
        )
        in_std = (
            (a_mean - e_mean) / e_std
            if e_mean is not None and a_mean is not None and e_std
            else None
        )
        rows.append(
            {
                "feature": feature,
                "kind": "numeric" if numeric else "categorical",
                "psi": value,
                "status": status(value),
                "train_rows": train.height,
                "latest_rows": latest.height,
                "train_mean": e_mean,
                "latest_mean": a_mean,
                "train_std": e_std,
                "latest_std": a_std,
                "train_null_share": e_null,
                "latest_null_share": a_null,
                "relative_mean_shift": shift,
                "mean_shift_in_std": in_std,
            }
        )
    return pl.DataFrame(rows, schema=DRIFT_SCHEMA)


def drift_figure(drift: pl.DataFrame, title: str = "Feature drift (PSI)") -> Figure:
    """Horizontal bars of PSI by feature, coloured by status, with the 0.1 and 0.25 lines.

    A plain matplotlib ``Figure`` (no pyplot state): pass it to ``plots.png_markdown``.
    """
    if not {"feature", "psi"} <= set(drift.columns):
        raise DriftError("pass the frame feature_drift returns (it needs feature and psi)")
    ordered = drift.sort("psi", nulls_last=True)
    values = ordered["psi"].fill_null(0.0).to_list()
    colours = [STATUS_COLOURS.get(status(v), "tab:gray") for v in values]
    fig = Figure(figsize=(6.5, 0.8 + 0.32 * max(ordered.height, 1)))
    ax = fig.subplots()
    ax.barh(ordered["feature"].to_list(), values, color=colours)
    ax.axvline(PSI_MODERATE, color="tab:orange", ls="--", lw=1, label=f"moderate ({PSI_MODERATE})")
    ax.axvline(PSI_MAJOR, color="tab:red", ls="--", lw=1, label=f"major ({PSI_MAJOR})")
    ax.set_xlabel("population stability index")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig
