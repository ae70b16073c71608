"""Data-driven attribution (docs/metrics.md "Data-driven attribution"): marts.channel_weights.

sql/marts/channel_weights.sql builds, set-based in DuckDB, the journeys of the fit window (one row per
step; consecutive repeats of a channel collapsed), kept between runs in meta.journey_steps. Still in
DuckDB, they are counted per day of journey end into meta.journey_counts:

- the Markov chain's transition counts between states (start, the last `attribution.markov_order`
  channels of a journey, conversion, null): a few hundred rows per day at most for the first order;
- the Shapley coalition counts: journeys per set of distinct channels and outcome (which also give,
  per channel, the journeys and conversions that touched it);

A nightly run rebuilds only the journeys of the identities new data reached (_scope): their stored
steps are taken out of the counts and replaced, so the counts of every other journey are kept. The
fit adds up the counts of the days in its window; only those small sums come into Python:

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
(meta.model_writes), and marts.attribution_credits re-credits from there (pipelines/transform/params.py:
attribution_restate_start; the purchases whose touches did not change from their stored rows, without reading
a touch: sql/marts/restated/attribution_credits.sql); first purchases older than the fit window keep the
credits of the last fit that covered them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import duckdb
import numpy as np
import polars as pl

from pipelines.core.db import rows, scalar, table_exists
from pipelines.core.periods import EARLIEST
from pipelines.transform.binding import bind
from pipelines.transform.context import ModelContext
from pipelines.transform.state import first_row_after, touches_loaded_since

TABLE = "marts.channel_weights"
JOURNEYS = "meta.journey_steps"  # the steps of the last fit's journeys, kept for the next run's refit
COUNTS = "meta.journey_counts"  # their coalition and transition counts per day of journey end
INPUTS = "meta.journey_inputs"  # what they were built from besides the touches (see _scope)
STEP_COLUMNS = (
    "journey_kind utinyint, journey_id varchar, identity varchar, end_ts timestamp, converted boolean, "
    "step integer, channel varchar, previous_channel varchar"
)
COUNT_COLUMNS = "end_date date, kind varchar, a varchar, b varchar, converted boolean, n bigint"
START, CONVERSION, NULL = "(start)", "(conversion)", "(null)"
CHUNK_TOUCHES = 100_000_000  # touches of the fit window per chunk of journeys (see materialize)
SEP = "\x1f"  # joins the channels of a state or a coalition in SQL (the unit separator: in no channel name)

SCHEMA = {
    "attribution_model": pl.String,
    "fit_start": pl.Date,
    "fit_end": pl.Date,
    "markov_order": pl.Int64,
    "channel": pl.String,
    "weight": pl.Float64,
    "removal_effect": pl.Float64,
    "shapley_value": pl.Float64,
    "journeys": pl.Int64,
    "conversions": pl.Int64,
    "p_conversion": pl.Float64,
    "p_conversion_without": pl.Float64,
    "fit_journeys": pl.Int64,
    "fit_conversions": pl.Int64,
}


def materialize(ctx: ModelContext) -> int:
    con, params = ctx.con, ctx.params
    as_of: date = params["as_of_date"]
    months = int(params.get("data_driven_months", 12))
    order = int(params.get("markov_order", 1))
    query = ctx.sql
    fit_start = scalar(con, "select ($d::date + to_days(1) - to_months($m::integer))::date", {"d": as_of, "m": months})
    scoped = _scope(ctx, fit_start)
    bounds = {"fit_start": fit_start}
    if scoped:
        # the stored journeys of the scoped identities leave the counts and the steps (rebuilt below), and
        # so does whatever ended before the window
        # (found once: the delete goes by row id, not by a second lookup of every step's identity)
        con.execute(
            f"create or replace temp table __dd_old as select rowid as row_id, * from {JOURNEYS} "
            "where coalesce(identity, journey_id) in (select identity from __dd_identities)"
        )
        con.execute(f"delete from {JOURNEYS} where rowid in (select row_id from __dd_old)")
        con.execute("alter table __dd_old drop column row_id")
        _add_counts(con, "__dd_old", order, -1)
        con.execute("drop table __dd_old")
        con.execute(f"delete from {JOURNEYS} where end_ts < $fit_start::timestamp", bounds)
    else:
        con.execute("create schema if not exists meta")
        con.execute(f"create or replace table {JOURNEYS} ({STEP_COLUMNS})")
        con.execute(f"create or replace table {COUNTS} ({COUNT_COLUMNS})")
    # Journeys in disjoint chunks of identities (a hash of the identity's key) once the window holds more
    # than CHUNK_TOUCHES touches, so that the windows over them stay within memory. Each chunk joins every
    # touch again (~1 s per million at large), so chunks are few.
    touches = scalar(
        con,
        """select count(*) from raw.touchpoints
                              where ts >= $start::timestamp - to_days(cast($lookback as integer)) and ts < $end::timestamp""",
        {"start": fit_start, "end": as_of + timedelta(days=1), "lookback": params.get("lookback_days", 60)},
    )
    chunks = max(1, -(-int(touches) // CHUNK_TOUCHES))
    for chunk in range(chunks):
        chunk_params = params | {"journey_chunks": chunks, "journey_chunk": chunk, "journeys_scoped": scoped}
        _store_journeys(con, query, chunk_params, order)
    if not scoped:
        _add_counts(con, JOURNEYS, order, 1)
    con.execute(
        f"""create or replace table {COUNTS} as
                    select end_date, kind, a, b, converted, sum(n)::bigint as n from {COUNTS}
                    where end_date >= $fit_start group by all having sum(n) <> 0 order by all""",
        bounds,
    )
    _snapshot_inputs(con, scoped)
    ctx.store_state(JOURNEYS, as_of, EARLIEST)
    for name in ("__dd_identities", "__dd_scope_visitors", "__dd_scope_crm", "__dd_changed"):
        con.execute(f"drop table if exists {name}")
    con.execute("drop view if exists __dd_inputs")

    sets = [
        (tuple(a.split(SEP)), bool(c), int(n))
        for a, c, n in rows(
            con, f"select a, converted, sum(n) from {COUNTS} where kind = 'set' group by all order by all"
        )
    ]
    transitions = [
        (tuple(a.split(SEP)), tuple(b.split(SEP)), int(n))
        for a, b, n in rows(con, f"select a, b, sum(n) from {COUNTS} where kind = 'edge' group by all order by all")
    ]
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
        out.append(
            base
            | {
                "attribution_model": "markov",
                "markov_order": order,
                "channel": channel,
                "weight": weight,
                "removal_effect": effects[channel],
                "shapley_value": None,
                "journeys": seen[channel][0],
                "conversions": seen[channel][1],
                "p_conversion": p_conv,
                "p_conversion_without": p_without[channel],
            }
        )
    values = shapley_values([(members, n) for members, converted, n in sets if converted], channels)
    for channel, weight in normalise(values).items():
        out.append(
            base
            | {
                "attribution_model": "shapley",
                "markov_order": None,
                "channel": channel,
                "weight": weight,
                "removal_effect": None,
                "shapley_value": values[channel],
                "journeys": seen[channel][0],
                "conversions": seen[channel][1],
                "p_conversion": fit_conversions / fit_journeys if fit_journeys else None,
                "p_conversion_without": None,
            }
        )
    _write(con, pl.DataFrame(out, schema=SCHEMA), as_of, fit_start)
    ctx.document([TABLE])
    return len(out)


# ------------------------------------------------------------------------------------- stored journeys
# What the stored journeys were built from, besides the touches: the CRM ids and web visitors of the
# identity graph with their customer (they decide whose journey a touch is), and the first purchases
# (converting journeys; an identity with one has no non-converting journey). The order's own step is
# its channel when the order carries UTM tags.
INPUTS_NOW = """
    select identifier_kind as input, identifier_value as value, customer_key, null::timestamp as ts,
           null::varchar as channel
    from staging.customer_identifiers where identifier_kind in ('crm', 'visitor')
    union all
    select 'first_purchase', order_id, customer_key, order_ts,
           case when coalesce(source, medium, campaign) is not null then channel end
    from marts.orders where customer_type = 'new'
