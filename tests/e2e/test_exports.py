"""Every declared export layout through the real pipeline: `python -m pipelines backfill` over a raw
folder whose ad_spend/ holds every platform fixture (tests/fixtures/exports, headers copied from each
platform's documentation), then the published warehouse is read back.

Expected figures are summed by hand from the fixture files, to the kopeck.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import FULL_RANGE, PYTHON, ROOT, assert_ok, make_site
from rawdata import write_raw

pytestmark = pytest.mark.slow

EXPORTS = ROOT / "tests" / "fixtures" / "exports"
# fixture -> (layout, language, rows loaded, spend, clicks, impressions) in the file's own currency
EXPECTED = {
    "google_ads_ui/campaign_report.csv": ("google_ads_ui", "en", 3, 12465.77, 1679, 13344),
    "google_ads_ui/campaign_report_utf8.csv": ("google_ads_ui", "en", 2, 1017.30, 41, 1204),
    "google_ads_ui/campaign_report_ru.csv": ("google_ads_ui", "ru", 2, 5700.49, 350, 13000),
    "google_ads_ui/campaign_report.xlsx": ("google_ads_ui", "en", 2, 1017.35, 42, 1214),
    "meta_ads_manager/campaigns_en.csv": ("meta_ads_manager", "en", 2, 150.75, 25, 3000),
    "meta_ads_manager/campaigns_ru.csv": ("meta_ads_manager", "ru", 1, 1234.56, 12, 1500),
    # the same two campaign-days as with_ids_en.csv, which is newer: its copies win
    "meta_ads_manager/default_columns_en.csv": ("meta_ads_manager", "en", 0, None, None, None),
    "meta_ads_manager/with_ids_en.csv": ("meta_ads_manager", "en", 2, 160.35, 62, 5300),
    "meta_ads_manager/default_columns_ru.xlsx": ("meta_ads_manager", "ru", 2, 1300.26, None, 1350),
    # one-day rows without a Day column (start == end), the summary row skipped: 500.25 + 1000.25
    "meta_ads_manager/daily_scheduled_ru.csv": ("meta_ads_manager", "ru", 2, 1500.50, 30, 3000),
    "yandex_direct_api/campaign_performance.tsv": ("yandex_direct_api", "en", 3, 1235.06, 35, 1210),
    "yandex_direct_api/no_title_no_summary.tsv": ("yandex_direct_api", "en", 2, 1502.01, 7, None),
    "yandex_direct_api/units_no_campaign_id.tsv": ("yandex_direct_api", "en", 2, 465.60, 21, 1700),
    "yandex_direct_api/with_currency.tsv": ("yandex_direct_api", "en", 1, 1234.56, 5, 100),
    "yandex_direct_web/report_cp1251.csv": ("yandex_direct_web", "ru", 2, 2345.67, 45, 1230),
    "yandex_direct_web/report.xlsx": ("yandex_direct_web", "ru", 1, 800.80, 20, 5000),
    "yandex_direct_web/statistics_new_ui.csv": ("yandex_direct_web", "ru", 2, 3040.45, 101, 4380),
    "vk_ads/campaigns_by_day.csv": ("vk_ads", "ru", 2, 2166.60, 180, 24000),
    "vk_ads/campaigns_by_day.xlsx": ("vk_ads", "ru", 1, 2999.99, 90, 30000),
    "vk_ads/campaigns_new_cabinet.csv": ("vk_ads", "ru", 2, 2221.10, 75, 14500),
    "vk_ads_stats/stats_cp1251.csv": ("vk_ads_stats", "ru", 2, 1234.50, 67, 12345),
    "vk_ads_stats/stats_rub_sign.csv": ("vk_ads_stats", "ru", 1, 99.90, 10, 1000),
    "vk_ads_stats/stats_en.csv": ("vk_ads_stats", "en", 1, 0.50, 1, 5),
    "tiktok_ads_manager/custom_report.csv": ("tiktok_ads_manager", "en", 2, 450.00, 900, 71124),
    "tiktok_ads_manager/custom_report.xlsx": ("tiktok_ads_manager", "en", 1, 75.25, 150, 12000),
    "microsoft_ads/campaign_report.csv": ("microsoft_ads", "en", 2, 166.35, 137, 3510),
    "microsoft_ads/campaign_report.xlsx": ("microsoft_ads", "en", 1, 40.40, 31, 990),
    "microsoft_ads/api_report.csv": ("microsoft_ads", "en", 2, 46.90, 40, 2550),
}
RATES = {"EUR": 98.5, "KZT": 0.2}  # rawdata has daily USD rates; these two only for the fixtures


def _name(fixture: str) -> str:
    return fixture.replace("/", "__")


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    site = make_site(tmp_path_factory.mktemp("exports"))
    write_raw(site.raw)
    folder = site.raw / "ad_spend"
    for i, fixture in enumerate(EXPECTED):
        target = folder / _name(fixture)
        shutil.copyfile(EXPORTS / fixture, target)
        os.utime(target, (1_700_000_000 + i, 1_700_000_000 + i))  # declaration order = age order
    days = [f"2024-03-{d:02d}" for d in range(1, 32)]
    (site.raw / "fx_rates" / "other_rates.csv").write_text(
        "date,currency,rate\n" + "".join(f"{d},{c},{r}\n" for d in days for c, r in RATES.items()), encoding="utf-8"
    )
    config = site.root / "settings.toml"
    config.write_text(
        (ROOT / "acquisition.toml").read_text(encoding="utf-8") + '\n[sources.ad_spend]\ncurrency = "USD"\n',
        encoding="utf-8",
    )
    assert_ok(site.cli("backfill", "--from", FULL_RANGE[0], "--to", FULL_RANGE[1], "--config", str(config)))
    return site


def query(path: Path, sql: str) -> list[tuple]:
    code = "import duckdb, json, sys; print(json.dumps(duckdb.connect(sys.argv[1], read_only=True).sql(sys.argv[2]).fetchall(), default=str))"
    out = subprocess.run([PYTHON, "-c", code, str(path), sql], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    import json

    return [tuple(row) for row in json.loads(out.stdout)]


def test_every_layout_loads_exact_to_the_kopeck(published):
    loads = {
        row[0]: row[1:]
        for row in query(
            published.warehouse,
            """
            select f.source_file, f.layout, f.language, f.rows_loaded,
                   round(sum(r.spend), 2), sum(r.clicks), sum(r.impressions)
            from quality.file_loads f left join raw.ad_spend r using (source_file)
            where f.source = 'ad_spend' and f.source_file like 'ad_spend/%\\_\\_%' escape '\\'
            group by all""",
        )
    }
    for fixture, expected in EXPECTED.items():
        assert loads[f"ad_spend/{_name(fixture)}"] == expected, fixture
    rejected = query(published.warehouse, "select count(*) from quality.rejected_rows where source = 'ad_spend'")
    assert rejected == [(0,)]


def test_how_each_file_was_read_is_recorded(published):
    notes = dict(
        query(published.warehouse, "select source_file, notes from quality.file_loads where source = 'ad_spend'")
    )
    assert "campaign key: campaign_name" in notes["ad_spend/meta_ads_manager__default_columns_en.csv"]
    assert "money in micros" in notes["ad_spend/yandex_direct_api__campaign_performance.tsv"]
    assert "money in currency units" in notes["ad_spend/yandex_direct_api__units_no_campaign_id.tsv"]
    assert "encoding guessed" in notes["ad_spend/yandex_direct_web__report_cp1251.csv"]


def test_the_same_meta_campaign_with_and_without_ids_counts_once(published):
    rows = query(
        published.warehouse,
        """
        select date, campaign_id, count(*), round(sum(spend), 2) from raw.ad_spend
        where platform = 'meta_ads' and campaign_name = 'Spring sale' group by all order by date""",
    )
    assert rows == [("2024-03-01", "23851", 1, 105.35), ("2024-03-02", "23851", 1, 55.0)]
    dropped = query(
        published.warehouse,
        """select duplicates_dropped from quality.file_loads
        where source_file = 'ad_spend/meta_ads_manager__default_columns_en.csv'""",
    )
    assert dropped == [(2,)]


def test_platform_spend_reaches_the_cac_mart_in_the_reporting_currency(published):
    # every fixture row is dated March 2024; the mart converts each day's spend at that day's rate
    expected = dict(
        query(
            published.warehouse,
            """
        select case platform when 'microsoft_ads' then 'microsoft_ads' else platform end, round(sum(r.spend * coalesce(x.rate, 1)), 2)
        from raw.ad_spend r left join raw.fx_rates x on x.date = r.date and x.currency = r.currency and r.currency <> 'RUB'
        where r.date between '2024-03-01' and '2024-03-31' and r.platform in ('tiktok_ads', 'microsoft_ads')
        group by all""",
        )
    )
    mart = dict(
        query(
            published.warehouse,
            """
        select channel, round(sum(ad_spend), 2) from marts.channel_period_cac
        where period_grain = 'month' and period_start = '2024-03-01' and attribution_model = 'last_non_direct'
          and channel in ('tiktok_ads', 'microsoft_ads') group by all""",
        )
    )
    assert mart == expected
    assert set(mart) == {"tiktok_ads", "microsoft_ads"}
