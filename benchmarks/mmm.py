"""The media mix model on aggregate outcomes: ROI recovery, allocation quality, fit time.

Simulates three years of weekly revenue (``retail_assets.lib.activation.mmm.simulate_weekly``, seeds
0-2), fits the model (shapes estimated, never given), then prints:

- ``mmm_roi_error_max``: the worst channel's |fitted ROI / true ROI - 1|, where ROI is the
  channel's total contribution over the history divided by its total spend; mean over seeds
  and the worst seed;
- ``mmm_roi_error_max_true_shape``: the same with the TRUE carry-overs and half-saturations
  and no ROI pooling (plain least squares on the linear part): the noise floor of any
  unbiased estimator of this model on this data;
- ``mmm_allocation_vs_oracle``: a 7-day flight planned by ``lib.allocation.plan_allocation``
  on the fitted curves, scored on the TRUE curves, over the same flight planned on the true
  curves under the same bounds (``_guarded``: +-30 % / 1.5x observed, the platform's
  defaults; ``_free``: only 1.5x observed, a harder test of the curves);
- ``mmm_fit_seconds``: the fit (holdout fit, full fit, bootstrap).

The simulation, and what real retail media looks like (each choice):

- 156 weeks (3 years): what retailers keep and what Robyn/Meridian ask for at least.
- Five channels, spend shares about 36/22/18/13/11 % (TV, search, social, display, print),
  inside the 8-40 % a retail plan usually gives a channel; 112k a week in all.
- ROI (revenue per unit of spend, over the history) 1.5 / 2.5 / 2.0 / 1.2 / 1.0: retail
  ROAS lies in 0.5-5, search highest (it captures demand), print and display lowest. So
  the smallest channels are also the lowest-returning: print is 11 % of spend but 2.2 % of
  revenue, display 3.3 % (the hard case, kept on purpose).
- Media about 35 % of revenue (20-40 % is the usual decomposition), on a baseline with a
  trend, two yearly harmonics and a holiday (Dec 14-31) control.
- Spend correlated through a shared budget plan: a seasonal plan, a Q4 heavy-up (Nov-Dec,
  about 2x) and slow AR(1) budget revisions; mean pairwise correlation about 0.3-0.4.
- Each channel's own flighting, as its kind is bought: TV in flights of 3-8 weeks with 1-5
  dark weeks between (weekly spend CV about 1); search always on, following demand (the
  seasons) with slow bid/budget changes (CV about 0.4, and hence the most collinear with the
  seasons: 1 - R2 on the other regressors about 0.2); social and display always on with
  campaign bursts (2-4 and 1-3 weeks, at 2.5x and 2x); print in runs of circular drops
  (2-6 weeks on, 1-5 off).
- Geometric adstock (carry-over 0.6 TV, 0.1 search, 0.3 social, 0.2 display, 0.4 print) and
  Michaelis-Menten saturation with half-saturation 0.8-2x the mean spend.
- 3 % weekly multiplicative noise (``--noise``; real weekly MMM residuals are 3-8 %).

The previous design (before 2026-12) had 2 % noise, spend shares and ROIs as above, but each
channel's own variation was independent weekly log-normal jitter (sd 0.25-0.4) with 10 % of
weeks randomly dark: no flights or bursts, so after adstock little of a channel's variation
was its own (1 - R2 0.4-0.7). notes/mmm2.md (and the session report) has the per-channel
diagnosis.

Then fits Robyn's demo file (``/work/shared/data/marketing/robyn_dt_simulated_weekly.csv``)
as the platform reads it and prints its channels and holdout figures. Figures are means over
seeds where there are several; progress goes to stderr.

    python benchmarks/mmm.py            # 156 weeks, 100 resamples, 3 seeds
    python benchmarks/mmm.py --quick    # 156 weeks, 20 resamples, 1 seed
    python benchmarks/mmm.py --seeds 10 --noise 0.05
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root

from retail_assets.lib.activation.allocation.guardrails import (  # noqa: E402
    ChannelGuardrail,
    Guardrails,
)
from retail_assets.lib.activation.allocation.plan import plan_allocation  # noqa: E402
from retail_assets.lib.activation.allocation.solver import solve  # noqa: E402
from retail_assets.lib.activation.media import read_aggregate_history  # noqa: E402
from retail_assets.lib.activation.mmm.fit import fit_mmm  # noqa: E402
from retail_assets.lib.activation.mmm.simulate import simulate_weekly  # noqa: E402

FLIGHT_DAYS = 7
ROBYN = Path(os.environ.get("RETAIL_SHARED_DATA", "/work/shared/data")) / (
    "marketing/robyn_dt_simulated_weekly.csv"
)
# The declaration documented in retail_assets/defs/README.md for Robyn's file.
ROBYN_DECLARATION = {
    "date": "DATE",
    "outcome": "revenue",
    "spend": {"CTV": "tv_S", "Display": "facebook_S", "PPC": "search_S"},
    "other_spend": {"ooh": "ooh_S", "print": "print_S"},
    "controls": ["competitor_sales_B", "events", "newsletter"],
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def allocation_ratio(sim, curves, max_change: float | None) -> float:
    names = sorted(curves)
    guardrails = Guardrails(
        channels={n: ChannelGuardrail() for n in names},
        max_change=max_change,
        max_multiple_of_observed=1.5,
    )
    budget = sum(c.mean_spend_recent for c in curves.values()) * FLIGHT_DAYS
    plan = plan_allocation(curves, guardrails, budget, FLIGHT_DAYS, "USD")
    lines = [plan.line("optimized", n) for n in names]
    vmax = [FLIGHT_DAYS * sim.beta[n] / 7 for n in names]
    k = [FLIGHT_DAYS * sim.k[n] / 7 for n in names]

    def true_value(spend):
        return float(sum(v * s / (kk + s) for v, kk, s in zip(vmax, k, spend, strict=True)))

    oracle = solve(vmax, k, [x.lower_bound for x in lines], [x.upper_bound for x in lines], budget)
    return true_value([x.spend for x in lines]) / true_value(oracle.spend)


def run(seed: int, n_boot: int, noise: float) -> dict[str, float]:
    sim = simulate_weekly(weeks=156, seed=seed, noise_cv=noise)
    corr = np.corrcoef(np.column_stack(list(sim.spend.values())).T)
    res = fit_mmm(sim.dates, sim.y, sim.spend, sim.controls, n_boot=n_boot, seed=seed)
    truth = sim.true_roi()
    # The same data with the true carry-overs and half-saturations: what noise and correlated
    # spend alone cost (the floor of the ROI error for any estimator of this model).
    known = fit_mmm(
        sim.dates,
        sim.y,
        sim.spend,
        sim.controls,
        n_boot=0,
        holdout_periods=0,
        prior=0,
        pool=None,
        shape=([sim.theta[c] for c in sim.spend], [sim.k[c] for c in sim.spend]),
    )
    floor = max(abs(r / truth[c] - 1) for c, r in zip(known.channels, known.roi, strict=True))
    table = res.roi_table()
    errors = {
        r["channel"]: abs(r["roi"] / truth[r["channel"]] - 1) for r in table.iter_rows(named=True)
    }
    covered = [
        r["roi_p05"] <= truth[r["channel"]] <= r["roi_p95"] for r in table.iter_rows(named=True)
    ]
    curves = res.curves(recent_days=28)
    out = {
        "roi_error_max": max(errors.values()),
        "roi_error_max_true_shape": floor,
        "roi_error_median": float(np.median(list(errors.values()))),
        "roi_in_p05_p95_share": float(np.mean(covered)),
        "allocation_vs_oracle_guarded": allocation_ratio(sim, curves, 0.3),
        "allocation_vs_oracle_free": allocation_ratio(sim, curves, None),
        "holdout_mape": res.holdout_mape,
        "holdout_r2": res.holdout_r2,
        "fit_seconds": res.fit_seconds,
        "spend_corr_mean": float(corr[np.triu_indices(len(corr), 1)].mean()),
        "media_share": float(sum(c.sum() for c in sim.contributions.values()) / sim.y.sum()),
        "smallest_share": float(min(c.sum() for c in sim.contributions.values()) / sim.y.sum()),
    }
    log(f"seed {seed}: " + ", ".join(f"{k} {v:.3f}" for k, v in out.items()))
    log(
        "  roi fitted/true: "
        + ", ".join(
            f"{r['channel']} {r['roi']:.2f}/{truth[r['channel']]:.2f}"
            for r in table.iter_rows(named=True)
        )
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 resamples, 1 seed")
    parser.add_argument("--seeds", type=int, help="number of seeds (default 3, 1 with --quick)")
    parser.add_argument("--noise", type=float, default=0.03, help="weekly noise CV (0.03)")
    args = parser.parse_args()
    n_boot, seeds = (20, 1) if args.quick else (100, 3)
    seeds = args.seeds or seeds
    runs = [run(seed, n_boot, args.noise) for seed in range(seeds)]
    mean = {key: float(np.mean([r[key] for r in runs])) for key in runs[0]}
    print("weeks: 156")
    print(f"bootstrap_resamples: {n_boot}")
    print(f"seeds: {seeds}")
    print(f"noise_cv: {args.noise}")
    print(f"spend_correlation_mean: {mean['spend_corr_mean']:.2f}")
    print(f"media_share_of_outcome: {mean['media_share']:.3f}")
    print(f"smallest_channel_share_of_outcome: {mean['smallest_share']:.3f}")
    print(f"mmm_roi_error_max: {mean['roi_error_max']:.3f}")
    print(f"mmm_roi_error_max_worst_seed: {max(r['roi_error_max'] for r in runs):.3f}")
    print(f"mmm_roi_error_max_true_shape: {mean['roi_error_max_true_shape']:.3f}")
    print(
        "mmm_roi_error_max_true_shape_worst_seed: "
        f"{max(r['roi_error_max_true_shape'] for r in runs):.3f}"
    )
    print(f"mmm_roi_error_median: {mean['roi_error_median']:.3f}")
    print(f"mmm_roi_truth_in_p05_p95_share: {mean['roi_in_p05_p95_share']:.2f}")
    print(f"mmm_allocation_vs_oracle: {mean['allocation_vs_oracle_guarded']:.4f}")
    print(f"mmm_allocation_vs_oracle_free: {mean['allocation_vs_oracle_free']:.4f}")
    print(f"mmm_holdout_mape: {mean['holdout_mape']:.4f}")
    print(f"mmm_holdout_r2: {mean['holdout_r2']:.3f}")
    print(f"mmm_fit_seconds: {mean['fit_seconds']:.2f}")
    if not ROBYN.exists():
        log(f"{ROBYN} not found: Robyn's file skipped")
        return
    history = read_aggregate_history(ROBYN, **ROBYN_DECLARATION)
    f = history.frame
    start = time.perf_counter()
    res = fit_mmm(
        f["date"].to_list(),
        f["outcome"].to_numpy(),
        {c: f[c].to_numpy() for c in (*history.channels, *history.other_media)},
        {c: f[c].to_numpy() for c in history.controls},
        n_boot=n_boot,
    )
    seconds = time.perf_counter() - start
    for r in res.roi_table().iter_rows(named=True):
        log(f"robyn {r['channel']}: roi {r['roi']:.2f} [{r['roi_p05']:.2f}, {r['roi_p95']:.2f}]")
    print(f"robyn_channels_fitted: {len(res.channels)}")
    print(f"robyn_weeks: {len(res.y)}")
    print(f"robyn_holdout_weeks: {res.holdout_periods}")
    print(f"robyn_holdout_mape: {res.holdout_mape:.4f}")
    print(f"robyn_holdout_r2: {res.holdout_r2:.3f}")
    print(f"robyn_r2: {res.r2:.3f}")
    print(f"robyn_fit_seconds: {seconds:.2f}")


if __name__ == "__main__":
    main()
