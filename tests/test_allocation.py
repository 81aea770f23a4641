"""The water-filling allocator, its guardrails, baselines, micros and the plan."""

from __future__ import annotations

import datetime as dt
import math
import pickle

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize_scalar

from retail_assets.lib.activation.allocation.guardrails import (
    ChannelGuardrail,
    Guardrails,
    InfeasibleGuardrails,
    bounds,
)
from retail_assets.lib.activation.allocation.money import (
    billable_unit_micros,
    to_micros,
    total_micros,
)
from retail_assets.lib.activation.allocation.plan import METHODS, expected_outcomes, plan_allocation
from retail_assets.lib.activation.allocation.solver import (
    historical,
    inverse_cpa,
    kkt_residuals,
    solve,
)
from retail_assets.lib.activation.media import ChannelSimulation, TrueCurve, simulate_media_history
from retail_assets.lib.activation.response_curves import FittedCurve, fit_curves

# ------------------------------------------------------------------ problems

FLOATS = {"allow_nan": False, "allow_infinity": False}


@st.composite
def problems(draw, min_channels=1, max_channels=6):
    """Curves, guardrail bounds around a previous split, and a feasible budget."""
    n = draw(st.integers(min_channels, max_channels))
    vmax = np.array(draw(st.lists(st.floats(0.5, 2000, **FLOATS), min_size=n, max_size=n)))
    k = np.array(draw(st.lists(st.floats(1, 1e5, **FLOATS), min_size=n, max_size=n)))
    prev = np.array(draw(st.lists(st.floats(10, 1e5, **FLOATS), min_size=n, max_size=n)))
    delta = draw(st.sampled_from([0.1, 0.3, 0.5, 1.0]))
    lower = (1 - delta) * prev
    upper = (1 + delta) * prev
    if draw(st.booleans()):
        upper[draw(st.integers(0, n - 1))] = math.inf
    frac = draw(st.floats(0, 1, **FLOATS))
    finite_top = upper[np.isfinite(upper)].sum() + 3 * prev[~np.isfinite(upper)].sum()
    budget = float(lower.sum() + frac * (finite_top - lower.sum()))
    return vmax, k, lower, upper, budget


def objective(vmax, k, s, value=None):
    value = np.ones_like(vmax) if value is None else value
    return float(np.sum(value * vmax * s / (k + s)))


# ------------------------------------------------------------------ properties


@settings(max_examples=150, deadline=None)
@given(problems(), st.sampled_from(["USD", "JPY", "KWD"]))
def test_budget_conserved_to_the_micro_within_bounds(problem, currency):
    vmax, k, lower, upper, budget = problem
    sol = solve(vmax, k, lower, upper, budget)
    assert math.fsum(sol.spend) == pytest.approx(budget, rel=1e-9, abs=1e-9)
    assert (sol.spend >= lower).all() and (sol.spend <= upper).all()
    unit = billable_unit_micros(currency)
    units = total_micros(budget, currency) // unit
    floors = sum(math.ceil(round(v * 1e6 / unit, 6)) for v in lower)
    caps = sum(math.floor(round(v * 1e6 / unit, 6)) if v < math.inf else units for v in upper)
    if not floors <= units <= caps:
        # Bounds a fraction of a unit apart around a budget off the unit grid: no whole-unit
        # split can respect them, and the error says so.
        with pytest.raises(InfeasibleGuardrails, match="rounded inward to whole units"):
            to_micros(sol.spend, currency, lower, upper, budget)
        assume(False)
    micros = to_micros(sol.spend, currency, lower, upper, budget)
    assert sum(micros) == total_micros(budget, currency) == round(budget * 1e6 / unit) * unit
    assert all(m % unit == 0 for m in micros)
    # Rounded inward to the unit grid, the micros never leave the bounds.
    for m, lo, hi in zip(micros, lower, upper, strict=True):
        assert lo * 1e6 - 1e-3 <= m <= hi * 1e6 + 1e-3
    # Each channel is within one unit (plus the leftover units) of its exact spend.
    assert max(abs(m - s * 1e6) for m, s in zip(micros, sol.spend, strict=True)) <= (
        len(micros) * unit
    )


