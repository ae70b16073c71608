"""The sample-data generator: deterministic, complete, messy in the promised ways, and small."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import polars as pl
import pytest

from pipelines.devtools.generate import channels as ch
from pipelines.devtools.generate.sample import SOURCES, cli_main, generate
from pipelines.ingest.readers import read_export

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
TS_FORMATS = ("%Y-%m-%d %H:%M:%S", "%d.%m.%Y %H:%M:%S")


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _read(root: Path, source: str) -> pl.DataFrame:
    frames = [read_export(p, source).frame.with_columns(file=pl.lit(p.name)) for p in sorted((root / source).iterdir())]
    return pl.concat(frames)


def _ts(col: str) -> pl.Expr:
    return pl.coalesce([pl.col(col).str.to_datetime(f, strict=False) for f in TS_FORMATS])


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gen") / "small"
    generate(out, customers=600, seed=11)
    return out


@pytest.fixture(scope="module")
def manifest(small) -> dict:
    return json.loads((small / "MANIFEST.json").read_text(encoding="utf-8"))


def test_same_seed_gives_byte_identical_files(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert generate(a, 150, 5) == generate(b, 150, 5)
    assert _hashes(a) == _hashes(b)
    generate(b, 150, 6)
    assert _hashes(a) != _hashes(b)


def test_folder_layout_and_rows_per_source(small, manifest):
    assert sorted(p.name for p in small.iterdir() if p.is_dir()) == sorted(SOURCES)
    assert (small / "MANIFEST.md").is_file()
    for source in SOURCES:
        assert any((small / source).iterdir()), source
        assert manifest["counts"][source] > 0, source


def test_every_file_reads_back_in_its_layout_with_its_row_count(small, manifest):
    layouts = set()
    for f in manifest["files"]:
        result = read_export(small / f["path"], f["source"])
        assert result.layout == f["layout"], f["path"]
        assert result.frame.height == f["rows"], f["path"]
        layouts.add(result.layout)
    assert {"canonical", "google_ads_ui", "meta_ads_manager", "yandex_direct_api", "vk_ads_stats"} <= layouts


def test_every_channel_is_represented(small):
    spend = _read(small, "ad_spend")
    assert set(spend["platform"].unique()) == set(ch.PAID)
    touches = _read(small, "touchpoints")
    for name in ch.CHANNELS:
        signatures = {(v.source, v.medium, v.referrer) for v in ch.VARIANTS if v.channel == name}
        seen = touches.filter(
            pl.struct("utm_source", "utm_medium", "referrer").is_in(
                [dict(zip(("utm_source", "utm_medium", "referrer"), s, strict=False)) for s in signatures]
            )
        )
        assert seen.height > 0, name
    clicks = touches["click_id"].drop_nulls().str.extract(r"^(\w+)=")
    assert {"gclid", "yclid", "fbclid"} <= set(clicks.unique())


def test_bad_rows_are_planted_where_the_manifest_says(small, manifest):
    bad = manifest["bad_rows"]
    assert 10 <= len(bad) <= 25
    assert len({b["path"].split("/")[0] for b in bad}) >= 5
    reasons = " ".join(b["reason"] for b in bad)
    for word in (
        "negative spend",
        "unparseable date",
        "unknown currency",
        "empty order_id",
        "revenue not a number",
        "malformed phone",
        "unparseable timestamp",
    ):
        assert word in reasons
    for b in bad:
        source = next(f["source"] for f in manifest["files"] if f["path"] == b["path"])
        frame = read_export(small / b["path"], source).frame
        row = frame.filter(pl.col("source_row") == b["line"])
        assert row.height == 1, b
        assert (row[b["column"]][0] or "") == b["value"], b


def test_re_exports_only_repeat_rows_of_other_files(small, manifest):
    assert len(manifest["duplicates"]) == 2
    for d in manifest["duplicates"]:
        source = d["file"].split("/")[0]
        frames = _read(small, source).drop("source_row")
        dup = frames.filter(pl.col("file") == Path(d["file"]).name).drop("file")
        rest = frames.filter(pl.col("file") != Path(d["file"]).name).drop("file")
        assert dup.height == d["rows"] > 0
        if source == "orders":  # other files may use other date/decimal styles: compare by id
            assert dup["order_id"].is_in(rest["order_id"].implode()).all()
        else:
            assert dup.join(rest, on=dup.columns, how="anti", nulls_equal=True).height == 0


def test_currencies(small):
    assert {"RUB", "USD"} <= set(_read(small, "orders")["currency"].unique())
    assert "USD" in set(_read(small, "ad_spend")["currency"].unique())
    assert {"USD", "EUR"} <= set(_read(small, "fx_rates")["currency"].unique())
    assert {"RUB", "USD", "EUR"} <= set(_read(small, "costs")["currency"].unique())


def test_journeys_reach_back_to_the_lookback_and_beyond(small):
    orders = _read(small, "orders").with_columns(at=_ts("created_at")).drop_nulls(["visitor_id", "at"])
    first = orders.group_by("visitor_id").agg(pl.col("at").min())
    touches = _read(small, "touchpoints").with_columns(ts=_ts("ts")).drop_nulls("ts")
    gaps = (
        touches.join(first, on="visitor_id")
        .with_columns(days=(pl.col("at") - pl.col("ts")).dt.total_seconds() / 86_400)
        .filter(pl.col("days") >= 0)
    )
    per_order = gaps.group_by("visitor_id").agg(pl.len(), pl.col("days").max())
    assert per_order["len"].max() >= 5  # multi-touch journeys
    assert gaps.filter(pl.col("days").is_between(50, 60)).height > 0
    assert gaps.filter(pl.col("days") > 60).height > 0  # a few beyond the lookback


def test_statuses_refunds_and_missing_costs(small):
    orders = _read(small, "orders")
    status = set(orders["status"].unique())
    assert {"paid", "completed", "cancelled", "refunded"} <= status
    num = orders.with_columns(pl.col("revenue", "refunded_amount", "cost_of_goods").cast(pl.Float64, strict=False))
    full = num.filter(pl.col("status") == "refunded")
    assert (full["refunded_amount"] == full["revenue"]).all()
    partial = num.filter((pl.col("status") == "completed") & pl.col("refunded_amount").is_not_null())
    assert partial.height > 0 and (partial["refunded_amount"] < partial["revenue"]).all()
    share_missing = num["cost_of_goods"].is_null().mean()
    assert 0.05 < share_missing < 0.2


def test_identities_are_mixed(small):
    orders = _read(small, "orders")
    guests = orders.filter(pl.col("customer_id").is_null())
    assert guests.filter(pl.col("email").is_not_null() & pl.col("phone").is_null()).height > 0
    assert guests.filter(pl.col("phone").is_not_null() & pl.col("email").is_null()).height > 0
    phones = orders["phone"].drop_nulls()
    assert phones.str.starts_with("+7 (").any() and phones.str.starts_with("8 ").any()
    assert phones.str.contains(r"^7\d{10}$").any()
    emails = orders["email"].drop_nulls()
    assert (emails != emails.str.to_lowercase()).any()
    raw = "".join(p.read_text(encoding="utf-8", errors="replace") for p in (small / "orders").iterdir())
    assert re.search(r"[,;] \S+@\S+ [,;]", raw), "e-mails with stray spaces"


def test_canonical_layouts_and_cli(tmp_path):
    assert (
        cli_main(
            [
                "--out",
                str(tmp_path / "c"),
                "--customers",
                "80",
                "--seed",
                "2",
                "--months",
                "3",
                "--start",
                "2025-01-01",
                "--layouts",
                "canonical",
            ]
        )
        == 0
    )
    data = json.loads((tmp_path / "c" / "MANIFEST.json").read_text(encoding="utf-8"))
    assert {f["layout"] for f in data["files"]} == {"canonical"}
    dates = _read(tmp_path / "c", "ad_spend")["date"]
    assert dates.min() == "2025-01-01" and dates.max() == "2025-03-31"


def test_committed_sample_is_small_and_current(tmp_path):
    files = [p for p in SAMPLE.rglob("*") if p.is_file()]
    assert files, "data/sample is empty: run the command in data/sample/MANIFEST.md"
    assert sum(p.stat().st_size for p in files) < 5 * 1024 * 1024
    args = json.loads((SAMPLE / "MANIFEST.json").read_text(encoding="utf-8"))["args"]
    from datetime import date

    generate(
        tmp_path,
        args["customers"],
        args["seed"],
        date.fromisoformat(args["start"]),
        args["months"],
        args["layouts"],
        args["anonymous_ratio"],
    )
    assert _hashes(tmp_path) == _hashes(SAMPLE), (
        "data/sample is stale: regenerate it with the command in its MANIFEST.md"
    )


def test_canonical_layouts_write_every_file_as_plain_canonical_csv(tmp_path):
    generate(tmp_path, 60, 1, months=2, layouts="canonical")
    data = json.loads((tmp_path / "MANIFEST.json").read_text(encoding="utf-8"))
    assert {f["layout"] for f in data["files"]} == {"canonical"}
    for f in data["files"]:
        result = read_export(tmp_path / f["path"], f["source"])
        assert (result.layout, result.frame.height) == ("canonical", f["rows"]), f["path"]
