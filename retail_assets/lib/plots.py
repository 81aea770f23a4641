"""Plots for asset metadata, rendered offline to PNG and embedded in markdown."""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import polars as pl  # noqa: E402


def png_markdown(fig) -> str:
    """Embed a matplotlib figure in markdown as a base64 PNG (the UI renders it)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return f"![plot](data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()})"


def fan_chart(history: pl.DataFrame, forecast: pl.DataFrame, title: str):
    """History (``ds, y``) and a forecast (``ds, yhat, lo_/hi_80/95``) with shaded intervals."""
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.plot(history["ds"].to_list(), history["y"].to_list(), color="black", lw=1.2, label="actual")
    ds = forecast["ds"].to_list()
    for level, alpha in ((95, 0.2), (80, 0.35)):
        ax.fill_between(
            ds,
            forecast[f"lo_{level}"].to_list(),
            forecast[f"hi_{level}"].to_list(),
            alpha=alpha,
            color="tab:blue",
            label=f"{level} %",
        )
    ax.plot(ds, forecast["yhat"].to_list(), color="tab:blue", lw=1.5, label="forecast")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8)
    fig.autofmt_xdate()
    return fig


def bar_chart(labels: list[str], values: list[float], title: str, ylabel: str):
    """A simple labelled bar chart."""
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.bar(labels, values, color="tab:green")
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    return fig


def grouped_bar_chart(groups: list[str], series: dict[str, list[float]], title: str, ylabel: str):
    """Bars per group, one colour per series (e.g. spend per channel for each method)."""
    fig, ax = plt.subplots(figsize=(7, 3))
    width = 0.8 / max(len(series), 1)
    for i, (name, values) in enumerate(series.items()):
        xs = [g + (i - (len(series) - 1) / 2) * width for g in range(len(groups))]
        ax.bar(xs, values, width=width, label=name)
    ax.set_xticks(range(len(groups)), groups)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    return fig


def response_curves(curves: list[dict], title: str):
    """Each channel's fitted curve over its observed daily points, with a bootstrap band.

    Each item holds ``channel``, ``spend`` and ``conversions`` (observed days), ``grid``,
    ``p50``, ``p05``, ``p95`` (the curve and its band over the grid) and ``planned`` (the
    optimized daily spend, or None).
    """
    fig, axes = plt.subplots(1, len(curves), figsize=(3.2 * len(curves), 2.8), squeeze=False)
    for ax, c in zip(axes[0], curves, strict=True):
        ax.scatter(c["spend"], c["conversions"], s=4, color="grey", alpha=0.5, label="days")
        ax.fill_between(c["grid"], c["p05"], c["p95"], color="tab:blue", alpha=0.25, lw=0)
        ax.plot(c["grid"], c["p50"], color="tab:blue", lw=1.5, label="fit")
        if c.get("planned") is not None:
            ax.axvline(c["planned"], color="tab:red", lw=1, ls="--", label="plan")
        ax.set_title(c["channel"], fontsize=9)
        ax.set_xlabel("daily spend", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0][0].set_ylabel("conversions / day", fontsize=8)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def mmm_fit(dates: list, actual, fitted, holdout_dates: list, holdout_fitted, title: str):
    """Actual against fitted outcome over time; the holdout shaded with its out-of-sample fit."""
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.plot(dates, actual, color="black", lw=1.1, label="actual")
    ax.plot(dates, fitted, color="tab:blue", lw=1.2, label="fitted (all periods)")
    if holdout_dates:
        ax.axvspan(holdout_dates[0], holdout_dates[-1], color="tab:orange", alpha=0.15, lw=0)
        ax.plot(holdout_dates, holdout_fitted, color="tab:orange", lw=1.5, label="holdout forecast")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8)
    fig.autofmt_xdate()
    return fig


def stacked_contributions(dates: list, baseline, contributions: dict[str, list], title: str):
    """The outcome decomposed over time: baseline, then each channel's contribution stacked."""
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.stackplot(
        dates,
        [baseline, *contributions.values()],
        labels=["baseline", *contributions],
        alpha=0.8,
    )
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=7, ncol=3)
    fig.autofmt_xdate()
    return fig
