"""Issue 26 through the real CLI: the same bytes give the same warehouse whatever their timestamps; e-mails
and phones planted in free text reach no table, event log or terminal in clear; settings that pass
validation run; a failed or interrupted run says so in a line and publishes nothing."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from conftest import FULL_RANGE, PYTHON, ROOT, assert_ok, base_env, clone_site, wait_for_file
from test_hostile_inputs import append_rows, order, query

pytestmark = pytest.mark.slow

PLANTED_EMAILS = ("leak.one@example.org", "Leak.Two@Example.org")
PLANTED_PHONES = ("+7 (916) 555-12-34", "8 916 555 12 35")


def backfill(site) -> subprocess.CompletedProcess:
    return site.cli("backfill", "--from", FULL_RANGE[0], "--to", FULL_RANGE[1])


def test_a_copy_of_the_same_files_with_other_timestamps_publishes_the_same_numbers(site, tmp_path):
    """Two exports of one order with different amounts: whichever file is newer on disk, the export whose
    rows reach later wins (before issue 26 a `cp -r` reversed the winner and changed CAC)."""
    orders = site.raw / "orders"
    append_rows(orders / "orders.csv", "orders", [order("DUP-1", "2024-02-10 10:00:00", revenue="100.00")])
    with (orders / "orders_redownload.csv").open("w", encoding="utf-8") as handle:
        handle.write(",".join(("order_id", "customer_id", "created_at", "status", "revenue", "currency")) + "\n")
        handle.write("DUP-1,C0001,2024-02-10 10:00:00,paid,999.00,RUB\n")
    for path, stamp in ((orders / "orders.csv", 1_800_000_000), (orders / "orders_redownload.csv", 1_600_000_000)):
        os.utime(path, (stamp, stamp))
    assert_ok(backfill(site))
    first = query(site.warehouse, "select revenue from raw.orders where order_id = 'DUP-1'")
    other = clone_site(site, tmp_path / "other")
    shutil.rmtree(other.raw)
    shutil.copytree(site.raw, other.raw)  # a plain copy: new timestamps, the listing order of this disk
    for path, stamp in ((other.raw / "orders" / "orders.csv", 1_600_000_000),):
        os.utime(path, (stamp, stamp))
    assert_ok(backfill(other))
    second = query(other.warehouse, "select revenue from raw.orders where order_id = 'DUP-1'")
    # orders.csv reaches the data's last month: its copy wins both times, whatever the files' times
    assert first == second == [[100.0]]
    tables = "select source, natural_key, kept_file, dropped_file, decided_by from quality.conflicts"
    assert (
        query(site.warehouse, tables)
        == query(other.warehouse, tables)
        == [["orders", "DUP-1", "orders/orders.csv", "orders/orders_redownload.csv", "latest row date"]]
    )
    headline = "select * from marts.channel_summary order by all"
    assert query(site.warehouse, headline) == query(other.warehouse, headline)


def test_personal_data_in_free_text_is_stored_as_keys_only(site):
    """An e-mail tool's address in utm_content and utm_term, a webmail referrer, a phone in a campaign
    tag, and an address in a rejected amount: no table, event log or terminal line holds them in clear."""
    append_rows(
        site.raw / "orders" / "orders.csv",
        "orders",
        [
            order("PII-1", "2024-02-11 10:00:00", utm_content=PLANTED_EMAILS[0], utm_term=f"tel:{PLANTED_PHONES[0]}"),
            order("PII-2", "2024-02-11 11:00:00", revenue=PLANTED_EMAILS[1]),  # rejected: not a number
        ],
    )
    append_rows(
        site.raw / "touchpoints" / "touchpoints.csv",
        "touchpoints",
        [
            {
                "visitor_id": "v-pii",
                "ts": "2024-02-11 09:00:00",
                "utm_source": "newsletter",
                "utm_medium": "email",
                "utm_campaign": f"call {PLANTED_PHONES[1]}",
                "utm_content": PLANTED_EMAILS[0].replace("@", "%40"),
                "referrer": f"https://mail.example.org/?to={PLANTED_EMAILS[1]}",
            }
        ],
    )
    result = backfill(site)
    assert_ok(result)
    validate = subprocess.run(
        [PYTHON, "-m", "pipelines", "validate", str(site.raw / "orders")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    printed = result.stdout + result.stderr + validate.stdout + validate.stderr
    needles = [e.lower() for e in PLANTED_EMAILS] + ["916 555", "916) 555", "9165551234", "9165551235"]
    columns = query(
        site.warehouse,
        "select schema_name, table_name, column_name from duckdb_columns() where data_type = 'VARCHAR'",
    )
    found = []
    for schema, table, column in columns:
        conditions = " or ".join(f"""lower("{column}") like '%{n}%'""" for n in needles)
        hits = query(site.warehouse, f'select count(*) from "{schema}"."{table}" where {conditions}')[0][0]
        if hits:
            found.append(f"{schema}.{table}.{column}")
    assert found == []
    stored = b"".join(p.read_bytes() for p in site.home.rglob("*") if p.is_file()).lower()
    assert [n for n in needles if n.encode() in stored] == []
    assert [n for n in needles if n in printed.lower()] == []
    # the keys are there, as the same keyed hash as the email_key column: joinable, not readable
    content = query(site.warehouse, "select utm_content from raw.orders where order_id = 'PII-1'")[0][0]
    assert content.startswith("[email:") and len(content) == len("[email:]") + 64


def test_a_look_back_of_a_year_runs_and_every_credit_counts(site, tmp_path):
    """Before issue 26, `attribution.lookback_days = 365` stopped every run at cohort_members' model check:
    time-decay credits a year away (2^-52) rounded to 0 in the exact sum. Now every model's credits sum to 1
    and no touch's credit is lost; a look-back past ten years is refused up front, naming the key."""
    config = tmp_path / "settings.toml"
    text = (ROOT / "acquisition.toml").read_text(encoding="utf-8")
    config.write_text(text.replace("lookback_days = 60", "lookback_days = 365"), encoding="utf-8")
    assert_ok(site.cli("backfill", "--from", FULL_RANGE[0], "--to", FULL_RANGE[1], "--config", str(config)))
    sums = query(
        site.warehouse,
        """select attribution_model, max(abs(total - 1)), min(smallest) from (
               select order_id, attribution_model, sum(credit) as total, min(credit) as smallest
               from marts.attribution group by all) group by 1""",
    )
    assert sums and all(error <= 1e-9 and smallest > 0 for _, error, smallest in sums)
    touches = query(site.warehouse, "select count(*) from marts.attribution where attribution_model = 'linear'")
    decayed = query(site.warehouse, "select count(*) from marts.attribution where attribution_model = 'time_decay'")
    assert decayed == touches  # every touch keeps a credit under time decay, however far back
    assert query(site.warehouse, "select min(credit) from marts.cohort_members")[0][0] > 0

    config.write_text(text.replace("lookback_days = 60", "lookback_days = 100000"), encoding="utf-8")
    refused = site.cli("backfill", "--from", FULL_RANGE[0], "--to", FULL_RANGE[0], "--config", str(config))
    assert refused.returncode != 0
    assert "attribution.lookback_days = 100000: expected a whole number of days from 0 to 3650" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_a_failed_run_says_each_failure_once_in_words(site, tmp_path):
    """A stopped run printed ~20 "Dependencies ... Not executing." lines and Dagster's wrapper class before
    the reason; the terminal now gets one line per failure (the event log keeps the rest)."""
    config = tmp_path / "strict.toml"
    text = (ROOT / "acquisition.toml").read_text(encoding="utf-8")
    config.write_text(text.replace("max_reject_share = 0.05", "max_reject_share = 0.0"), encoding="utf-8")
    append_rows(site.raw / "orders" / "orders.csv", "orders", [order("BAD-1", "2024-02-12 10:00:00", revenue="n/a")])
    result = site.cli("backfill", "--from", FULL_RANGE[0], "--to", FULL_RANGE[0], "--config", str(config))
    assert result.returncode == 1
    assert "Not executing" not in result.stderr and "dagster._core" not in result.stderr
    failed = [line for line in result.stderr.splitlines() if line.startswith("FAILED ")]
    assert failed and failed[0].startswith("FAILED raw__orders: orders: 1 of ")
    assert "over the 0% threshold" in failed[0] and "Traceback" not in result.stderr


