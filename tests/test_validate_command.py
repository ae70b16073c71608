"""`python -m pipelines validate`: a per-file report without touching any warehouse, exit 1 on rejects."""

from __future__ import annotations

import json
import subprocess
import sys

from pipelines.core.paths import PROJECT_ROOT
from pipelines.ingest.validate_files import validate_paths

SAMPLE = PROJECT_ROOT / "data" / "sample"


def test_the_sample_folder_reports_every_planted_bad_row():
    lines: list[str] = []
    assert validate_paths([SAMPLE], out=lines.append) == 1
    planted = json.loads((SAMPLE / "MANIFEST.json").read_text(encoding="utf-8"))["bad_rows"]
    for bad in planted:
        file_line = next(line for line in lines if line.startswith(str(SAMPLE / bad["path"]) + ":"))
        assert " rejected" in file_line
        assert any(line.startswith(f"  line {bad['line']}: {bad['column']} = ") for line in lines), bad
    layouts = {line.split("layout ")[1].split(" ")[0].rstrip(",") for line in lines if "layout " in line}
    assert layouts == {
        "canonical",
        "google_ads_ui",
        "meta_ads_manager",
        "yandex_direct_api",
        "vk_ads_stats",
        "ga4_bigquery",
        "shopify_orders",
    }


def test_a_clean_file_passes_and_an_unreadable_one_fails(tmp_path):
    good = tmp_path / "fx_rates" / "rates.csv"
    good.parent.mkdir()
    good.write_text("date;currency;rate\n01.03.2024;USD;90,5\n", encoding="cp1251")
    command = [sys.executable, "-m", "pipelines", "validate", str(good)]
    result = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "fx_rates, layout canonical" in result.stdout and "1 valid, 0 rejected" in result.stdout
    bad = tmp_path / "fx_rates" / "broken.csv"
    bad.write_text("when,what\n2024-03-01,90\n", encoding="utf-8")
    result = subprocess.run([*command[:-1], str(bad)], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert result.returncode == 1 and "ERROR" in result.stdout


def test_the_cli_runs_from_any_folder(tmp_path):
    """issue 26: `python -m pipelines` outside the project failed with `No module named pipelines`; the
    set-up installs the project (editable) with its `acquisition` command."""
    from pathlib import Path

    fx = PROJECT_ROOT / "data" / "sample" / "fx_rates"
    for command in ([sys.executable, "-m", "pipelines"], [str(Path(sys.executable).parent / "acquisition")]):
        assert Path(command[0]).exists(), "the `acquisition` command is not installed: run scripts/bootstrap.sh"
        done = subprocess.run(
            [*command, "validate", str(fx)], cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
        assert "No module named" not in done.stderr, done.stderr
        assert "cbr_rates.csv: fx_rates, layout canonical" in done.stdout, done.stdout + done.stderr


def test_shop_and_crm_exports_are_named_by_layout_with_how_they_were_read(tmp_path):
    exports = PROJECT_ROOT / "tests" / "fixtures" / "exports"
    folder = tmp_path / "orders"
    folder.mkdir()
    for fixture in ("shopify_orders/orders_export.csv", "amocrm_leads/leads.csv", "bitrix24_deals/deals.csv"):
        (folder / fixture.replace("/", "__")).write_bytes((exports / fixture).read_bytes())
    lines: list[str] = []
    assert validate_paths([folder], out=lines.append) == 0
    heads = {line.split(": ")[0].rsplit("/", 1)[-1]: line for line in lines if not line.startswith(" ")}
    assert "layout shopify_orders, en" in heads["shopify_orders__orders_export.csv"]
    assert "9 rows read, 6 valid, 0 rejected, 3 structural lines skipped" in heads["shopify_orders__orders_export.csv"]
    assert "layout amocrm_leads, ru" in heads["amocrm_leads__leads.csv"]
    assert "layout bitrix24_deals, en" in heads["bitrix24_deals__deals.csv"]
    assert "  3 line-item row(s) folded into their orders (6 orders)" in lines
