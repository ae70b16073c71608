"""A nightly run recomputes only what new data touches: the run's months, and older months only when an
input of theirs changed (here: a touchpoint export of January delivered late). Inputs go through the
real ingest (files, quality.file_loads), and the result must equal a full rebuild from the same files."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
from conftest import make_config, new_warehouse, run, table

from pipelines.core.db import scalar
from pipelines.ingest.load import ingest_source
from pipelines.transform.params import CREDITS  # marts.attribution is its long view: the credits table logs the writes

CONFIG = make_config(grains=("month",), lookback_days=30)
MARCH = (date(2024, 3, 1), date(2024, 4, 1))
TOUCH_HEADER = "visitor_id,customer_id,ts,utm_source,utm_medium,utm_campaign,utm_content,utm_term,referrer,click_id\n"
ORDERS = (
    "order_id,customer_id,visitor_id,created_at,status,revenue,currency\n"
    "o1,c1,v1,2024-01-20 12:00,paid,100,RUB\n"
    "o2,c2,v2,2024-03-10 12:00,paid,200,RUB\n"
    "o3,c1,v1,2024-03-12 12:00,paid,50,RUB\n"
)
MARCH_TOUCHES = TOUCH_HEADER + "v2,c2,2024-03-05 09:00,google,cpc,brand,,,,\n"
# delivered late, after the first run: c1's visit from the newsletter before the January purchase
JANUARY_TOUCHES = TOUCH_HEADER + "v1,c1,2024-01-15 09:00,newsletter,email,digest,,,,\n"
TABLES = ("staging.touch_tags", "marts.attribution", "marts.cohort_members", "marts.cohort_ltv", "marts.channel_ltv")


def load(con, raw_dir: Path) -> None:
    for source in ("orders", "touchpoints"):
        ingest_source(con, source, raw_dir, "run", "secret")


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def snapshot(con) -> dict[str, pl.DataFrame]:
    out = {}
    for name in TABLES:
        frame = table(con, name).with_columns(pl.col(pl.Float64).round(9))
        frame = frame.drop("tag_key") if "tag_key" in frame.columns else frame
        out[name] = frame.sort(frame.columns, nulls_last=True)
    return out


def last_write_start(con, table_name: str) -> date:
    return scalar(
        con,
        "select window_start from meta.model_writes where table_name = ? order by written_at desc limit 1",
        [table_name],
    )


def test_a_late_export_of_an_older_month_is_recomputed_and_nothing_else(tmp_path):
    write(tmp_path / "orders" / "orders.csv", ORDERS)
    write(tmp_path / "touchpoints" / "touchpoints_2024-03.csv", MARCH_TOUCHES)
    nightly = new_warehouse(CONFIG)
    load(nightly, tmp_path)
    run(nightly, CONFIG)

    # a night with nothing new about older months: only March is recomputed
    run(nightly, CONFIG, window=MARCH)
    for name in ("staging.touch_tags", "marts.attribution", "marts.cohort_members"):
        assert last_write_start(nightly, CREDITS if name == "marts.attribution" else name) == date(2024, 3, 1), name

    # January's touchpoints arrive late: tags, credits and cohort weights of January follow
    write(tmp_path / "touchpoints" / "touchpoints_2024-01.csv", JANUARY_TOUCHES)
    load(nightly, tmp_path)
    run(nightly, CONFIG, window=MARCH)
    for name in ("staging.touch_tags", "marts.attribution", "marts.cohort_members"):
        assert last_write_start(nightly, CREDITS if name == "marts.attribution" else name) == date(2024, 1, 1), name
    january = table(
        nightly,
        "select channel from marts.cohort_members where customer_key = 'crm:c1' and attribution_model = 'last_touch'",
    )
    assert january["channel"].to_list() == ["email"]
    assert scalar(nightly, "select count(*) from staging.touch_tags where seen_month = '2024-01-01'") == 1

    full = new_warehouse(CONFIG)
    load(full, tmp_path)
    run(full, CONFIG)
    got, expected = snapshot(nightly), snapshot(full)
    for name in TABLES:
        assert got[name].equals(expected[name]), name