@settings(max_examples=150, deadline=None)
@given(problems())
def test_kkt_conditions_hold(problem):
    vmax, k, lower, upper, budget = problem
    sol = solve(vmax, k, lower, upper, budget)
    assert kkt_residuals(vmax, k, sol.spend, lower, upper, sol.lam).max() <= 1e-7
    marginal = vmax * k / (k + sol.spend) ** 2
    for m, b in zip(marginal, sol.binding, strict=True):
        if b == "none":
            assert m == pytest.approx(sol.lam, rel=1e-7)
        elif b == "upper":
            assert m >= sol.lam * (1 - 1e-7)
        elif b == "lower":
            assert m <= sol.lam * (1 + 1e-7)


@settings(max_examples=100, deadline=None)
@given(problems(), st.data())
def test_no_feasible_point_does_better(problem, data):
    vmax, k, lower, upper, budget = problem
    sol = solve(vmax, k, lower, upper, budget)
    best = objective(vmax, k, sol.spend)
    # Random feasible allocations: move budget between two channels of the optimum.
    n = len(vmax)
    for _ in range(5):
        i, j = data.draw(st.integers(0, n - 1)), data.draw(st.integers(0, n - 1))
        if i == j:
            continue
        room = min(upper[i] - sol.spend[i], sol.spend[j] - lower[j])
        step = data.draw(st.floats(0, 1, **FLOATS)) * min(room, budget)
        other = sol.spend.copy()
        other[i] += step
        other[j] -= step
        assert objective(vmax, k, other) <= best * (1 + 1e-12) + 1e-9
    for baseline in (
        inverse_cpa(vmax, k, lower, upper, budget),
        historical(np.where(np.isfinite(upper), upper, lower), lower, upper, budget),
    ):
        assert math.fsum(baseline) == pytest.approx(budget, rel=1e-9, abs=1e-9)
        assert (baseline >= lower).all() and (baseline <= upper).all()
        assert objective(vmax, k, baseline) <= best * (1 + 1e-12) + 1e-9


@settings(max_examples=150, deadline=None)
@given(problems(), st.randoms(use_true_random=False))
def test_invariant_to_channel_order(problem, rnd):
    vmax, k, lower, upper, budget = problem
    order = list(range(len(vmax)))
    rnd.shuffle(order)
    p = np.array(order)
    a = solve(vmax, k, lower, upper, budget)
    b = solve(vmax[p], k[p], lower[p], upper[p], budget)
    # Sums are exact (math.fsum), so the order cannot change a single bit.
    assert b.spend.tobytes() == a.spend[p].tobytes()
    assert b.lam == a.lam and b.binding == [a.binding[i] for i in order]


@settings(max_examples=150, deadline=None)
@given(problems(), st.floats(1e-3, 1e3, **FLOATS))
def test_invariant_to_currency_scale(problem, c):
    vmax, k, lower, upper, budget = problem
    a = solve(vmax, k, lower, upper, budget)
    b = solve(vmax, k * c, lower * c, upper * c, budget * c)
    # sqrt(V K / lam) - K resolves a spend to K * 1e-16: tiny budgets split only that finely.
    resolution = (1e-9 * budget + 1e-12 * k.max()) * c
    assert b.spend == pytest.approx(a.spend * c, rel=1e-9, abs=resolution)
    assert objective(vmax, k * c, b.spend) == pytest.approx(objective(vmax, k, a.spend), rel=1e-9)
    assert b.lam == pytest.approx(a.lam / c, rel=1e-7)


@settings(max_examples=150, deadline=None)
@given(problems(), st.floats(0, 1, **FLOATS))
def test_allocation_never_falls_as_the_budget_grows(problem, more):
    vmax, k, lower, upper, budget = problem
    top = math.fsum(upper) if np.isfinite(upper).all() else 2 * budget + 1
    bigger = budget + more * (top - budget)
    a = solve(vmax, k, lower, upper, budget)
    b = solve(vmax, k, lower, upper, bigger)
    assert (b.spend >= a.spend - 1e-9 * max(bigger, 1)).all()
    assert b.lam <= a.lam * (1 + 1e-12) or math.isnan(a.lam)


# ------------------------------------------------------------------ examples


