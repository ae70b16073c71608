"""The bench's lines for the marketing-mix model (pipelines/devtools/bench/incrementality.py): its step on a
refit day (the full build) and on other nights (the backfill on top, which keeps the stored fit)."""

from pipelines.devtools.bench import incrementality
from pipelines.devtools.bench.main import _check


def _run(wall: float, model_seconds: float) -> dict:
    steps = [{"step": "marts__orders", "seconds": 1.0}, {"step": incrementality.STEP, "seconds": model_seconds}]
    return {"exit_code": 0, "wall_seconds": wall, "per_step": steps}


def test_refit_day_and_other_nights_are_measured_against_their_targets():
    rounds = [{"full": _run(100.0, 12.0), "backfill": _run(20.0, 0.5)}, {"full": _run(120.0, 14.0)}]
    summary = incrementality.summarise(rounds)
    assert summary["refit_seconds"] == 13.0 and summary["other_night_seconds"] == 0.5
    assert summary["other_night_share_of_nightly"] == 0.025
    met = incrementality.targets(summary, _check)
    assert met["mmm_refit_within_10_minutes"]["met"] is True
    assert met["mmm_other_nights_within_2pct_of_nightly"]["met"] is False  # 2.5 % of the nightly
    [line] = incrementality.report_lines(summary)
    assert "refit day (full build) 13.00s" in line and "other nights (stored fit) 0.50s = 2.5% of the nightly" in line


def test_the_sampler_comparison_says_why_it_is_skipped():
    summary = {"refit_seconds": None, "sampler": {"skipped": "pymc-marketing is not installed"}}
    lines = incrementality.report_lines(summary)
    assert lines[1] == "  PyMC-Marketing sampler: skipped (pymc-marketing is not installed)"
    assert incrementality.targets({}, _check)["mmm_refit_within_10_minutes"]["met"] is None
