"""Rendering a validated plan for one platform or all, each rendering checked before it leaves.

Every rendering is validated against its own JSON Schema
(``retail_assets/schemas/<dsp>.schema.json``) and its platform's code rules (units exact, money
conserved); a failure raises :class:`~retail_assets.lib.activation.payload.PlanValidationError`
naming the platform.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from retail_assets.lib.activation.dsp_adapters.base import _Context
from retail_assets.lib.activation.dsp_adapters.dv360 import _check_dv360, _dv360
from retail_assets.lib.activation.dsp_adapters.google_ads import _check_google_ads, _google_ads
from retail_assets.lib.activation.dsp_adapters.meta import _check_meta, _meta
from retail_assets.lib.activation.dsp_adapters.ttd import _check_ttd, _ttd
from retail_assets.lib.activation.payload import (
    PlanValidationError,
    schema_problems,
    validate_plan,
)

DSPS = ("google_ads", "dv360", "meta", "ttd")


def render(
    payload: dict[str, Any], dsp: str, *, refs: Iterable[str] | None = None
) -> dict[str, Any]:
    """Render a validated plan for one platform.

    Args:
        payload: The canonical plan envelope; it is validated first.
        dsp: One of :data:`DSPS`.
        refs: Line-item refs to render (default: every line item).

    Returns:
        The platform rendering (a JSON-ready dict; the Trade Desk's amounts are ``Decimal``,
        which :func:`retail_assets.lib.activation.payload.dumps` writes digit for digit).

    Raises:
        PlanValidationError: the plan is invalid, or the platform cannot take it (the message
            names the platform and the rule).
        ValueError: ``dsp`` is unknown or ``refs`` names no line item of the plan.

    """
    if dsp not in DSPS:
        raise ValueError(f"unknown DSP {dsp!r}; known: {list(DSPS)}")
    validate_plan(payload)
    return render_validated(payload, dsp, refs=refs)


def render_all(payload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every platform's rendering of a plan, validated once: ``{dsp: rendering}``."""
    validate_plan(payload)
    return {dsp: render_validated(payload, dsp) for dsp in DSPS}


def render_validated(
    payload: dict[str, Any], dsp: str, *, refs: Iterable[str] | None = None
) -> dict[str, Any]:
    """:func:`render` for a plan the caller has already validated with ``validate_plan``."""
    if dsp not in DSPS:
        raise ValueError(f"unknown DSP {dsp!r}; known: {list(DSPS)}")
    ctx = _Context(payload, dsp, refs)
    out = _RENDERERS[dsp](ctx)
    problems = [f"{dsp}: {p}" for p in schema_problems(out, dsp)]
    problems += [f"{dsp}: {p}" for p in _CHECKS[dsp](ctx, out)]
    if problems:
        raise PlanValidationError(problems, subject=f"{dsp} rendering")
    return out


_RENDERERS: dict[str, Callable[[_Context], dict[str, Any]]] = {
    "google_ads": _google_ads,
    "dv360": _dv360,
    "meta": _meta,
    "ttd": _ttd,
}
_CHECKS: dict[str, Callable[[_Context, dict[str, Any]], list[str]]] = {
    "google_ads": _check_google_ads,
    "dv360": _check_dv360,
    "meta": _check_meta,
    "ttd": _check_ttd,
}