def test_two_interior_channels_match_a_one_dimensional_search():
    vmax, k = np.array([120.0, 80.0]), np.array([3000.0, 900.0])
    lower, upper, budget = np.zeros(2), np.full(2, np.inf), 5000.0
    sol = solve(vmax, k, lower, upper, budget)
    best = minimize_scalar(
        lambda s: -objective(vmax, k, np.array([s, budget - s])),
        bounds=(0, budget),
        method="bounded",
        options={"xatol": 1e-9},
    )
    assert sol.spend[0] == pytest.approx(best.x, rel=1e-6)
    assert sol.binding == ["none", "none"]
    # Closed form: equal marginals V1 K1/(K1+s1)^2 = V2 K2/(K2+s2)^2 with s1 + s2 = B.
    r = math.sqrt(vmax[0] * k[0] / (vmax[1] * k[1]))
    s1 = (r * (k[1] + budget) - k[0]) / (1 + r)
    assert sol.spend[0] == pytest.approx(s1, rel=1e-12)
    assert sol.lam == pytest.approx(vmax[0] * k[0] / (k[0] + s1) ** 2, rel=1e-12)


def test_a_capped_channel_has_the_higher_marginal():
    sol = solve([200.0, 100.0], [1000.0, 1000.0], [0.0, 0.0], [500.0, math.inf], 3000.0)
    assert sol.spend.tolist() == [500.0, 2500.0]
    assert sol.binding == ["upper", "none"]
    assert 200 * 1000 / 1500**2 > sol.lam == pytest.approx(100 * 1000 / 3500**2)


def test_zero_budget_single_channel_and_all_locked():
    zero = solve([10.0, 20.0], [5.0, 5.0], [0.0, 0.0], [10.0, 10.0], 0.0)
    assert zero.spend.tolist() == [0.0, 0.0] and zero.binding == ["lower", "lower"]
    assert zero.lam == pytest.approx(20 / 5)  # the best marginal at zero
    one = solve([10.0], [5.0], [0.0], [math.inf], 123.45)
    assert one.spend.tolist() == [123.45] and one.binding == ["none"]
    assert one.lam == pytest.approx(10 * 5 / (5 + 123.45) ** 2)
    locked = solve([10.0, 20.0], [5.0, 5.0], [3.0, 4.0], [3.0, 4.0], 7.0)
    assert locked.spend.tolist() == [3.0, 4.0] and locked.binding == ["locked", "locked"]
    assert math.isnan(locked.lam)
    assert to_micros(zero.spend, "USD", [0, 0], [10, 10]) == [0, 0]


def test_budget_at_the_sum_of_the_floors_or_caps():
    lower, upper = np.array([10.0, 20.0, 30.0]), np.array([15.0, 40.0, 30.0])
    at_floor = solve([1.0, 2.0, 3.0], [10.0, 10.0, 10.0], lower, upper, 60.0)
    assert at_floor.spend.tolist() == lower.tolist()
    assert at_floor.binding == ["lower", "lower", "locked"]
    at_cap = solve([1.0, 2.0, 3.0], [10.0, 10.0, 10.0], lower, upper, 85.0)
    assert at_cap.spend.tolist() == upper.tolist()
    assert at_cap.binding == ["upper", "upper", "locked"]


def test_channel_without_response_gets_its_floor():
    sol = solve([0.0, 50.0], [100.0, 100.0], [5.0, 0.0], [50.0, 500.0], 200.0)
    assert sol.spend.tolist() == [5.0, 195.0]
    assert sol.binding == ["lower", "none"]


def test_baselines_follow_their_weights_within_the_bounds():
    lower, upper = np.array([0.0, 0.0, 10.0]), np.array([100.0, 30.0, 100.0])
    inv = inverse_cpa([10, 40, 0], [100, 100, 50], lower, upper, 100.0)
    # PPC-like channel 1 is four times as efficient but capped at 30; channel 3 has no
    # conversions and keeps its floor.
    assert inv == pytest.approx([60.0, 30.0, 10.0])
    hist = historical([20.0, 20.0, 60.0], lower, upper, 200.0)
    # Proportional to (20, 20, 60) until the caps of the last two bind.
    assert hist == pytest.approx([70.0, 30.0, 100.0])


def test_cases_hypothesis_found():
    # A shortfall only an uncapped channel without weight can take.
    upper = np.array([math.inf, 20.0, 20.0])
    hist = historical([0.0, 20.0, 20.0], np.zeros(3), upper, 70.0)
    assert hist.tolist() == [30.0, 20.0, 20.0]
    # An uncapped channel whose floor is the whole budget.
    assert to_micros([9.225], "USD", [9.225], [math.inf], 9.23) == [9_230_000]
    # A budget far below k * ulp: the subtraction's residue must not break the bracket.
    tiny = solve([1.0, 295.0], [1.0, 1.9], [0.0, 0.0], [20.0, 20.0], 1e-190)
    assert math.fsum(tiny.spend) == pytest.approx(1e-190, rel=1e-9)


