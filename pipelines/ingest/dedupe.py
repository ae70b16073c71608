"""Copies of one record across and within files: identical copies count once, contradicting ones are quarantined."""

from __future__ import annotations

import polars as pl

from pipelines.core.db import rows, scalar
from pipelines.ingest.raw_tables import RAW_COLUMNS
from pipelines.ingest.rules import (
    CONFLICTS_QUARANTINED,
    COPIES_WITHIN_A_FILE_ARE_DISTINCT,
    KEY_TIME,
    NATURAL_KEYS,
    SPANNED,
    Span,
)


class KeySpan:
    """A file's range of its key's time column, and the key times of the keys it repeats (a 64-bit hash
    per row; a collision only widens the duplicate search, never drops a row). Computed here, in the
    worker thread, so the duplicate search can skip every row no other row can be a copy of: a file that
    repeats a few keys is searched at their times, not over its whole range."""

    def __init__(self, source: str):
        self.time = KEY_TIME.get(source) if source in SPANNED else None
        self.key = list(NATURAL_KEYS[source] or ())
        self.low = self.high = None
        self.keys: list[pl.DataFrame] = []  # per chunk: each row's key hash and key time

    def add(self, good: pl.DataFrame) -> None:
        if self.time is None or good.height == 0:
            return
        low, high = good.select(pl.col(self.time).min().alias("low"), pl.col(self.time).max().alias("high")).row(0)
        self.low = low if self.low is None or (low is not None and low < self.low) else self.low
        self.high = high if self.high is None or (high is not None and high > self.high) else self.high
        self.keys.append(good.select(pl.struct(self.key).hash().alias("key_hash"), pl.col(self.time).alias("t")))

    def result(self) -> Span | None:
        if self.time is None:
            return None
        if not self.keys:
            return Span(self.low, self.high, False)
        keys = pl.concat(self.keys)
        times = keys.filter(pl.col("key_hash").is_duplicated()).get_column("t").unique().sort()
        return Span(self.low, self.high, times.len() > 0, times)


MAX_INTERVALS = 64  # overlaps searched one by one; beyond, their envelope


def _repeat_times(spans: dict[str, Span | None]) -> pl.DataFrame:
    """The key times at which new files repeat a key of their own (column t): copies of those keys, in any
    file, lie exactly there."""
    listed = [s.repeat_times for s in spans.values() if s is not None and s.repeat_times is not None]
    listed = [times for times in listed if times.len()]
    if not listed:
        return pl.DataFrame()
    return pl.DataFrame({"t": pl.concat(listed).unique()})


def _overlaps(con, source: str, spans: dict[str, Span | None]) -> list[tuple] | None:
    """Time intervals outside which no row can have a copy: where a new file's key-time range overlaps
    another file's, and the whole range of a new file that repeats a key itself at times not listed
    (the listed ones are searched as points: _repeat_times). None: not known (a file
    without a span), search the new rows' whole range."""
    if source not in SPANNED or not spans or any(s is None for s in spans.values()):
        return None
    time = KEY_TIME[source]
    # a file that repeats keys at times not listed is searched whole (the listed times: _repeat_times)
    ranges = [(s.low, s.high, s.repeats and s.repeat_times is None) for s in spans.values() if s.low is not None]
    if not ranges:
        return []
    low, high = min(r[0] for r in ranges), max(r[1] for r in ranges)
    loaded = {name for (name,) in rows(con, "select source_file from quality.file_loads where source = ?", [source])}
    if loaded - set(spans):  # files of earlier runs: their ranges within the new rows' range
        old = rows(
            con,
            f"""select min({time}), max({time}) from raw.{source}
                            where {time} between $low and $high and source_file not in (select source_file from new_files)
                            group by source_file""",
            {"low": low, "high": high},
        )
        ranges += [(lo, hi, False) for lo, hi in old]
    found = [(lo, hi) for lo, hi, whole in ranges if whole]
    ranges.sort(key=lambda r: (r[0], r[1]))
    reach = None  # the latest end among the ranges so far: a range starting before it overlaps one of them
    for lo, hi, _ in ranges:
        if reach is not None and lo <= reach:
            found.append((lo, min(hi, reach)))
        reach = hi if reach is None else max(reach, hi)
    merged: list[list] = []
    for lo, hi in sorted(found):
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    if len(merged) > MAX_INTERVALS:
        merged = [[merged[0][0], max(hi for _, hi in merged)]]
    return [tuple(m) for m in merged]


