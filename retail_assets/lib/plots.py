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