# ------------------------------------------------------------------ guardrails

NAMES = ["CTV", "Display", "Email", "PPC"]


def rails(**channels) -> Guardrails:
    return Guardrails(channels={n: ChannelGuardrail(**kw) for n, kw in channels.items()})


def test_bounds_follow_the_rules_and_name_them():
    g = Guardrails(
        channels={
            "CTV": ChannelGuardrail(previous=1000.0, max_observed=600.0),
            "Display": ChannelGuardrail(min_spend=900.0, previous=1000.0),
            "Email": ChannelGuardrail(previous=200.0, max_spend=220.0, locked=True),
            "PPC": ChannelGuardrail(previous=3000.0, max_spend=3500.0),
        },
        max_change=0.3,
        max_multiple_of_observed=1.5,
    )
    b = bounds(NAMES, g, 5000.0)
    assert b.lower.tolist() == pytest.approx([700.0, 900.0, 200.0, 2100.0])
    assert b.upper.tolist() == pytest.approx([900.0, 1300.0, 200.0, 3500.0])
    assert b.reasons_lower == ["max_change", "min_spend", "locked", "max_change"]
    assert b.reasons_upper == ["max_multiple_of_observed", "max_change", "locked", "max_spend"]


def test_infeasible_when_the_floors_exceed_the_budget():
    g = rails(Display={"min_spend": 5000.0}, CTV={"previous": 4000.0})
    with pytest.raises(InfeasibleGuardrails) as err:
        bounds(NAMES, g, 7000.0)
    message = str(err.value)
    assert "lower bounds sum to 7,800.00 > budget 7,000.00" in message
    assert "Display 5,000.00 (min_spend 5,000.00)" in message
    assert "CTV 2,800.00 (max_change -30 % of previous 4,000.00)" in message


def test_infeasible_when_the_caps_fall_short_of_the_budget():
    g = Guardrails(
        channels={n: ChannelGuardrail(max_spend=1000.0) for n in NAMES[:3]}
        | {"PPC": ChannelGuardrail(previous=2000.0, max_observed=1000.0)},
        max_multiple_of_observed=1.5,
    )
    with pytest.raises(InfeasibleGuardrails) as err:
        bounds(NAMES, g, 10_000.0)
    message = str(err.value)
    assert "upper bounds sum to 4,500.00 < budget 10,000.00" in message
    assert "Email 1,000.00 (max_spend 1,000.00)" in message
    assert "PPC 1,500.00 (max_multiple_of_observed 1.5 x observed 1,000.00)" in message


def test_infeasible_when_a_channel_floor_is_above_its_cap():
    g = rails(CTV={"previous": 10_000.0, "max_spend": 5000.0})
    with pytest.raises(InfeasibleGuardrails) as err:
        bounds(NAMES, g, 20_000.0)
    message = str(err.value)
    assert "CTV lower 7,000.00 (max_change -30 % of previous 10,000.00)" in message
    assert "> upper 5,000.00 (max_spend 5,000.00)" in message
    assert "Display" not in message


def test_locked_and_incremental_need_a_previous_spend():
    with pytest.raises(InfeasibleGuardrails, match="Email is locked but has no previous"):
        bounds(NAMES, rails(Email={"locked": True}), 100.0)
    g = Guardrails(channels={"PPC": ChannelGuardrail(previous=10.0)}, incremental=True)
    with pytest.raises(InfeasibleGuardrails, match="CTV is in incremental mode but has no"):
        bounds(NAMES, g, 100.0)


# ------------------------------------------------------------------ the plan on known curves


def known_curve(name, vmax, k, boot=40, spread=0.05, **kw):
    """A FittedCurve with set parameters and a bootstrap spread of ``spread`` around them."""
    rng = np.random.default_rng(len(name))
    fields = {
        "adstock": 0.0,
        "regime": "saturating",
        "n_obs": 365,
        "max_spend": 3 * kw.get("mean_spend_recent", k),
        "mean_spend_recent": k,
        "r2": 0.8,
        "rmse": 1.0,
        "total_spend": 365 * k,
        "total_conversions": 365 * vmax / 2,
        "value_per_conversion": 50.0,
    } | kw
    return FittedCurve(
        channel=name,
        vmax=vmax,
        k=k,
        bootstrap_vmax=vmax * np.exp(rng.normal(0, spread, boot)),
        bootstrap_k=k * np.exp(rng.normal(0, spread, boot)),
        **fields,
    )


