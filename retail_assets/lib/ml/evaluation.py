"""How binary classifiers are judged: metrics, cumulative gains and the figures behind them.

Every model of the platform that answers a yes/no question (will sales go up next week, will
this customer buy tomorrow) is judged the same way, next to the baselines it has to beat:

- **Ranking**: ROC-AUC and PR-AUC (average precision, read against the base rate, which is
  what a scorer without skill gets), from :mod:`sklearn.metrics`.
- **Targeting**: lift and capture in the top decile, and the cumulative gains by decile
  (:func:`lift_table`). Scores that tie (a yes/no baseline such as "added to cart yesterday")
  are not broken by row order: a cut through a group of equal scores takes the group's
  positives in proportion, the expected value under a random tie-break. So a constant score
  has lift 1 whatever the order of its rows, and the numbers never depend on sorting.
- **Decisions**: precision, recall and accuracy at a threshold (``score >= threshold``).
- **Calibration**: the Brier score for scores that are probabilities, and a reliability plot
  (:func:`sklearn.calibration.calibration_curve`). Scores that are not probabilities (an RFM
  sum) get no Brier score.

Inputs are numpy arrays (or anything :func:`numpy.asarray` takes, polars series included);
tables come back as polars frames and figures as matplotlib figures for
:func:`retail_assets.lib.plots.png_markdown`. Bad input raises :class:`EvaluationError`, whose
message names the scorer and says what is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
from sklearn.calibration import calibration_curve  # noqa: E402
from sklearn.metrics import (  # noqa: E402
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)

#: Share of rows in the "top decile" of lift and capture.
TOP_SHARE = 0.1


class EvaluationError(ValueError):
    """Labels or scores that cannot be evaluated; the message says which and why."""


@dataclass(frozen=True)
class BinaryMetrics:
    """How well one scorer separates positives from negatives on one set of rows.

    ``brier`` is ``None`` for scores that are not probabilities. ``top_decile_lift`` is the
    precision among the top 10 % of scores over the base rate; ``top_decile_capture`` the share
    of all positives found there. The ``*_at_threshold`` figures flag ``score >= threshold``.
    """

    n: int
    positives: int
    base_rate: float
    roc_auc: float
    pr_auc: float
    brier: float | None
    top_decile_precision: float
    top_decile_lift: float
    top_decile_capture: float
    threshold: float
    flagged: int
    precision_at_threshold: float
    recall_at_threshold: float
    accuracy_at_threshold: float

    def as_dict(self) -> dict[str, Any]:
        """The metrics as plain Python values (for metadata and JSON)."""
        return asdict(self)


def _check(y_true: Any, score: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Labels as 0/1 integers and scores as floats, or an error that says what is wrong."""
    y = np.asarray(y_true)
    s = np.asarray(score, dtype=float)
    if y.ndim != 1 or s.ndim != 1 or y.shape != s.shape:
        raise EvaluationError(
            f"{name}: labels and scores must be 1-d and the same length, got {y.shape} and "
            f"{s.shape}"
        )
    if y.size == 0:
        raise EvaluationError(f"{name}: no rows to evaluate")
    bad = ~np.isin(y, (0, 1))
    if bad.any():
        raise EvaluationError(
            f"{name}: labels must be 0 or 1; {int(bad.sum())} of {y.size} rows are not "
            f"(e.g. {y[bad][:3].tolist()})"
        )
    missing = ~np.isfinite(s)
    if missing.any():
        raise EvaluationError(
            f"{name}: {int(missing.sum())} of {s.size} scores are missing or infinite; fill "
            "them (e.g. with the training base rate) before evaluating"
        )
    y = y.astype(np.int64)
    if y.min() == y.max():
        raise EvaluationError(
            f"{name}: all {y.size} labels are {int(y[0])}; ROC-AUC and PR-AUC need positives "
            "and negatives (evaluate on a longer period)"
        )
    return y, s


def cumulative_gains(y_true: Any, score: Any) -> tuple[np.ndarray, np.ndarray]:
    """Rows and positives taken, highest scores first, at the end of each group of equal scores.

    Both arrays start at 0. Between two points the curve is a straight line (a cut inside a
    tie takes its positives in proportion), so ``np.interp(k, rows, positives)`` is the
    expected number of positives among the top ``k`` rows, ``k`` fractional or not.
    """
    y = np.asarray(y_true, dtype=float)
    s = np.asarray(score, dtype=float)
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    ends = np.flatnonzero(np.append(s[1:] != s[:-1], True))
    rows = np.concatenate([[0.0], ends + 1.0])
    positives = np.concatenate([[0.0], np.cumsum(y)[ends]])
    return rows, positives


