"""Data-driven attribution (docs/metrics.md "Data-driven attribution"): marts.channel_weights.

sql/marts/channel_weights.sql builds, set-based in DuckDB, the journeys of the fit window (one row per
step; consecutive repeats of a channel collapsed). Here, still in DuckDB, they are aggregated into

- the Markov chain's transition counts between states (start, the last `attribution.markov_order`
  channels of a journey, conversion, null): a few hundred rows at most for the default first order;
- the Shapley coalition counts: converting journeys per set of distinct channels;
- per channel, the journeys and conversions that touched it;

and only those small tables come into Python:

- `markov`: P(conversion) is the absorption probability in `conversion` from `start`, solved exactly
  with a linear system (numpy.linalg.solve on the transient states, no simulation, so a re-run gives the
  same numbers). Removing a channel sends every transition into a state holding it to null; its
  removal effect is 1 - P(conversion without it) / P(conversion); weight = effect / sum of effects.
- `shapley`: worth of a coalition S = converting journeys whose distinct channels all lie in S, i.e.
  v(S) = sum of r(T) over T within S (r(T) = converting journeys whose channel set is exactly T). For a
  worth of this form the Shapley value of c is sum over T holding c of r(T) / |T| (the simplified
  Shapley value of Zhao et al. 2018): each journey's conversion is shared equally by its channels.
  That closed form is the exact Shapley value for any number of channels (the enumeration over the
  2^n coalitions gives the same numbers, see tests/sql/test_data_driven.py); weight = value / sum.

marts.channel_weights keeps one set of rows per model and fit (fit_end = the run's as-of date): the
current fit, and every older fit some stored credit still uses (marts.attribution_credits.weights_fit_end).
When the new weights differ from those the stored credits of the fit window were computed with, this
model logs a write from the month of the window's earliest first purchase credited with other weights
(meta.model_writes), and marts.attribution_credits re-credits from there (pipelines/transform.py: attribution_start); first purchases older than the fit
window keep the credits of the last fit that covered them.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from typing import Any

import duckdb
import numpy as np
import polars as pl

from pipelines.db import rows, scalar, table_exists
from pipelines.periods import EARLIEST
from pipelines.sql_models import SqlModel, bind
from pipelines.table_docs import document_tables

TABLE = "marts.channel_weights"
STEPS = "__dd_steps"
START, CONVERSION, NULL = "(start)", "(conversion)", "(null)"
CHUNK_TOUCHES = 100_000_000  # touches of the fit window per chunk of journeys (see materialize)
SEP = "\x1f"  # joins the channels of a state or a coalition in SQL (the unit separator: in no channel name)

SCHEMA = {
    "attribution_model": pl.String, "fit_start": pl.Date, "fit_end": pl.Date, "markov_order": pl.Int64,
    "channel": pl.String, "weight": pl.Float64, "removal_effect": pl.Float64, "shapley_value": pl.Float64,
    "journeys": pl.Int64, "conversions": pl.Int64, "p_conversion": pl.Float64,
    "p_conversion_without": pl.Float64, "fit_journeys": pl.Int64, "fit_conversions": pl.Int64,
}


def materialize(con: duckdb.DuckDBPyConnection, model: SqlModel, params: dict[str, Any]) -> int:
    as_of: date = params["as_of_date"]
    months = int(params.get("data_driven_months", 12))
    order = int(params.get("markov_order", 1))
    query = model.sql
    fit_start = scalar(con, "select ($d::date + to_days(1) - to_months($m::integer))::date", {"d": as_of, "m": months})
    # Journeys in disjoint chunks of identities (a hash of the identity's key) once the window holds more
    # than CHUNK_TOUCHES touches, so that the windows over them stay within memory. Each chunk joins every
    # touch again (~1 s per million at large), so chunks are few. Transition and coalition counts add up.
    touches = scalar(con, f"""select count(*) from raw.touchpoints
                              where ts >= $start::timestamp - to_days(cast($lookback as integer)) and ts < $end::timestamp""",
                     {"start": fit_start, "end": as_of + timedelta(days=1), "lookback": params.get("lookback_days", 60)})
    chunks = max(1, -(-int(touches) // CHUNK_TOUCHES))
    sets_count: dict[tuple[tuple[str, ...], bool], int] = defaultdict(int)
    edges: dict[tuple[tuple[str, ...], tuple[str, ...]], int] = defaultdict(int)
    for chunk in range(chunks):
        chunk_params = params | {"journey_chunks": chunks, "journey_chunk": chunk}
        _steps(con, query, chunk_params)
        journeys = journey_sets(con)
        for members, converted, _, n in journeys:
            sets_count[(members, converted)] += n
        for a, b, n in markov_transitions(con, order, journeys):
            edges[(a, b)] += n
        con.execute(f"drop table {STEPS}")
    sets = [(members, converted, n) for (members, converted), n in sorted(sets_count.items())]
    transitions = [(a, b, n) for (a, b), n in sorted(edges.items())]
    seen = {}
    for members, converted, n in sets:
        for channel in members:
            journeys, conversions = seen.get(channel, (0, 0))
            seen[channel] = (journeys + n, conversions + (n if converted else 0))
    fit_journeys = sum(n for _, _, n in sets)
    fit_conversions = sum(n for _, converted, n in sets if converted)
    channels = sorted(seen)
    base = {"fit_start": fit_start, "fit_end": as_of, "fit_journeys": fit_journeys, "fit_conversions": fit_conversions}

    out = []
    p_conv, p_without = markov_removal(transitions, channels)
    effects = {c: removal_effect(p_conv, p_without[c]) for c in channels}
    for channel, weight in normalise(effects).items():
        out.append(base | {
            "attribution_model": "markov", "markov_order": order, "channel": channel, "weight": weight,
            "removal_effect": effects[channel], "shapley_value": None, "journeys": seen[channel][0],
            "conversions": seen[channel][1], "p_conversion": p_conv, "p_conversion_without": p_without[channel],
        })
    values = shapley_values([(members, n) for members, converted, n in sets if converted], channels)
    for channel, weight in normalise(values).items():
        out.append(base | {
            "attribution_model": "shapley", "markov_order": None, "channel": channel, "weight": weight,
            "removal_effect": None, "shapley_value": values[channel], "journeys": seen[channel][0],
            "conversions": seen[channel][1],
            "p_conversion": fit_conversions / fit_journeys if fit_journeys else None, "p_conversion_without": None,
        })
    _write(con, pl.DataFrame(out, schema=SCHEMA), as_of, fit_start)
    document_tables(con, [TABLE])
    return len(out)


def _steps(con: duckdb.DuckDBPyConnection, query: str, params: dict[str, Any]) -> None:
    """The journeys' steps into STEPS, with the hash joins built on the sides the SQL names: DuckDB's
    estimate for the touches after the tag join is a few thousand rows (struct equality), so it built its
    hash tables on the window's touches (67 M at large, out of the run's 4 GB) instead of on the identifiers."""
    before = scalar(con, "select current_setting('disabled_optimizers')")
    con.execute("set disabled_optimizers = 'build_side_probe_side'")
    try:
        con.execute(f"create or replace temp table {STEPS} as {query}", bind(query, params))
    finally:
        con.execute(f"set disabled_optimizers = '{before}'")


def _write(con: duckdb.DuckDBPyConnection, frame: pl.DataFrame, as_of: date, fit_start: date) -> None:
    """Replace this fit's rows; drop the fits no stored credit uses any more; when the new weights differ
    from those the stored credits of the fit window were computed with, log a write of this table from
    the fit window's first month (meta.model_writes), so marts.attribution_credits re-credits from there
    (pipelines/transform.py: attribution_start)."""
    con.execute("create schema if not exists marts")
    con.register("__dd_new_weights", frame)
    expected = [(name, _sql_type(dtype)) for name, dtype in SCHEMA.items()]
    if table_exists(con, TABLE) and [(r[0], r[1]) for r in rows(con, f"describe {TABLE}")] != expected:
        con.execute(f"drop table {TABLE}")
    if not table_exists(con, TABLE):
        con.execute(f"create table {TABLE} as select * from __dd_new_weights limit 0")
    credits = "marts.attribution_credits"
    stored = table_exists(con, credits) and "weights_fit_end" in {r[0] for r in rows(con, f"describe {credits}")}
    if stored:
        window_start = fit_start.replace(day=1)
        # the earliest first purchase of the window whose credits came from weights other than the new ones
        changed = scalar(
            con,
            f"""with used as (
                    select distinct weights_fit_end as fit_end from {credits} where first_purchase_ts >= $window_start
                ),
                new_weights as (select attribution_model, channel, weight from __dd_new_weights),
                differing as (
                    -- a fit the window's credits use, compared with the new one row by row (both ways)
                    select used.fit_end from used
                    where exists (
                        select attribution_model, channel, weight from {TABLE} as w where w.fit_end = used.fit_end
                        except
                        select * from new_weights
                    ) or exists (
                        select * from new_weights
                        except
                        select attribution_model, channel, weight from {TABLE} as w where w.fit_end = used.fit_end
                    )
                )
                select min(first_purchase_ts)::date from {credits}
                where first_purchase_ts >= $window_start and weights_fit_end in (select fit_end from differing)""",
            {"window_start": window_start},
        )
        if changed:
            # credits older than the window that used a fit of this as-of date (a re-run of the same day) would
            # point at weights they were not computed with: then everything is re-credited
            overwritten = scalar(
                con,
                f"select count(*) from {credits} where first_purchase_ts < $window_start and weights_fit_end = $as_of",
                {"window_start": window_start, "as_of": as_of},
            )
            _log_write(con, EARLIEST if overwritten else changed.replace(day=1))
    con.execute(f"delete from {TABLE} where fit_end = $as_of", {"as_of": as_of})
    if stored:
        con.execute(
            f"""delete from {TABLE} where fit_end not in (
                   select distinct weights_fit_end from {credits} where weights_fit_end is not null)"""
        )
    else:
        con.execute(f"delete from {TABLE}")
    con.execute(f"insert into {TABLE} by name select * from __dd_new_weights order by attribution_model, channel")
    con.unregister("__dd_new_weights")


def _log_write(con: duckdb.DuckDBPyConnection, window_start: date) -> None:
    """The same log the incremental SQL models keep (pipelines/sql_models.py: _store_state)."""
    con.execute("create schema if not exists meta")
    con.execute("create table if not exists meta.model_writes (table_name varchar, window_start date, written_at timestamp)")
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    con.execute("insert into meta.model_writes values (?, ?, ?)", [TABLE, window_start, now])


def _sql_type(dtype: Any) -> str:
    return {pl.String: "VARCHAR", pl.Date: "DATE", pl.Int64: "BIGINT", pl.Float64: "DOUBLE"}[dtype]


# ------------------------------------------------------------------------------------------------- markov
def markov_transitions(
    con: duckdb.DuckDBPyConnection, order: int, journeys: list[tuple[tuple[str, ...], bool, str, int]],
) -> list[tuple[tuple[str, ...], tuple[str, ...], int]]:
    """(from state, to state, journeys) counted in DuckDB. A state is the tuple of the last `order` channels
    (fewer at a journey's first steps); (START,), (CONVERSION,) and (NULL,) are the others. First order
    needs no sort: each step names the one before (sql/marts/channel_weights.sql), and the journeys'
    last steps come from `journeys` (journey_sets). Higher orders take one sorted pass over the steps."""
    if order == 1:
        found = rows(
            con,
            f"select coalesce(previous_channel, $start), channel, count(*) from {STEPS} group by all order by all",
            {"start": START},
        )
        ends: dict[tuple[tuple[str, ...], tuple[str, ...]], int] = defaultdict(int)
        for _, converted, last, n in journeys:
            ends[((last,), (CONVERSION,) if converted else (NULL,))] += n
        return [((a,), (b,), int(n)) for a, b, n in found] + [(a, b, n) for (a, b), n in sorted(ends.items())]
    states = (
        "string_agg(channel, $sep) over (partition by journey_kind, journey_id order by step rows between $back preceding "
        "and current row) as to_state, string_agg(channel, $sep) over (partition by journey_kind, journey_id order by step "
        "rows between $order preceding and 1 preceding) as from_state"
    )
    found = rows(
        con,
        f"""
        with states as (
            select
                converted,
                -- the state a step enters, and the one it leaves (none at the first step: start)
                {states},
                lead(step) over (partition by journey_kind, journey_id order by step) is null as is_last
            from {STEPS}
        ),
        edges as (
            select coalesce(from_state, $start) as from_state, to_state from states
            union all
            select to_state, case when converted then $conversion else $null end from states where is_last
        )
        select from_state, to_state, count(*) from edges group by all order by all
        """,
        {"start": START, "conversion": CONVERSION, "null": NULL, "order": order, "back": order - 1, "sep": SEP},
    )
    return [(tuple(a.split(SEP)), tuple(b.split(SEP)), int(n)) for a, b, n in found]


def markov_removal(
    transitions: list[tuple[tuple[str, ...], tuple[str, ...], int]], channels: list[str]
) -> tuple[float, dict[str, float]]:
    """P(conversion) from start, and the same with each channel removed: absorption probabilities of the
    chain whose transition probabilities are the counts divided by their state's total."""
    absorbing = {(CONVERSION,), (NULL,)}
    states = sorted({s for a, b, _ in transitions for s in (a, b)} - absorbing)
    if (START,) not in states:
        return 0.0, {c: 0.0 for c in channels}
    index = {s: i for i, s in enumerate(states)}
    counts = np.zeros((len(states), len(states)))
    to_conversion = np.zeros(len(states))
    totals = np.zeros(len(states))
    for a, b, n in transitions:
        totals[index[a]] += n
        if b == (CONVERSION,):
            to_conversion[index[a]] += n
        elif b != (NULL,):
            counts[index[a], index[b]] += n
    q = counts / totals[:, None]
    r = to_conversion / totals
    start = index[(START,)]

    def p_conversion(removed: np.ndarray) -> float:
        kept = q * ~removed[None, :]  # every transition into a removed state goes to null instead
        return float(np.linalg.solve(np.eye(len(states)) - kept, r * ~removed)[start])

    nothing = np.zeros(len(states), dtype=bool)
    full = p_conversion(nothing)
    without = {c: p_conversion(np.array([s != (START,) and c in s for s in states])) for c in channels}
    return full, without


def removal_effect(p_conversion: float, p_without: float) -> float:
    if p_conversion <= 0:
        return 0.0
    # removing a channel can only lose paths to conversion: clip the last-bit noise of the solve
    return min(max(1.0 - p_without / p_conversion, 0.0), 1.0)


# ------------------------------------------------------------------------------------------------ shapley
def journey_sets(con: duckdb.DuckDBPyConnection) -> list[tuple[tuple[str, ...], bool, str, int]]:
    """Journeys per (set of distinct channels, converted, last channel), counted in DuckDB in one grouping
    of the steps by journey: the Shapley coalitions, the journeys and conversions seen per channel, and the
    first-order Markov chain's last steps. A set is a bit mask over the channels (an integer OR per
    journey, far cheaper than aggregating strings), up to 62 channels."""
    channels = [c for (c,) in rows(con, f"select distinct channel from {STEPS} order by 1")]
    if len(channels) > 62:
        found = rows(
            con,
            f"""select channels, converted, last_channel, count(*) from (
                    select journey_kind, journey_id, bool_or(converted) as converted,
                           string_agg(distinct channel, $sep order by channel) as channels,
                           arg_max(channel, step) as last_channel
                    from {STEPS} group by journey_kind, journey_id
                ) group by all order by all""",
            {"sep": SEP},
        )
        return [(tuple(c.split(SEP)), bool(converted), last, int(n)) for c, converted, last, n in found]
    found = rows(
        con,
        f"""select mask, converted, last_channel, count(*) from (
                select journey_kind, journey_id, bool_or(converted) as converted,
                       bit_or(cast(1 as bigint) << cast(list_position($channels, channel) - 1 as bigint)) as mask,
                       arg_max(channel, step) as last_channel
                from {STEPS} group by journey_kind, journey_id
            ) group by all order by all""",
        {"channels": channels},
    )
    return [
        (tuple(c for i, c in enumerate(channels) if int(mask) >> i & 1), bool(converted), last, int(n))
        for mask, converted, last, n in found
    ]


def shapley_values(counts: list[tuple[tuple[str, ...], int]], channels: list[str]) -> dict[str, float]:
    """Shapley value of each channel for v(S) = converting journeys whose channels all lie in S: each
    coalition's journeys shared equally by its channels (exact, see the module docstring)."""
    values = dict.fromkeys(channels, 0.0)
    for members, n in counts:
        for channel in members:
            values[channel] += n / len(members)
    return values


def normalise(values: dict[str, float]) -> dict[str, float]:
    """Weights summing to 1; all 0 when nothing has a positive value (credits then fall back to linear)."""
    total = sum(v for v in values.values() if v > 0)
    return {c: (max(v, 0.0) / total if total > 0 else 0.0) for c, v in values.items()}

