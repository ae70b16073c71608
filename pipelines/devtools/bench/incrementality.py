"""The marketing-mix model's cost in the bench (issue 30): its step in the full build from scratch, which
fits it (a refit day), and in the nightly backfill on top, which keeps the stored fit (any other night);
and, when PyMC-Marketing is installed (`pip install --require-hashes -r requirements-mmm.lock`), its NUTS
sampler on the same weekly data beside our MAP + bootstrap fit.

Targets (reported, never asserted): a refit within 10 minutes; on other nights the model adds at most
2 % of the nightly run. The model is exempt from the per-stage +10 % budget of the other new stages.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from pipelines.devtools.bench.stages import run_seconds

STEP = "marts__channel_incrementality"
REFIT_SECONDS = 600
OTHER_NIGHT_SHARE = 0.02


def _median(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _step_seconds(run: dict) -> float | None:
    return next((s["seconds"] for s in run.get("per_step", []) if s["step"] == STEP), None)


def summarise(rounds: list[dict]) -> dict:
    """Medians over the rounds: the model's step on a refit day and on another night, and their shares."""
    full = [r["full"] for r in rounds if r["full"].get("exit_code") == 0]
    nights = [r["backfill"] for r in rounds if r.get("backfill") and r["backfill"].get("exit_code") == 0]
    refit = _median([_step_seconds(f) for f in full])
    stored = _median([_step_seconds(b) for b in nights])
    full_wall = _median([run_seconds(f) for f in full])
    night_wall = _median([run_seconds(b) for b in nights])
    return {
        "refit_seconds": refit,
        "refit_share_of_full": refit / full_wall if refit is not None and full_wall else None,
        "other_night_seconds": stored,
        "other_night_share_of_nightly": stored / night_wall if stored is not None and night_wall else None,
    }


def targets(summary: dict, check) -> dict:
    return {
        "mmm_refit_within_10_minutes": check(summary.get("refit_seconds"), "<=", REFIT_SECONDS),
        "mmm_other_nights_within_2pct_of_nightly": check(
            summary.get("other_night_share_of_nightly"), "<=", OTHER_NIGHT_SHARE
        ),
    }


def report_lines(summary: dict | None) -> list[str]:
    if not summary:
        return []

    def fmt(value, scale=1.0, digits=2):
        return "-" if value is None else f"{value * scale:.{digits}f}"

    lines = [
        f"marketing-mix model: refit day (full build) {fmt(summary.get('refit_seconds'))}s = "
        f"{fmt(summary.get('refit_share_of_full'), 100, 1)}% of it; other nights (stored fit) "
        f"{fmt(summary.get('other_night_seconds'))}s = {fmt(summary.get('other_night_share_of_nightly'), 100, 1)}% "
        "of the nightly"
    ]
    sampler = summary.get("sampler")
    if sampler:
        if sampler.get("skipped"):
            lines.append(f"  PyMC-Marketing sampler: skipped ({sampler['skipped']})")
        else:
            lines.append(
                f"  MAP + bootstrap {sampler['map_seconds']:.1f}s vs PyMC-Marketing NUTS {sampler['nuts_seconds']:.1f}s "
                f"(2 chains x 1000 + 1000 tune, compile included; {sampler['divergences']} divergences, "
                f"max r_hat {sampler['max_r_hat']:.3f})"
            )
            for c in sampler["channels"]:
                lines.append(
                    f"    {c['channel']:<16} contribution MAP {c['map']:8.0f} [{c['map_low']:.0f}, {c['map_high']:.0f}]"
                    f"   NUTS median {c['nuts']:8.0f} [{c['nuts_low']:.0f}, {c['nuts_high']:.0f}]"
                )
    return lines


def compare_sampler(warehouse: Path, config_path: Path | None = None) -> dict:
    """Our fit and PyMC-Marketing's NUTS on the published warehouse's weekly inputs (the model's own SQL).
    Skipped, saying why, without PyMC-Marketing (an optional install: requirements-mmm.lock)."""
    try:
        from pymc_marketing.mmm import MMM, GeometricAdstock, LogisticSaturation
    except ImportError:
        return {"skipped": "pymc-marketing is not installed: pip install --require-hashes -r requirements-mmm.lock"}
    import duckdb
    import numpy as np
    import pandas as pd
    import polars as pl

    from pipelines.core.config import load_config
    from pipelines.transform.models import incrementality, mmm
    from pipelines.transform.runner import MACROS, discover_models

    config = load_config(config_path)
    model_sql = next(m for m in discover_models() if m.table == incrementality.TABLES[0]).sql
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        con.execute(MACROS.split("create schema")[0])  # the temp macros only: the file is read-only
        as_of = con.sql("select max(as_of_date) from meta.build_info").fetchall()[0][0]
        _, start, end = incrementality.fit_window(as_of, config.incrementality_cadence, config.incrementality_weeks)
        frame = con.sql(
            model_sql, params={"fit_start": start, "fit_end": end, "default_model": config.default_model}
        ).pl()
    finally:
        con.close()
    names = sorted(frame["channel"].unique().to_list())
    spend = np.array([frame.filter(pl.col("channel") == c).sort("week_start")["spend"].to_numpy() for c in names])
    first = frame.filter(pl.col("channel") == names[0]).sort("week_start")
    y, weeks = first["new_customers"].to_numpy(), first["week_start"].to_list()
    series = mmm.Series(y, spend, np.array([w.timetuple().tm_yday for w in weeks], float))
    started = time.perf_counter()
    result = mmm.fit_with_intervals(series)
    map_seconds = time.perf_counter() - started
    ours = mmm.contributions(result.model, result.fit.params)
    low, high = mmm.interval(np.array([mmm.contributions(result.model, p) for p in result.replicates]))

    x = pd.DataFrame({"date": pd.to_datetime(weeks), **dict(zip(names, spend, strict=True)), "t": np.arange(len(y))})
    sampler = MMM(
        date_column="date",
        channel_columns=names,
        control_columns=["t"],
        adstock=GeometricAdstock(l_max=mmm.L_MAX),
        saturation=LogisticSaturation(),
        yearly_seasonality=mmm.SEASON_ORDER,
    )
    started = time.perf_counter()
    sampler.fit(x, pd.Series(y.astype(float)), chains=2, cores=2, draws=1000, tune=1000, random_seed=mmm.SEED)
    nuts_seconds = time.perf_counter() - started
    totals = sampler.compute_channel_contribution_original_scale().sum("date")
    totals = totals.stack(sample=("chain", "draw")).transpose("sample", ...).values
    import arviz

    return {
        "map_seconds": map_seconds,
        "nuts_seconds": nuts_seconds,
        "divergences": int(sampler.idata.sample_stats.diverging.sum()),
        "max_r_hat": float(arviz.rhat(sampler.idata).to_array().max()),
        "channels": [
            {
                "channel": name,
                "map": float(ours[i]),
                "map_low": float(low[i]),
                "map_high": float(high[i]),
                "nuts": float(np.median(totals[:, i])),
                "nuts_low": float(np.quantile(totals[:, i], 0.05)),
                "nuts_high": float(np.quantile(totals[:, i], 0.95)),
            }
            for i, name in enumerate(names)
        ],
    }