def binary_metrics(
    y_true: Any,
    score: Any,
    *,
    threshold: float = 0.5,
    probability: bool = True,
    name: str = "scores",
) -> BinaryMetrics:
    """ROC-AUC, PR-AUC, Brier, top-decile lift and capture, and the figures at ``threshold``.

    ``probability`` says whether the scores are probabilities: then they must lie in [0, 1]
    and the Brier score is computed; otherwise ``brier`` is ``None``. ``name`` goes into error
    messages.
    """
    y, s = _check(y_true, score, name)
    if probability and (s.min() < 0 or s.max() > 1):
        raise EvaluationError(
            f"{name}: probabilities must lie in [0, 1]; got {s.min():.4g} to {s.max():.4g} "
            "(pass probability=False for scores that are not probabilities)"
        )
    n, positives = y.size, int(y.sum())
    base_rate = positives / n
    rows, gained = cumulative_gains(y, s)
    top_rows = n * TOP_SHARE
    top_positives = float(np.interp(top_rows, rows, gained))
    top_precision = top_positives / top_rows
    flags = (s >= threshold).astype(np.int64)
    return BinaryMetrics(
        n=n,
        positives=positives,
        base_rate=base_rate,
        roc_auc=float(roc_auc_score(y, s)),
        pr_auc=float(average_precision_score(y, s)),
        brier=float(brier_score_loss(y, s)) if probability else None,
        top_decile_precision=top_precision,
        top_decile_lift=top_precision / base_rate,
        top_decile_capture=top_positives / positives,
        threshold=float(threshold),
        flagged=int(flags.sum()),
        precision_at_threshold=float(precision_score(y, flags, zero_division=0.0)),
        recall_at_threshold=float(recall_score(y, flags, zero_division=0.0)),
        accuracy_at_threshold=float(accuracy_score(y, flags)),
    )


def metrics_frame(metrics: Mapping[str, BinaryMetrics], *, key: str = "model") -> pl.DataFrame:
    """One row per scorer (``key`` column first), one column per metric."""
    if not metrics:
        raise EvaluationError("metrics_frame: no scorers given")
    rows = [{key: name, **m.as_dict()} for name, m in metrics.items()]
    return pl.DataFrame(rows, schema_overrides={"brier": pl.Float64}, infer_schema_length=None)