CURVES = {
    "CTV": known_curve("CTV", 500, 18000, mean_spend_recent=2800, total_spend=365 * 2800,
                       total_conversions=365 * 67),
    "Display": known_curve("Display", 350, 11000, mean_spend_recent=2200,
                           total_spend=365 * 2200, total_conversions=365 * 58),
    "Email": known_curve("Email", 70, 60, mean_spend_recent=500, total_spend=365 * 500,
                         total_conversions=365 * 62.5, value_per_conversion=48.0),
    "PPC": known_curve("PPC", 230, 2000, mean_spend_recent=3000, total_spend=365 * 3000,
                       total_conversions=365 * 138, value_per_conversion=55.0),
}  # fmt: skip


def test_plan_rows_conserve_the_budget_for_every_method():
    plan = plan_allocation(CURVES, Guardrails(), 70_000.0, 7, "USD")
    rows = plan.rows()
    assert len(rows) == 3 * 4
    assert [r["method"] for r in rows[::4]] == list(METHODS)
    assert set(rows[0]) == {
        "method", "channel", "spend", "budget_micros", "share", "lower_bound", "upper_bound",
        "binding", "bound_by", "conversions", "conversions_p05", "conversions_p50",
        "conversions_p95", "revenue_p50", "marginal_cpa", "marginal_cpa_p05", "marginal_cpa_p95",
    }  # fmt: skip
    for method in METHODS:
        mine = [r for r in rows if r["method"] == method]
        assert sum(r["budget_micros"] for r in mine) == 70_000_000_000
        assert sum(r["share"] for r in mine) == pytest.approx(1.0)
        for r in mine:
            assert r["lower_bound"] <= r["spend"] <= r["upper_bound"]
            assert r["conversions_p05"] <= r["conversions_p50"] <= r["conversions_p95"]
            assert r["marginal_cpa_p05"] <= r["marginal_cpa"] * 1.001
            assert r["marginal_cpa"] <= r["marginal_cpa_p95"] * 1.001
            assert (r["binding"] == "none") == (r["bound_by"] == "")
    totals = {t["method"]: t for t in plan.total_rows()}
    assert totals["optimized"]["conversions"] >= totals["inverse_cpa"]["conversions"]
    assert totals["optimized"]["conversions"] >= totals["historical"]["conversions"]
    # Previous spend defaults to the recent mean daily spend times the flight's days.
    email = plan.line("optimized", "Email")
    assert email.lower_bound == pytest.approx(0.7 * 500 * 7)
    # Email is efficient on average but saturated: the optimum cuts it, inverse CPA feeds it.
    assert email.spend < 0.9 * 500 * 7
    assert plan.line("inverse_cpa", "Email").binding == "upper"
    assert plan.line("inverse_cpa", "Email").bound_by == "max_change"
    # Interior channels share the shadow price: their marginal CPA is 1 / lam.
    for r in rows[:4]:
        if r["binding"] == "none":
            assert r["marginal_cpa"] == pytest.approx(1 / plan.shadow_price, rel=1e-6)


def test_plan_for_revenue_weighs_channels_by_value():
    values = {"CTV": 85.0, "Display": 62.0, "Email": 48.0, "PPC": 55.0}
    conv = plan_allocation(CURVES, Guardrails(), 70_000.0, 7, "USD", values=values)
    rev = plan_allocation(CURVES, Guardrails(), 70_000.0, 7, "USD", "revenue", values=values)
    names = sorted(CURVES)

    def value_of(plan, weights):
        spend = np.array([plan.line("optimized", n).spend for n in names])
        return sum(weights[i] * 7 * CURVES[n].response(spend[i] / 7) for i, n in enumerate(names))

    ones = [1.0] * 4
    dollars = [values[n] for n in names]
    assert value_of(rev, dollars) > value_of(conv, dollars)
    assert value_of(conv, ones) > value_of(rev, ones)
    line = rev.line("optimized", "PPC")
    assert line.revenue_p50 == pytest.approx(line.conversions_p50 * 55.0)
    assert rev.totals[0].revenue_p50 >= rev.totals[1].revenue_p50 * 0.999
    no_value = dict(CURVES) | {"PPC": known_curve("PPC", 230, 2000, value_per_conversion=None)}
    with pytest.raises(ValueError, match=r"needs a value per conversion for \['PPC'\]"):
        plan_allocation(no_value, Guardrails(), 70_000.0, 7, "USD", "revenue")


