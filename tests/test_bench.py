"""Smoke test of the benchmark harness (pipelines/devtools/bench) at toy scale: no timing is asserted, only that
each part runs and that the pandas peer agrees with the pipeline's SQL on the committed sample."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import pytest

from pipelines.cli import build_parser
from pipelines.devtools.bench.data import data_files
from pipelines.devtools.bench.limit import run_limit, run_store_floor
from pipelines.devtools.bench.main import _months_of_data, format_report, summarise, targets
from pipelines.devtools.bench.runner import run_sampled
from pipelines.devtools.bench.scales import SCALES, generator_version
from pipelines.devtools.bench.stages import analyse, stage_of
from pipelines.devtools.generate.sample import generate

_SOURCES = ("ad_spend", "costs", "fx_rates", "customers", "orders", "touchpoints")


def test_cli_has_bench_and_scales_are_ordered():
    args = build_parser().parse_args(["bench", "--scale", "toy", "--repeat", "2", "--no-peer"])
    assert (args.scale, args.repeat, args.no_peer) == ("toy", 2, True)
    sizes = [SCALES[s].customers for s in ("toy", "small", "medium", "large")]
    assert sizes == sorted(sizes)
    assert generator_version() == generator_version() and len(generator_version()) == 12
    assert _months_of_data(SCALES["small"]) == ("2026-09", "2026-10")


def test_analyse_groups_steps_into_stages_with_peaks():
    report = {
        "steps": [
            {"step": "raw__orders", "start": 10.0, "end": 12.0, "status": "success"},
            {"step": "staging__orders", "start": 12.0, "end": 13.0, "status": "success"},
            {"step": "marts__orders", "start": 13.0, "end": 14.0, "status": "success"},
            {"step": "warehouse", "start": 14.0, "end": 14.5, "status": "failure"},
        ],
        "probes": [("ingest.pandera_validate", 10.5, 11.0)],
        "rss_samples": [(10.1, 1000 * 1024), (12.5, 3000 * 1024), (13.5, 2000 * 1024)],
        "wall_seconds": 6.0,
        "wall_start": 9.0,
        "imported": 9.5,
        "materialize_start": 9.8,
        "materialize_end": 14.6,
        "end": 14.75,  # the CLI returned; the child then read the run's events until 15.0
        "wall_end": 15.0,
        "exit_code": 0,
        "vm_hwm_kb": 3100 * 1024,
        "checks": [],
    }
    result = analyse(report, {"orders": 1000, "touchpoints": 3000})
    assert result["stages"]["ingest:orders"]["seconds"] == 2.0
    assert result["stages"]["ingest:orders"]["rows_per_second"] == 500
    assert result["stages"]["staging"]["peak_rss_mib"] == 3000
    assert result["stages"]["publish"]["failed"] == ["warehouse"]
    assert result["probes"]["ingest.pandera_validate"]["seconds"] == 0.5
    assert result["process_seconds"] == 5.75 and result["wall_seconds"] == 6.0
    assert stage_of("raw__touchpoints") == "ingest:touchpoints"
    floor = {"seconds": 2.0, "seconds_per_source": {"orders": 0.5, "touchpoints": 1.5}}
    summary = summarise(
        SCALES["toy"],
        [{"full": result, "limit": {"seconds": 1.0, "read_seconds": 0.9, "query_seconds": 0.1}, "store_floor": floor}],
        {"rows": {"orders": 1000, "touchpoints": 3000}, "bytes": 1},
    )
    # the run's time is the child's until the CLI returned (5.75 s), as for the nightlies: the bench's own
    # read of the event log afterwards is kept apart
    assert summary["full_wall_seconds"] == 5.75 and summary["full_wall_seconds_with_bench_read"] == 6.0
    assert summary["ratio_pipeline_over_limit"] == 5.75
    assert summary["ratio_full_over_store_floor"] == 2.875
    assert summary["ratio_ingest_over_store_floor"]["orders"] == 4.0  # 2 s of ingest against a 0.5 s floor
    summary["targets"] = targets(summary, Path("."))
    assert summary["targets"]["full_within_3_5x_store_floor"]["met"] is True  # 2.875 against 3.5
    assert summary["targets"]["one_new_day_within_10pct_of_full"]["met"] is None  # not measured: no nightly
    text = format_report({"scale": "toy", "repeat": 1, "summary": summary, "backfill_months": ("2026-09", "2026-10")})
    assert "pipeline / limit = 5.8x" in text and "full / floor = 2.88x" in text


def test_rss_sampler_sees_a_child_process_memory(tmp_path):
    code = "import time; x = bytearray(200 * 2**20); x[::4096] = b'1' * len(x[::4096]); time.sleep(0.5)"
    rc, t0, t1, samples = run_sampled([sys.executable, "-c", code], tmp_path / "log.txt")
    assert rc == 0 and t1 > t0
    assert max(kb for _, kb in samples) > 150 * 1024


@pytest.fixture(scope="module")
def bench_sample(tmp_path_factory) -> Path:
    """The committed sample as the bench generates its data: every platform layout, but the first
    quarter's orders as a canonical file instead of Shopify's export (the pandas peer and the storage
    floor read canonical order files; a shop's own export is ingest's job, tested in e2e/test_shop_exports)."""
    folder = tmp_path_factory.mktemp("bench-sample")
    generate(folder, 4000, 7, date(2024, 11, 1), 24, "native", 0.5, shop_export=False)  # data/sample/MANIFEST.md
    return folder


def test_limit_reads_every_sample_file(bench_sample):
    result = run_limit(bench_sample, data_files(bench_sample))
    assert result["rows"]["touchpoints"] == 19350
    assert result["rows"]["orders"] == 7630
    assert result["cac_rows"] > 0 and result["seconds"] > 0


def test_pandas_peer_matches_the_pipeline_sql_on_the_sample(monkeypatch, bench_sample):
    pytest.importorskip("pandas")
    import duckdb

    from pipelines.core.config import load_config
    from pipelines.devtools.bench.compare import compare
    from pipelines.devtools.bench.peer import run_peer
    from pipelines.ingest.load import ingest_source
    from pipelines.ingest.raw_tables import SOURCES
    from pipelines.transform.params import EARLIEST, LATEST, run_transforms

    config = load_config()
    con = duckdb.connect(":memory:")
    for source in SOURCES:
        ingest_source(con, source, bench_sample, "bench-test", "bench-secret", max_reject_share=1.0)
    run_transforms(con, config, (EARLIEST, LATEST))
    result = compare(con, run_peer(bench_sample))
    con.close()
    assert result["cac_rows_compared"] > 100 and result["ltv_rows_compared"] > 100
    assert result["cac_mismatches"] == [] and result["ltv_mismatches"] == []


def test_store_floor_copies_every_sample_row_into_a_database_file_and_removes_it(tmp_path, bench_sample):
    files = data_files(bench_sample)
    floor = run_store_floor(files, tmp_path / "floor.duckdb")
    assert floor["rows"] == run_limit(bench_sample, files)["rows"]
    assert floor["seconds"] > 0 and floor["file_bytes"] > 0
    assert (
        set(floor["seconds_per_source"]) == set(files) and sum(floor["seconds_per_source"].values()) <= floor["seconds"]
    )
    assert list(tmp_path.iterdir()) == []


def test_xlsx_twin_measurement_reads_the_same_rows_from_both(tmp_path):
    from pipelines.devtools.bench.xlsx import measure

    result = measure(tmp_path, rows=1500, repeat=1)
    assert result["rows"] == result["csv_rows"] == 1500
    assert result["xlsx_seconds"] > 0 and result["ratio"] > 0


def _raw_warehouse(path: Path) -> Path:
    """A warehouse file holding raw.* with each source's last day (and an older one), as a build leaves it."""
    import duckdb

    from pipelines.ingest.raw_tables import LINEAGE, RAW_COLUMNS

    con = duckdb.connect(str(path))
    con.execute("create schema raw; create schema meta")
    for source, columns in RAW_COLUMNS.items():
        con.execute(f"create table raw.{source} ({', '.join(f'{c} {t}' for c, t in (columns | LINEAGE).items())})")
    con.execute("""
        insert into raw.ad_spend (date, platform, account_id, campaign_id, campaign_name, utm_source, utm_medium,
            utm_campaign, impressions, clicks, spend, currency) values
            ('2026-10-30', 'google_ads', 'a1', 'c1', 'Brand', 'google', 'cpc', 'brand', 1000, 50, 120.5, 'RUB'),
            ('2026-10-31', 'google_ads', 'a1', 'c1', 'Brand', 'google', 'cpc', 'brand', 900, 40, 99.0, 'RUB');
        insert into raw.costs (period_start, period_end, category, channel, amount, currency, allocation) values
            ('2026-10-01', '2026-10-31', 'salary', null, 3100, 'RUB', null);
        insert into raw.fx_rates (date, currency, rate) values ('2026-10-31', 'USD', 95.5);
        insert into raw.customers (customer_id, email_key, created_at) values ('crm-1', 'k1', '2026-10-31 09:00:00');
        insert into raw.orders (order_id, customer_id, email_key, visitor_id, created_at, status, revenue,
            currency, utm_source) values
            ('o1', 'crm-1', 'k1', null, '2026-10-31 10:00:00', 'completed', 500, 'RUB', 'google'),
            ('o2', null, 'k2', null, '2026-10-31 11:00:00', 'completed', 700, 'RUB', null),
            ('o0', null, null, 'v0', '2026-10-20 11:00:00', 'completed', 100, 'RUB', null);
        insert into raw.touchpoints (visitor_id, customer_id, ts, utm_source, utm_medium, click_id) values
            ('v1', null, '2026-10-31 09:30:00', 'google', 'cpc', 'g1');
        create table meta.model_writes (model varchar);
        create table meta.build_info (run_id varchar);
    """)
    con.close()
    return path


