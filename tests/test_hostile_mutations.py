"""Property (issue 13): random mutations of the sample's export files (cut lines, duplicated rows, junk
cells, stray bytes) either load with every row accounted for in quality.file_loads
(rows_read = rows_loaded + duplicates_dropped + rows_rejected + rows_skipped) or fail with an
IngestError naming the file, never any other exception.

It runs ingest itself (the stage that reads, casts, validates and reconciles) on one mutated file per
example; the raw asset turns an IngestError into the run's failure message (tests/e2e). Bounded: a
fixed number of derandomised examples (40, ~10 s), each ingesting the mutated file alone.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.core.db import rows
from pipelines.ingest.load import ingest_source
from pipelines.ingest.rules import IngestError

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
FILES = sorted(p for p in SAMPLE.glob("*/*") if p.is_file() and p.suffix.lower() != ".md")
JUNK = [b"", b"abc", b"1e30", b"2099-12-31", b"-5", b'"', b"NaN", b"\xe9t\xe9", b"0000-00-00", b"  ", b"1,2,3"]


@st.composite
def mutation(draw):
    kind = draw(st.sampled_from(["cut", "duplicate", "junk", "drop", "stray"]))
    return kind, draw(st.floats(0, 1)), draw(st.floats(0, 1)), draw(st.sampled_from(JUNK))


def mutate(data: bytes, kind: str, a: float, b: float, junk: bytes) -> bytes:
    lines = data.splitlines(keepends=True) or [b""]
    i = min(int(a * len(lines)), len(lines) - 1)
    if kind == "cut":  # the file ends mid-line (a copy cut short)
        return data[: int(len(data) * (0.5 + a / 2))]
    if kind == "duplicate":  # a row exported twice in one file
        return b"".join(lines[: i + 1] + [lines[i]] + lines[i + 1 :])
    if kind == "drop":
        return b"".join(lines[:i] + lines[i + 1 :])
    if kind == "stray":  # bytes of another encoding inside a line
        line = lines[i]
        at = int(b * len(line))
        lines[i] = line[:at] + b"\xe9\xff" + line[at:]
        return b"".join(lines)
    # junk: one cell of a line replaced
    line = lines[i]
    cuts = [k for k, c in enumerate(line) if c in b",;\t"]
    if len(cuts) < 2:
        return b"".join(lines[:i] + [junk + line] + lines[i + 1 :])
    k = min(int(b * (len(cuts) - 1)), len(cuts) - 2)
    lines[i] = line[: cuts[k] + 1] + junk + line[cuts[k + 1] :]
    return b"".join(lines)


@pytest.mark.filterwarnings("ignore")
@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(file=st.sampled_from(FILES), mutations=st.lists(mutation(), min_size=1, max_size=3))
def test_a_mutated_export_is_accounted_for_or_named(tmp_path_factory, file, mutations):
    raw = tmp_path_factory.mktemp("raw")
    source = file.parent.name
    target = raw / source / file.name
    target.parent.mkdir()
    data = file.read_bytes()
    for kind, a, b, junk in mutations:
        data = mutate(data, kind, a, b, junk)
    target.write_bytes(data)
    stat = file.stat()
    os.utime(target, (stat.st_atime, stat.st_mtime))
    con = duckdb.connect()
    try:
        try:
            ingest_source(con, source, raw, "prop", "secret", max_reject_share=1.0)
        except IngestError as exc:
            assert file.name in str(exc), f"an ingest failure must name the file: {str(exc)[:500]}"
            assert len(str(exc)) < 5000, "a failure message must stay short"
            return
        loads = rows(
            con,
            """select source_file, rows_read, rows_loaded, duplicates_dropped, rows_rejected, rows_skipped
                             from quality.file_loads""",
        )
        assert {name for name, *_ in loads} == {f"{source}/{p.name}" for p in (raw / source).iterdir()}
        for name, read, loaded, dups, rejected, skipped in loads:
            assert read == loaded + dups + rejected + skipped, name
        assert rows(con, f"select count(*) from raw.{source}")[0][0] == sum(r[2] for r in loads)
    finally:
        con.close()