def test_plan_locked_and_incremental():
    g = Guardrails(
        channels={
            "CTV": ChannelGuardrail(previous=19_600.0),
            "Display": ChannelGuardrail(previous=15_400.0),
            "Email": ChannelGuardrail(previous=3_500.0, locked=True),
            "PPC": ChannelGuardrail(previous=21_000.0),
        },
        incremental=True,
    )
    plan = plan_allocation(CURVES, g, 59_500.0 + 7_000.0, 7, "USD")
    for method in METHODS:
        email = plan.line(method, "Email")
        assert email.spend == 3_500.0 and email.budget_micros == 3_500_000_000
        assert email.binding == "locked" and email.bound_by == "locked"
        for name, prev in [("CTV", 19_600.0), ("Display", 15_400.0), ("PPC", 21_000.0)]:
            assert plan.line(method, name).spend >= prev
            assert plan.line(method, name).budget_micros >= prev * 1e6


def test_plan_is_identical_bytes_and_independent_of_dict_order():
    a = plan_allocation(CURVES, Guardrails(), 70_000.0, 7, "JPY")
    b = plan_allocation(dict(reversed(CURVES.items())), Guardrails(), 70_000.0, 7, "JPY")
    assert pickle.dumps(a.rows()) == pickle.dumps(b.rows())
    assert pickle.dumps(a.total_rows()) == pickle.dumps(b.total_rows())
    assert all(r["budget_micros"] % 1_000_000 == 0 for r in a.rows())


def test_expected_outcomes_scale_with_the_flight():
    curves = [CURVES["PPC"], CURVES["Email"]]
    day = expected_outcomes(curves, [3000.0, 500.0], 1)
    week = expected_outcomes(curves, [21_000.0, 3500.0], 7)
    assert week["total"]["conversions"] == pytest.approx(7 * day["total"]["conversions"])
    assert week["channels"][0]["marginal_cpa"] == pytest.approx(day["channels"][0]["marginal_cpa"])
    assert day["channels"][0]["conversions"] == pytest.approx(230 * 3000 / 5000)
    assert day["total"]["revenue_p50"] is None  # no values given
    valued = expected_outcomes(curves, [3000.0, 500.0], 1, values=[55.0, 48.0])
    assert valued["channels"][1]["revenue_p50"] == pytest.approx(
        48.0 * valued["channels"][1]["conversions_p50"]
    )
    assert valued["total"]["revenue_p50"] == pytest.approx(
        55 * day["channels"][0]["conversions_p50"] + 48 * day["channels"][1]["conversions_p50"],
        rel=0.02,
    )


# ------------------------------------------------------------------ fit, then allocate

GROUND_TRUTH = [
    ChannelSimulation("CTV", 2800, TrueCurve(500, 18000, 0.4), value_per_conversion=85),
    ChannelSimulation("Display", 2200, TrueCurve(350, 11000, 0.2), value_per_conversion=62),
    ChannelSimulation("Email", 500, TrueCurve(70, 60, 0.2), value_per_conversion=48),
    ChannelSimulation("PPC", 3000, TrueCurve(230, 2000, 0.0), value_per_conversion=55),
]


@pytest.mark.parametrize("seed", [0, 1])
def test_fit_then_allocate_beats_inverse_cpa_and_nears_the_oracle(seed):
    days = 7
    history = simulate_media_history(GROUND_TRUTH, dt.date(2025, 6, 30), 365, seed)
    curves = fit_curves(history, n_boot=30)
    g = Guardrails(
        channels={c.name: ChannelGuardrail(previous=c.daily_spend * days) for c in GROUND_TRUTH}
    )
    plan = plan_allocation(curves, g, 10_000.0 * days, days, "USD")
    vmax = np.array([days * c.true_curve.vmax for c in GROUND_TRUTH])
    k = np.array([days * c.true_curve.k for c in GROUND_TRUTH])

    def truth(method):
        return objective(vmax, k, np.array([plan.line(method, c.name).spend for c in GROUND_TRUTH]))

    lines = [plan.line("optimized", c.name) for c in GROUND_TRUTH]
    oracle = solve(
        vmax, k, [x.lower_bound for x in lines], [x.upper_bound for x in lines], 70_000.0
    )
    best = objective(vmax, k, oracle.spend)
    assert truth("optimized") >= 0.98 * best
    assert truth("optimized") > truth("inverse_cpa")
    assert truth("optimized") > truth("historical")