def test_one_new_day_is_the_last_day_again_with_fresh_keys_and_ingest_takes_every_row(tmp_path):
    import duckdb

    from pipelines.devtools.bench.nightly import remove_new_day, write_new_day
    from pipelines.ingest.load import ingest_source

    warehouse = _raw_warehouse(tmp_path / "warehouse.duckdb")
    raw = tmp_path / "exports"
    written, day = write_new_day(warehouse, raw)
    assert day.isoformat() == "2026-11-01" and len(written) == 6
    con = duckdb.connect(":memory:")
    loaded = {source: ingest_source(con, source, raw, "bench-test", "bench-secret") for source in _SOURCES}
    assert {s: (x.rows_loaded, x.rows_rejected) for s, x in loaded.items()} == {
        "ad_spend": (1, 0),
        "costs": (1, 0),
        "fx_rates": (1, 0),
        "customers": (1, 0),
        "orders": (2, 0),
        "touchpoints": (1, 0),
    }
    assert con.execute("select order_id, customer_id, visitor_id from raw.orders order by 1").fetchall() == [
        ("o1-n1", "crm-1-n1", None),
        ("o2-n1", None, "bench-o2-n1"),  # known by e-mail only: the hash is not an e-mail, a visitor stands in
    ]
    assert con.execute("select min(created_at)::date, max(created_at)::date from raw.orders").fetchone() == (day, day)
    assert con.execute("select period_start, period_end, amount from raw.costs").fetchone() == (day, day, 100.0)
    assert con.execute("select date, spend from raw.ad_spend").fetchone() == (day, 99.0)
    remove_new_day(raw)
    assert [p for p in raw.rglob("*") if p.is_file()] == []