"""


def _scope(ctx: ModelContext, fit_start: date) -> bool:
    """Whether this fit can keep the stored journeys of the identities no new data reached, and if so the
    temp tables that name the others: __dd_identities (the identities whose journeys are rebuilt),
    __dd_scope_visitors and __dd_scope_crm (the visitor and CRM ids whose touches can reach them).
    A journey is a function of its identity's touches, first purchase and identifiers, so it is rebuilt
    when any of those may have changed:
    - the identity has a touch on or after `since` (the oldest touch of a touch export loaded since the
      journeys were stored, pipelines/transform/state.py touches_loaded_since, or dated after their as-of
      date; the run's first month where no load is logged), or a stored journey ending then (a touch that
      is gone: a vanished or changed export reloads its whole source);
    - its first purchase lies after the stored journeys' as-of date (they saw it as not yet bought);
    - one of its CRM ids or visitors, or its first purchase, differs from what the stored journeys were
      built from (meta.journey_inputs), on either side: a visitor that joined or left a customer, a new
      buyer, a merged customer; and the visitors of touches carrying a CRM id that changed owner.
    Everything is rebuilt for an all-time run, without stored journeys, when the select or the settings
    changed, or when the as-of date moved back (buyers up to it decide which journeys exist)."""
    con, params = ctx.con, ctx.params
    as_of: date = params["as_of_date"]
    range_start = params.get("range_start", EARLIEST)
    # a view: the diff below reads it whole once, the other uses only a few keys of it
    con.execute(f"create or replace temp view __dd_inputs as {INPUTS_NOW}")
    for name, column in (
        ("__dd_identities", "identity"),
        ("__dd_scope_visitors", "visitor_id"),
        ("__dd_scope_crm", "customer_id"),
    ):
        con.execute(f"create or replace temp table {name} ({column} varchar)")
    stored_as_of = ctx.stored(JOURNEYS, "as_of_date")
    if (
        range_start <= EARLIEST
        or not all(table_exists(con, t) for t in (JOURNEYS, COUNTS, INPUTS))
        or ctx.stored(JOURNEYS, "fingerprint") != ctx.fingerprint
        or stored_as_of is None
        or as_of < stored_as_of
    ):
        return False
    # rows dated after the stored journeys' as-of date were outside them then (a source that ran ahead
    # of the others): their touches and first purchases count as new now
    stored_end = first_row_after(con, stored_as_of) or as_of + timedelta(days=1)
    if table_exists(con, "quality.file_loads"):
        # the loads are logged: only touches dated after that, or loaded since the journeys were stored
        # (a late, corrected or reloaded export), are new. The run's months are not rebuilt for their own
        # sake, so a nightly's cost follows its new data, not the month so far
        loaded = touches_loaded_since(con, JOURNEYS)
        since = min(loaded, stored_end) if loaded else stored_end
    else:
        since = min(range_start, stored_end)
    # a journey's touches are never older than the look-back before the fit window
    window = {
        "stored_end": stored_end,
        "since": since,
        "end": as_of + timedelta(days=1),
        "first": fit_start - timedelta(days=int(params.get("lookback_days", 60))),
    }
    # the inputs that differ from the stored ones (by input and value; _snapshot_inputs replaces just those)
    con.execute(f"""
        create or replace temp table __dd_changed as
        select coalesce(now.input, old.input) as input, coalesce(now.value, old.value) as value,
               now.customer_key as new_key, old.customer_key as old_key
        from __dd_inputs as now
        full join {INPUTS} as old on old.input = now.input and old.value = now.value
        where now.value is null or old.value is null
            or now.customer_key is distinct from old.customer_key
            or now.ts is distinct from old.ts or now.channel is distinct from old.channel""")
    con.execute(
        f"""
        insert into __dd_identities
        with changed as (
            select * from __dd_changed
        ),
        crm_customers as (
            select value as customer_id, customer_key from __dd_inputs where input = 'crm'
        ),
        visitor_customers as (
            select value as visitor_id, customer_key from __dd_inputs where input = 'visitor'
        ),
        recent_touches as (
            -- whose touches these are now (sql/marts/channel_weights.sql: all_touches)
            select coalesce(crm_customers.customer_key, visitor_customers.customer_key, touches.visitor_id) as identity
            from raw.touchpoints as touches
            left join crm_customers on crm_customers.customer_id = touches.customer_id
            left join visitor_customers on visitor_customers.visitor_id = touches.visitor_id
            where touches.ts >= $since::timestamp and touches.ts < $end::timestamp
        ),
        moved_crm_touches as (
            -- a touch with a CRM id that changed owner may have been its visitor's
            select touches.visitor_id as identity
            from raw.touchpoints as touches
            where touches.customer_id in (select value from changed where input = 'crm')
                and touches.ts >= $first::timestamp and touches.ts < $end::timestamp
        )
        select distinct identity from (
            select new_key as identity from changed
            union all select old_key from changed
            union all select value from changed where input = 'visitor'
            union all select identity from recent_touches
            union all select identity from moved_crm_touches
            union all select coalesce(identity, journey_id) from {JOURNEYS} where end_ts >= $since::timestamp
            union all select customer_key from __dd_inputs
            where input = 'first_purchase' and ts >= $stored_end::timestamp and ts < $end::timestamp
        )
        where identity is not null
        """,
        window,
    )
    con.execute("""insert into __dd_scope_visitors
                   select identity from __dd_identities
                   union
                   select value from __dd_inputs
                   where input = 'visitor' and customer_key in (select identity from __dd_identities)""")
    con.execute("""insert into __dd_scope_crm
                   select value from __dd_inputs
                   where input = 'crm' and customer_key in (select identity from __dd_identities)""")
    return True


def _store_journeys(con: duckdb.DuckDBPyConnection, query: str, params: dict[str, Any], order: int) -> None:
    """The select's steps into JOURNEYS; a scoped run's new steps are also counted (_add_counts) on the way.
    The hash joins are built on the sides the SQL names: DuckDB's estimate for the touches after the tag
    join is a few thousand rows (struct equality), so it built its hash tables on the window's touches
    (67 M at large, out of the run's 4 GB) instead of on the identifiers."""
    before = scalar(con, "select current_setting('disabled_optimizers')")
    con.execute("set disabled_optimizers = 'build_side_probe_side'")
    try:
        if params["journeys_scoped"]:
            con.execute(f"create or replace temp table __dd_new as {query}", bind(query, params))
        else:
            con.execute(f"insert into {JOURNEYS} {query}", bind(query, params))
    finally:
        con.execute(f"set disabled_optimizers = '{before}'")
    if params["journeys_scoped"]:
        _add_counts(con, "__dd_new", order, 1)
        con.execute(f"insert into {JOURNEYS} select * from __dd_new")
        con.execute("drop table __dd_new")


def _add_counts(con: duckdb.DuckDBPyConnection, steps: str, order: int, sign: int) -> None:
    """Add (sign 1) or take away (-1) the journeys of `steps` in COUNTS, per day of journey end: per set of
    distinct channels and outcome the journeys (kind 'set', a = the channels joined by SEP), per Markov
    transition (kind 'edge', a -> b: states of the last `order` channels, START, CONVERSION, NULL) how often
    it is taken. One grouping by journey finds the sets, as a bit mask over the channels (an integer OR,
    far cheaper than aggregating strings; up to 62 channels), and each journey's last step."""
    channels = [c for (c,) in rows(con, f"select distinct channel from {steps} order by 1")]
    if not channels:
        return
    if len(channels) > 62:
        members = "string_agg(distinct channel, $sep order by channel)"
        named = "members"
    else:
        members = "bit_or(cast(1 as bigint) << cast(list_position($channels, channel) - 1 as bigint))"
        named = "array_to_string(list_filter($channels, lambda c, i: ((members >> (i - 1)) & 1) = 1), $sep)"
    values = {"sep": SEP, "sign": sign} | (
        {"start": START, "conversion": CONVERSION, "null": NULL} if order == 1 else {}
    )
    if len(channels) <= 62:
        values["channels"] = channels
    first_order = f"""
        union all
        select end_date, 'edge', last_channel, case when converted then $conversion else $null end, null, sum(n)
        from journeys group by all
        union all
        select end_ts::date, 'edge', coalesce(previous_channel, $start), channel, null, count(*) from {steps} group by all"""
    con.execute(
        f"""
        insert into {COUNTS}
        with journeys as (
            select end_date, members, converted, last_channel, count(*) as n from (
                select any_value(end_ts)::date as end_date, {members} as members, bool_or(converted) as converted,
                       arg_max(channel, step) as last_channel
                from {steps} group by journey_kind, journey_id
            ) group by all
        ),
        counted as (
            select end_date, 'set' as kind, {named} as a, null::varchar as b, converted, sum(n) as n
            from journeys group by all
            {first_order if order == 1 else ""}
        )
        select end_date, kind, a, b, converted, $sign * n from counted
        """,
        values,
    )
    if order > 1:
        _add_higher_order_edges(con, steps, order, sign)


def _add_higher_order_edges(con: duckdb.DuckDBPyConnection, steps: str, order: int, sign: int) -> None:
    """Transitions between states of the last `order` channels: one sorted pass over the steps."""
    states = (
        "string_agg(channel, $sep) over (partition by journey_kind, journey_id order by step rows between $back preceding "
        "and current row) as to_state, string_agg(channel, $sep) over (partition by journey_kind, journey_id order by step "
        "rows between $order preceding and 1 preceding) as from_state"
    )
    con.execute(
        f"""
        insert into {COUNTS}
        with states as (
            select end_ts::date as end_date, converted, {states},
                lead(step) over (partition by journey_kind, journey_id order by step) is null as is_last
            from {steps}
        ),
        edges as (
            select end_date, coalesce(from_state, $start) as a, to_state as b from states
            union all
            select end_date, to_state, case when converted then $conversion else $null end from states where is_last
        )
        select end_date, 'edge', a, b, null, $sign * count(*) from edges group by all
        """,
        {
            "start": START,
            "conversion": CONVERSION,
            "null": NULL,
            "order": order,
            "back": order - 1,
            "sep": SEP,
            "sign": sign,
        },
    )


def _snapshot_inputs(con: duckdb.DuckDBPyConnection, scoped: bool) -> None:
    """Store the inputs the journeys are now built from: a scoped run replaces only the rows of the
    inputs that changed (__dd_changed), not the million-row table."""
    if not scoped:
        con.execute(f"create or replace table {INPUTS} as select * from __dd_inputs")
    else:
        for statement in (
            f"delete from {INPUTS} as inputs",
            f"insert into {INPUTS} select * from __dd_inputs as inputs",
        ):
            con.execute(f"""{statement} where exists (
                                select 1 from __dd_changed as changed where changed.input is not distinct from inputs.input
                                and changed.value is not distinct from inputs.value)""")
    for table, (text, columns) in COMMENTS.items():
        con.execute(f"comment on table {table} is '{text}'")
        for column, about in columns.items():
            con.execute(f"comment on column {table}.{column} is '{about}'")


# bookkeeping, not a published table (no Pandera model: the publish checks would read every journey)
COMMENTS = {
    JOURNEYS: (
        "The steps of the journeys of the last data-driven fit (docs/metrics.md, Data-driven attribution), "
        "kept so that the next run rebuilds only the journeys new data reached (docs/incremental.md).",
        {
            "journey_kind": "0 converting (journey_id = order id), 1 a customer who never bought, 2 a web visitor of no customer",
            "journey_id": "the first purchase order id, the customer key or the visitor id",
            "identity": "converting journeys: the customer whose first purchase it is (the others belong to journey_id)",
            "end_ts": "the first purchase, or the last touch: the journey is in every fit whose window holds it",
            "converted": "whether the journey ends in a first purchase",
            "step": "orders the steps of a journey (gaps where repeats of a channel were dropped)",
            "channel": "the channel of the step",
            "previous_channel": "the channel of the step before (NULL at the first step)",
        },
    ),
    COUNTS: (
        "The journeys of meta.journey_steps counted per day of journey end: what the fit adds up over its window.",
        {
            "end_date": "the day the journeys end (first purchase or last touch)",
            "kind": "set: journeys per set of distinct channels and outcome; edge: a Markov transition from a to b",
            "a": "the set of channels, or the state left (channels joined by the unit separator)",
            "b": "the state entered (NULL for a set)",
            "converted": "sets: whether the journeys converted",
            "n": "journeys (set) or transitions taken (edge)",
        },
    ),
    INPUTS: (
        "What meta.journeys was built from besides the touches: CRM ids and web visitors of the identity "
        "graph with their customer, and first purchases; a run rebuilds the journeys of whatever changed.",
        {
            "input": "crm, visitor or first_purchase",
            "value": "the CRM id, the visitor id or the order id",
            "customer_key": "the customer it belongs to",
            "ts": "first purchases: the order time",
            "channel": "first purchases: the channel of the order own UTM tags (NULL without tags)",
        },
    ),
}


def _write(con: duckdb.DuckDBPyConnection, frame: pl.DataFrame, as_of: date, fit_start: date) -> None:
    """Replace this fit's rows; drop the fits no stored credit uses any more; when the new weights differ
    from those the stored credits of the fit window were computed with, log a write of this table from
    the fit window's first month (meta.model_writes), so marts.attribution_credits re-credits from there
    (pipelines/transform/params.py: attribution_restate_start)."""
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
    """The same log the incremental SQL models keep (pipelines/transform/state.py: store_state)."""
    con.execute("create schema if not exists meta")
    con.execute(
        "create table if not exists meta.model_writes (table_name varchar, window_start date, written_at timestamp)"
    )
    now = datetime.now(UTC).replace(tzinfo=None)
    con.execute("insert into meta.model_writes values (?, ?, ?)", [TABLE, window_start, now])


def _sql_type(dtype: Any) -> str:
    return {pl.String: "VARCHAR", pl.Date: "DATE", pl.Int64: "BIGINT", pl.Float64: "DOUBLE"}[dtype]


# ------------------------------------------------------------------------------------------------- markov
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