def test_ctrl_c_stops_the_run_in_one_line_and_publishes_nothing(site):
    """Ctrl-C (SIGINT to the terminal's process group) printed tracebacks, Dagster's log-capture helpers'
    among them; now one line, exit 130, and the published file as it was."""
    import hashlib
    import signal
    import time

    before = hashlib.sha256(site.warehouse.read_bytes()).hexdigest()
    marker = site.root / "paused"
    process = site.start(
        "backfill",
        "--from",
        FULL_RANGE[0],
        "--to",
        FULL_RANGE[1],
        env=site.env(ACQ_PAUSE_AT="ingest", ACQ_PAUSE_MARKER=str(marker)),
    )
    wait_for_file(marker, process)  # inside a step (a fixed sleep raced the start-up on a loaded machine)
    time.sleep(0.5)
    os.killpg(process.pid, signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err[-3000:]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert [line for line in err.splitlines() if line.startswith("interrupted")] != []
    assert hashlib.sha256(site.warehouse.read_bytes()).hexdigest() == before


def test_two_warehouses_in_one_folder_build_side_by_side(site, tmp_path):
    """Before issue 26 every warehouse of a folder shared `.build/`: a run on another warehouse there (with
    its own Dagster home, so no shared pool) deleted the running build, which failed with "nothing to
    publish". Each warehouse file now has a build folder of its own."""
    marker = tmp_path / "paused"
    first = site.start(
        "backfill",
        "--from",
        FULL_RANGE[0],
        "--to",
        FULL_RANGE[0],
        env=site.env(ACQ_PAUSE_AT="ingest", ACQ_PAUSE_MARKER=str(marker)),
    )
    wait_for_file(marker, first)  # mid-ingest: its build file exists
    home = tmp_path / "home-b"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    other = site.warehouse.with_name("other.duckdb")
    command = [PYTHON, "-m", "pipelines", "backfill", "--from", FULL_RANGE[0], "--to", FULL_RANGE[0]]
    second = subprocess.run(
        [*command, "--raw", str(site.raw), "--warehouse", str(other)],
        cwd=ROOT,
        env=base_env(DAGSTER_HOME=str(home)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert_ok(second)
    marker.unlink()  # let the first run go on
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err[-3000:]
    assert "nothing to publish" not in err


def test_a_full_disk_during_the_build_copy_leaves_nothing_behind(site):
    """A disk that fills while the run copies the published warehouse (here: a file-size limit below the
    warehouse's size, which makes the copy fail as ENOSPC would) left a partial build behind. Now the half
    copy is removed, the run says to free space, and the published file stands."""
    import hashlib
    import resource

    before = hashlib.sha256(site.warehouse.read_bytes()).hexdigest()
    limit = site.warehouse.stat().st_size // 2

    def small_disk() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = subprocess.run(
        site.command("backfill", "--from", FULL_RANGE[0], "--to", FULL_RANGE[0]),
        cwd=ROOT,
        env=site.env(),
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=small_disk,
    )
    assert result.returncode != 0
    assert "cannot copy the published warehouse" in result.stderr and "free space" in result.stderr
    assert site.build_leftovers() == []
    assert hashlib.sha256(site.warehouse.read_bytes()).hexdigest() == before


def test_every_unreadable_file_of_a_source_is_named_by_the_run(site):
    (site.raw / "orders" / "b_empty.csv").write_bytes(b"")
    (site.raw / "orders" / "c_old.xls").write_bytes(bytes.fromhex("d0cf11e0a1b11ae1") + b"\0" * 504)
    result = site.cli("backfill", "--from", FULL_RANGE[0], "--to", FULL_RANGE[0])
    assert result.returncode == 1
    assert "b_empty.csv" in result.stderr and "the file is empty" in result.stderr
    assert "c_old.xls" in result.stderr and "Excel 97-2003" in result.stderr