def drop_duplicates(
    con, source: str, new_files: list[str], run_id: str = "", spans: dict[str, Span | None] | None = None
) -> None:
    """Keep one row per natural key, decided by content (docs/metrics.md "Copies of one record"): the copy
    from the file whose own rows reach latest (quality.file_loads.latest_row_at), then the byte-wise larger
    file name, then its last line; never modification times or listing order, so the same bytes give the
    same rows whatever their timestamps. Every dropped copy that differs from the kept one is listed in
    quality.conflicts with both values and both files, and whether the files' dates or their names decided.

    Only keys the newly read files carry can have gained a copy. A 64-bit hash of the key finds the
    candidates cheaply (one integer per row, not a window over every column of every row); the exact
    key then decides among the few candidates, so a hash collision can never drop a distinct row.
    Within one file, copies of a key that differ in content are not a re-export but a contradiction:
    they are quarantined, all of them, before the rest is de-duplicated."""
    key = NATURAL_KEYS[source] or tuple(RAW_COLUMNS[source])
    columns = ", ".join(f'"{c}"' for c in key)
    qualified = ", ".join(f'r."{c}"' for c in key)
    rank, by_line = (
        ("dense_rank", "") if source in COPIES_WITHIN_A_FILE_ARE_DISTINCT else ("row_number", ", r.source_row desc")
    )
    con.register("new_files", pl.DataFrame({"source_file": new_files}, schema={"source_file": pl.String}).to_arrow())
    in_range, r_in_range, bounds = "true", "true", {}
    intervals = _overlaps(con, source, spans or {})
    points = _repeat_times(spans or {}) if intervals is not None else pl.DataFrame()
    if intervals == [] and points.is_empty():  # no two files overlap in time and none repeats a key: no copy
        con.unregister("new_files")
        return
    if intervals is not None:
        time = KEY_TIME[source]
        bounds = {f"{end}{i}": value for i, (lo, hi) in enumerate(intervals) for end, value in (("lo", lo), ("hi", hi))}
        where = [f"{{t}} between $lo{i} and $hi{i}" for i in range(len(intervals))]
        if not points.is_empty():
            con.register("repeat_times", points.to_arrow())
            where.append("{t} in (select t from repeat_times)")
        in_range = "(" + " or ".join(w.format(t=time) for w in where) + ")"
        r_in_range = "(" + " or ".join(w.format(t=f"r.{time}") for w in where) + ")"
    elif source in KEY_TIME:
        time = KEY_TIME[source]
        bounds["low"], bounds["high"] = con.execute(
            f"select min({time}), max({time}) from raw.{source} where source_file in (select source_file from new_files)"
        ).fetchone()
        in_range, r_in_range = f"{time} between $low and $high", f"r.{time} between $low and $high"
    try:
        con.execute(
            f"""
            create or replace temp table repeated as
            with hashed as (
                select hash({columns}) as key_hash, source_file in (select source_file from new_files) as is_new
                from raw.{source}
                where {in_range}
            )
            select key_hash from hashed group by key_hash having count(*) > 1 and bool_or(is_new)
            """,
            bounds,
        )
        if source in CONFLICTS_QUARANTINED:
            _quarantine_conflicts(con, source, key, r_in_range, bounds, run_id)
        con.execute(
            f"""
            create or replace temp table dropped as
            with ranked as (
                select r.rowid as rid, r.source_file,
                       {rank}() over (partition by {qualified}
                                      order by f.latest_row_at desc nulls last, r.source_file desc{by_line}) as copy
                from raw.{source} r
                join quality.file_loads f on f.source = $source and f.source_file = r.source_file
                where hash({qualified}) in (select key_hash from repeated) and {r_in_range}
            )
            select rid, source_file from ranked where copy > 1
            """,
            {"source": source} | bounds,
        )
        if source not in COPIES_WITHIN_A_FILE_ARE_DISTINCT:
            _list_conflicts(con, source, key, qualified, r_in_range, bounds, run_id)
    finally:
        con.unregister("new_files")
        if not points.is_empty():
            con.unregister("repeat_times")
    _take_out(con, source, "dropped", "duplicates_dropped")
    con.execute("drop table repeated")