def test_no_new_data_check_sees_a_rewritten_row_but_not_the_build_info(tmp_path):
    import duckdb

    from pipelines.devtools.bench.nightly import rows_rewritten, warehouse_state

    warehouse = _raw_warehouse(tmp_path / "warehouse.duckdb")
    before = warehouse_state(warehouse)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("insert into meta.build_info values ('run-2')")  # every build adds its row
    assert rows_rewritten(before, warehouse_state(warehouse)) == {
        "model_writes_added": 0,
        "tables_changed": {},
        "none": True,
    }
    with duckdb.connect(str(warehouse)) as con:
        con.execute("insert into meta.model_writes values ('marts.orders'); delete from raw.touchpoints")
    changed = rows_rewritten(before, warehouse_state(warehouse))
    assert changed["none"] is False and changed["model_writes_added"] == 1
    assert changed["tables_changed"] == {"meta.model_writes": [0, 1], "raw.touchpoints": [1, 0]}


def test_a_run_splits_into_stages_file_copy_and_start_up():
    from pipelines.devtools.bench.nightly import breakdown

    run = {
        "wall_seconds": 11.5,  # 1.5 s of them the bench reading the run's events after the CLI returned
        "process_seconds": 10.0,
        "stages": {
            "ingest:orders": {"seconds": 1.0},
            "ingest:touchpoints": {"seconds": 2.0},
            "ingest (all)": {"seconds": 3.0},  # the sum above: not counted twice
            "staging": {"seconds": 1.5},
            "marts": {"seconds": 2.5},
            "publish": {"seconds": 0.5},
        },
        "probes": {"resource.start_build_copy": {"seconds": 0.5, "calls": 1}},
    }
    parts = breakdown(run)
    assert parts["seconds"] == {
        "ingest": 3.0,
        "staging": 1.5,
        "marts": 2.5,
        "publish": 0.5,
        "file copy": 0.5,
        "start-up and bookkeeping": 2.0,
    }
    assert abs(sum(parts["share"].values()) - 1) < 1e-9 and parts["share"]["start-up and bookkeeping"] == 0.2