def best_f1_threshold(y_true: Any, score: Any, *, name: str = "scores") -> float:
    """The score cut that maximizes F1 (``score >= cut`` is flagged), from the PR curve."""
    y, s = _check(y_true, score, name)
    precision, recall, thresholds = precision_recall_curve(y, s)
    # The last PR point (recall 0, precision 1) has no threshold.
    p, r = precision[:-1], recall[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(p + r > 0, 2 * p * r / (p + r), 0.0)
    return float(thresholds[int(np.argmax(f1))])


def lift_table(y_true: Any, score: Any, *, bins: int = 10, name: str = "scores") -> pl.DataFrame:
    """Cumulative gains by decile (``bins`` groups), highest scores first.

    Columns: ``decile`` (1 = highest scores), ``rows`` and ``positives`` in the decile,
    ``precision`` in it, ``decile_lift`` (its precision over the base rate),
    ``cumulative_share`` of rows, ``cumulative_positives``, ``capture`` (share of all
    positives in deciles 1 to this one) and ``cumulative_lift``. Deciles hold ``n / bins``
    rows each, fractional when ``n`` is not a multiple of ``bins``; ties are shared as the
    module docstring says, so ``positives`` can be fractional too.
    """
    if bins < 1:
        raise EvaluationError(f"{name}: bins must be at least 1, got {bins}")
    y, s = _check(y_true, score, name)
    n, total = y.size, float(y.sum())
    rows, gained = cumulative_gains(y, s)
    share = np.arange(1, bins + 1) / bins
    cum_rows = n * share
    cum_pos = np.interp(cum_rows, rows, gained)
    dec_rows = np.diff(cum_rows, prepend=0.0)
    dec_pos = np.diff(cum_pos, prepend=0.0)
    base_rate = total / n
    return pl.DataFrame(
        {
            "decile": np.arange(1, bins + 1),
            "rows": dec_rows,
            "positives": dec_pos,
            "precision": dec_pos / dec_rows,
            "decile_lift": dec_pos / dec_rows / base_rate,
            "cumulative_share": share,
            "cumulative_positives": cum_pos,
            "capture": cum_pos / total,
            "cumulative_lift": cum_pos / cum_rows / base_rate,
        }
    )


# ---------------------------------------------------------------------------- figures


def roc_pr_figure(y_true: Any, scores: Mapping[str, Any], title: str = ""):
    """ROC and precision-recall curves of several scorers (model and baselines) side by side.

    The legend gives each scorer's ROC-AUC and PR-AUC; the PR panel marks the base rate.
    """
    fig, (ax_roc, ax_pr) = plt.subplots(1, 2, figsize=(9, 3.8))
    base_rate = None
    for name, score in scores.items():
        y, s = _check(y_true, score, name)
        base_rate = y.mean()
        fpr, tpr, _ = roc_curve(y, s)
        precision, recall, _ = precision_recall_curve(y, s)
        ax_roc.plot(fpr, tpr, lw=1.4, label=f"{name} (AUC {roc_auc_score(y, s):.3f})")
        ap = average_precision_score(y, s)
        ax_pr.step(recall, precision, where="post", lw=1.4, label=f"{name} (AP {ap:.3f})")
    ax_roc.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    ax_roc.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    if base_rate is not None:
        ax_pr.axhline(base_rate, color="grey", lw=0.8, ls="--", label=f"base rate {base_rate:.3f}")
    ax_pr.set(xlabel="recall", ylabel="precision", title="Precision-recall", ylim=(0, 1.02))
    for ax in (ax_roc, ax_pr):
        ax.legend(loc="best", fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def reliability_figure(
    y_true: Any,
    probabilities: Mapping[str, Any],
    *,
    n_bins: int = 10,
    strategy: str = "quantile",
    title: str = "",
):
    """Reliability plot: observed rate against mean predicted probability per bin.

    ``strategy="quantile"`` gives bins of equal size, the readable choice when most
    probabilities are small; the lower panel shows how the probabilities are spread.
    """
    fig, (ax, ax_hist) = plt.subplots(2, 1, figsize=(5.5, 5.5), height_ratios=(3, 1), sharex=True)
    top = 0.0
    for name, prob in probabilities.items():
        y, p = _check(y_true, prob, name)
        observed, predicted = calibration_curve(y, p, n_bins=n_bins, strategy=strategy)
        brier = brier_score_loss(y, p)
        ax.plot(predicted, observed, marker="o", ms=3, lw=1.2, label=f"{name} (Brier {brier:.4f})")
        ax_hist.hist(p, bins=40, histtype="step", lw=1.2, label=name)
        top = max(top, float(predicted.max()), float(observed.max()))
    top = min(1.0, top * 1.1) if top > 0 else 1.0
    ax.plot([0, top], [0, top], color="grey", lw=0.8, ls="--", label="perfectly calibrated")
    ax.set(ylabel="observed rate", title=title or "Reliability", xlim=(0, top), ylim=(0, top))
    ax.legend(loc="upper left", fontsize=7)
    ax_hist.set(xlabel="predicted probability", ylabel="rows")
    ax_hist.set_yscale("log")
    fig.tight_layout()
    return fig


def gains_figure(y_true: Any, scores: Mapping[str, Any], title: str = ""):
    """Cumulative gains: share of positives captured against share of rows targeted."""
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name, score in scores.items():
        y, s = _check(y_true, score, name)
        rows, gained = cumulative_gains(y, s)
        capture = float(np.interp(y.size * TOP_SHARE, rows, gained)) / y.sum()
        ax.plot(
            rows / y.size,
            gained / y.sum(),
            lw=1.4,
            label=f"{name} (top decile {capture:.0%})",
        )
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--", label="random")
    ax.axvline(TOP_SHARE, color="grey", lw=0.6, ls=":")
    ax.set(
        xlabel="share of rows targeted (highest scores first)",
        ylabel="share of positives captured",
        title=title or "Cumulative gains",
        xlim=(0, 1),
        ylim=(0, 1.02),
    )
    ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    return fig