def _list_conflicts(con, source: str, key, qualified: str, r_in_range: str, bounds: dict, run_id: str) -> None:
    """quality.conflicts: every dropped copy whose content differs from the kept one, with the columns that
    differ, both values and both files, and what decided (the files' dates, or their names on a tie)."""
    compared = [c for c in RAW_COLUMNS[source] if c not in key]
    if not compared:
        return
    differ = [f'case when k."{c}" is distinct from d."{c}" then \'{c}\' end' for c in compared]
    kept = [
        f"""case when k."{c}" is distinct from d."{c}" then '{c}=' || coalesce(k."{c}"::varchar, '∅') end"""
        for c in compared
    ]
    dropped = [
        f"""case when k."{c}" is distinct from d."{c}" then '{c}=' || coalesce(d."{c}"::varchar, '∅') end"""
        for c in compared
    ]
    key_text = " || ' | ' || ".join(f"""coalesce(k."{c}"::varchar, '')""" for c in key)
    same_key = " and ".join(f'k."{c}" is not distinct from d."{c}"' for c in key)
    con.execute(
        f"""
        insert into quality.conflicts by name
        with copies as (
            select r.*, r.rowid as rid, f.latest_row_at,
                   row_number() over (partition by {qualified}
                                      order by f.latest_row_at desc nulls last, r.source_file desc, r.source_row desc) as copy
            from raw.{source} r
            join quality.file_loads f on f.source = $source and f.source_file = r.source_file
            where hash({qualified}) in (select key_hash from repeated) and {r_in_range}
        ),
        pairs as (
            select k.source_file as kept_file, k.source_row as kept_row, d.source_file as dropped_file,
                   d.source_row as dropped_row, {key_text} as natural_key,
                   concat_ws(', ', {", ".join(differ)}) as differing_columns,
                   concat_ws('; ', {", ".join(kept)}) as kept_values,
                   concat_ws('; ', {", ".join(dropped)}) as dropped_values,
                   case when k.source_file = d.source_file then 'last line'
                        when k.latest_row_at is not distinct from d.latest_row_at then 'file name'
                        else 'latest row date' end as decided_by
            from copies k join copies d on {same_key} and k.copy = 1 and d.copy > 1
        )
        select $run_id as run_id, $source as source, * from pairs where differing_columns <> ''
        """,
        {"source": source, "run_id": run_id} | bounds,
    )


def _quarantine_conflicts(con, source: str, key: tuple[str, ...], r_in_range: str, bounds: dict, run_id: str) -> None:
    """Rows of one new file sharing a natural key but not their content: which is right cannot be told,
    so every one of them goes to quality.rejected_rows, naming another line of the same key."""
    key_cols = ", ".join(f'"{c}"' for c in key)
    content = ", ".join(f'r."{c}"' for c in RAW_COLUMNS[source])
    joined = " and ".join(f'c."{c}" is not distinct from g."{c}"' for c in key)
    key_text = " || ' | ' || ".join(f"""coalesce(c."{c}"::varchar, '')""" for c in key)
    con.execute(
        f"""
        create or replace temp table conflicts as
        with candidates as (
            select r.rowid as rid, r.source_file, r.source_row, {", ".join(f'r."{c}"' for c in key)},
                   hash({content}) as content_hash
            from raw.{source} r
            where hash({", ".join(f'r."{c}"' for c in key)}) in (select key_hash from repeated) and {r_in_range}
              and r.source_file in (select source_file from new_files)
        ),
        groups as (
            select source_file, {key_cols}, list_sort(list(source_row)) as lines
            from candidates group by source_file, {key_cols}
            having count(distinct content_hash) > 1
        )
        select c.rid, c.source_file, c.source_row, {key_text} as raw_value,
               case when c.source_row = g.lines[1] then g.lines[2] else g.lines[1] end as other_line
        from candidates c join groups g on c.source_file = g.source_file and {joined}
        """,
        bounds,
    )
    if not scalar(con, "select count(*) from conflicts"):
        con.execute("drop table conflicts")
        return
    con.execute(
        """insert into quality.rejected_rows by name
           select $run_id as run_id, $source as source, source_file, source_row, $column as column_name,
                  'conflicting_duplicate' as check_name, raw_value,
                  'conflicting duplicate of line ' || other_line as reason
           from conflicts""",
        {"run_id": run_id, "source": source, "column": "+".join(key)},
    )
    _take_out(con, source, "conflicts", "rows_rejected")


def _take_out(con, source: str, rows: str, counter: str) -> None:
    """Delete the raw rows listed in the temp table `rows` (rid, source_file) and move their count in
    quality.file_loads from rows_loaded to `counter`, so every file still reconciles."""
    con.execute(f"delete from raw.{source} where rowid in (select rid from {rows})")
    con.execute(
        f"""update quality.file_loads f
            set {counter} = f.{counter} + d.n, rows_loaded = f.rows_loaded - d.n
            from (select source_file, count(*) as n from {rows} group by all) d
            where f.source = $source and f.source_file = d.source_file""",
        {"source": source},
    )
    con.execute(f"drop table {rows}")