def test_a_new_day_that_refits_a_model_on_its_cadence_is_also_reported_without_it():
    """A model refitted on a cadence is measured on its own: the bench's new day follows the data's last
    day, and when that is a cadence boundary (a Sunday for the weekly marketing-mix model, a month end for
    predicted LTV) the night is reported with and without the refitting step."""
    from datetime import date

    from pipelines.core.config import Config
    from pipelines.devtools.bench.nightly import cadence_refits

    config = Config()  # predicted LTV monthly, the marketing-mix model weekly
    assert cadence_refits(date(2026, 11, 1), config) == ["marts__channel_incrementality"]  # a Sunday
    assert cadence_refits(date(2026, 10, 31), config) == ["marts__customer_ltv_predicted"]  # a month end
    assert cadence_refits(date(2026, 11, 3), config) == []

    def run(steps: dict[str, float], process: float) -> dict:
        report = {
            "steps": [
                {"step": name, "start": 10.0 + i, "end": 10.0 + i + seconds, "status": "success"}
                for i, (name, seconds) in enumerate(steps.items())
            ],
            "probes": [],
            "rss_samples": [],
            "wall_start": 9.0,
            "end": 9.0 + process,
            "wall_end": 9.5 + process,
            "wall_seconds": 0.5 + process,
            "exit_code": 0,
            "checks": [],
        }
        return analyse(report, {"orders": 10}) | {"exit_code": 0}

    full = run({"marts__orders": 50.0}, 100.0)
    night = run({"marts__orders": 5.0, "marts__channel_incrementality": 3.0}, 12.0)
    night["refit_steps"] = ["marts__channel_incrementality"]
    summary = summarise(
        SCALES["toy"],
        [
            {
                "full": full,
                "one_new_day": night,
                "limit": {"seconds": 1.0, "read_seconds": 0.9, "query_seconds": 0.1},
                "store_floor": {"seconds": 10.0, "seconds_per_source": {"orders": 1.0}},
            }
        ],
        {"rows": {"orders": 10}, "bytes": 1},
    )
    assert summary["one_new_day_refit_steps"] == ["marts__channel_incrementality"]
    assert summary["ratio_one_new_day_over_full"] == 0.12
    assert summary["ratio_one_new_day_without_refits_over_full"] == 0.09  # (12 - 3) / 100
