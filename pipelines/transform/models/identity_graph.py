"""The identity graph (docs/metrics.md, "Customer identity"): staging.customer_identifiers and quality.identity_conflicts.

Nodes are identifiers ('crm', 'email', 'phone', 'visitor' with their value); every record (order, CRM
record, touch naming its CRM customer) links the identifiers it carries. A customer is a connected
component. All of it is SQL over sets; Python only repeats one statement until it changes nothing, and
chooses between a full build and patching the stored one (5).

1. Links: sql/staging/customer_identifiers.sql gives each record's identifiers and file, grouped here
   into distinct identifier combinations with their record counts; unpivoted to (combination, identifier).
2. Too common: an identifier that shares a combination with more than `identity.max_links` distinct
   e-mails or CRM ids (a call-centre phone, a shared office e-mail) is dropped from every combination
   before linking, so it never merges anyone; a record left with no identifier keys on itself
   (staging.orders: 'order:<id>').
3. Components by minimum-label propagation: every identifier starts with the smallest identifier of
   its combinations; each round it takes the smallest label among its neighbours (edges: each
   identifier of a combination to that combination's smallest one), then the label of its label
   (pointer jumping: a label is always an identifier of the same component, so this is only a
   shortcut). Labels never grow and stay inside their component; the loop stops when a round changes
   no label, and does not start when every combination's identifiers already share one. Plain
   propagation needs as many rounds as the longest shortest path in a component (its diameter);
   with the jump a chain of length d settles in about log2(d) rounds. Each round is two hash joins
   over the edge list (a few rows per identity), so a run costs rounds x edges.
4. Key: the component's smallest identifier as '<kind>:<value>'. 'crm:' sorts before 'email:',
   'phone:' and 'visitor:', so that is its CRM id when it has one, the smallest CRM id when several
   met (a 'crm_merge' conflict), else the smallest e-mail, phone, visitor -- the key formats of
   staging.orders. It depends only on the set of identifiers, so a re-run on the same inputs gives
   the same keys, and a new record re-keys only the components it joins.
5. Incremental: the combinations are kept in meta.identity_combinations (bookkeeping, not published).
   The records of the files loaded since the last write (quality.file_loads) are the new ones; when
   the others are exactly the stored combinations (their count and the sum of their hashes, against
   the stored combinations' own: one scan, no grouping), only the new records are grouped and added
   (_new_records). Otherwise (a reloaded source, a copy dropped from an older file, no load log) every
   record is grouped and diffed with the stored combinations (_diff); a changed record count is a
   removal and an addition. No difference: nothing is written, not even the runner's bookkeeping.
   Otherwise the stored combinations are patched to the current ones, and the seeds are the identifiers
   of added and removed combinations: only their too-common status can change (judged on all their
   current combinations). The affected identifiers are the seeds, every identifier of a combination
   holding a seed that is no longer too common, and every identifier of the stored components these are in. Components are closed, so the
   current combinations with a linking identifier among them are exactly the affected components'; only
   those are propagated, their identifiers' rows of staging.customer_identifiers deleted and inserted, and
   the conflicts of the seeds and of the affected components replaced (that small table is rewritten in
   order). Keys depend only on a component's identifiers, so the result equals a full build of the same
   inputs (tests/sql/test_identity_incremental.py). A full build runs without stored tables, when the
   select or the settings changed (meta.model_state's fingerprint: `identity.max_links` is one), or when
   more than FULL_FRACTION of the stored combinations were added or removed.
"""

from __future__ import annotations

import logging

from pipelines.core.db import scalar, table_exists
from pipelines.core.periods import EARLIEST
from pipelines.transform.context import ModelContext
from pipelines.transform.state import files_loaded_since

KINDS = ("crm", "email", "phone", "visitor")
_COLUMNS = {"crm": "customer_id", "email": "email_key", "phone": "phone_key", "visitor": "visitor_id"}
POINTER_JUMPING = True  # off only to measure plain propagation (benchmarks)
MAX_ROUNDS = 10_000  # a safety stop: pointer jumping settles chains of millions in a few dozen rounds
TABLES = ("staging.customer_identifiers", "quality.identity_conflicts")
# The combinations the stored tables were computed from: bookkeeping, like meta.model_state. Not in TABLES,
# which the Spark engine copies to Spark (no table there reads it; its in-memory bridge keeps its own).
STATE = "meta.identity_combinations"
STATE_COMMENTS = {
    "": "The identity graph's input at its last write (pipelines/transform/models/identity_graph.py): each "
    "distinct identifier combination with its record count. The next run diffs the current combinations with "
    "these and recomputes only the components the difference touches.",
    "customer_id": "CRM customer id of the combination (null: none)",
    "email_key": "e-mail key of the combination (null: none)",
    "phone_key": "phone key of the combination (null: none)",
    "visitor_id": "web visitor id of the combination (null: none)",
    "records": "orders, CRM records and identified touches that carried exactly this combination",
}
FULL_FRACTION = 0.2  # more added + removed combinations than this share of the stored ones: rebuild whole
log = logging.getLogger(__name__)
# staging.customer_identifiers' rows from the labels of a propagation (a full build's, or the affected components')
IDENTIFIER_ROWS = (
    "select identifier, split_part(identifier, ':', 1) as identifier_kind, "
    "identifier[strpos(identifier, ':') + 1:] as identifier_value, label as customer_key from __id_labels"
)
last_rounds: int | None = None  # propagation rounds after the first labels (0: they settled); tests read it
last_mode: str | None = None  # 'full', 'incremental' or 'unchanged': how the last run wrote; tests read it
last_input: str | None = None  # 'new records' or 'all records': what the last patch or no-change run grouped
_TEMPS = (
    "__id_now", "__id_new_files", "__id_delta", "__id_diff", "__id_added", "__id_removed", "__id_seeds",
    "__id_touching", "__id_touching_links", "__id_seed_common", "__id_flipped", "__id_reach", "__id_old_keys",
    "__id_affected", "__id_linking", "__id_combos", "__id_links", "__id_common", "__id_star", "__id_edges", "__id_labels", "__id_next",
    "__id_conflicts",
)  # fmt: skip


def materialize(ctx: ModelContext) -> int:
    global last_mode, last_input
    con = ctx.con
    con.execute("create schema if not exists quality")
    try:
        reason = _full_reason(ctx)
        if reason is not None:
            # nothing to diff with: the combinations go straight into the stored state, which the build
            # reads (a temporary copy first cost a second write of a million rows of 64-character keys)
            log.info("identity graph: full rebuild (%s)", reason)
            last_mode = "full"
            con.execute("create schema if not exists meta")
            con.execute(f"create or replace table {STATE} as {_grouped(ctx.sql)}", ctx.bind())
            return _full(ctx)
        changed, last_input = _new_records(ctx), "new records"
        if changed is None:  # the records before the new files are not the stored ones: all of them
            last_input = "all records"
            con.execute(f"create or replace temp table __id_now as {_grouped(ctx.sql)}", ctx.bind())
            changed = _diff(con)
        if not changed:
            last_mode = "unchanged"
            log.info("identity graph: no combination added or removed, nothing rewritten")
            return 0
        stored_count = scalar(con, f"select count(*) from {STATE}")
        _patch_state(con)  # from here on, STATE holds the current combinations
        if changed > FULL_FRACTION * stored_count:
            reason = f"{changed} of {stored_count} combinations changed"
        else:
            written = _incremental(ctx)
            if written is not None:
                last_mode = "incremental"
                return written
            reason = "the recomputed components reached beyond the affected identifiers"
            log.warning("identity graph: %s, rebuilding whole", reason)
        log.info("identity graph: full rebuild (%s)", reason)
        last_mode = "full"
        return _full(ctx)
    finally:
        for temp in _TEMPS:
            con.execute(f"drop table if exists {temp}")


def _full_reason(ctx: ModelContext) -> str | None:
    """Why this run rebuilds whole (None: the stored tables can be patched)."""
    con = ctx.con
    if not all(table_exists(con, t) for t in (*TABLES, STATE)):
        return "no stored graph"
    if ctx.stored(TABLES[0], "fingerprint") != ctx.fingerprint:
        return "its select or the settings changed"
    return None


def _grouped(records: str, where: str = "") -> str:
    """The distinct identifier combinations of `records` (the model's select) with how many records carried each."""
    columns = ", ".join(_COLUMNS.values())
    return f"select {columns}, count(*) as records from ({records}) {where} group by {columns}"


def _new_records(ctx: ModelContext) -> int | None:
    """__id_added and __id_removed from the records of the files loaded since the graph was last written,
    when the other records are exactly the stored combinations: their count and the sum of their
    combinations' hashes equal the stored combinations' (a 64-bit hash per record, summed without
    overflow: a different set of records matches only by a hash collision). Then nothing was removed, and
    the new records' combinations add to the stored counts. None: not so (a reloaded source, a copy
    dropped from an older file, rows no load logged) or not known (no load log): every record is grouped."""
    con = ctx.con
    if not table_exists(con, "quality.file_loads"):
        return None
    con.execute(
        f"create or replace temp table __id_new_files as {files_loaded_since(('orders', 'customers', 'touchpoints'))}",
        [TABLES[0]],
    )
    columns = ", ".join(_COLUMNS.values())
    new = "coalesce(source_file in (select source_file from __id_new_files), false)"
    old_records, old_sum = con.execute(
        f"""select count(*), coalesce(sum(hash({columns})::hugeint), 0)
            from ({ctx.sql}) where not {new}""",
        ctx.bind(),
    ).fetchone()
    stored_records, stored_sum = con.execute(
        f"select coalesce(sum(records), 0), coalesce(sum(hash({columns})::hugeint * records), 0) from {STATE}"
    ).fetchone()
    if (old_records, old_sum) != (stored_records, stored_sum):
        return None
    if not scalar(con, "select count(*) from __id_new_files"):
        con.execute(f"create or replace temp table __id_added as select * from {STATE} limit 0")
        con.execute(f"create or replace temp table __id_removed as select * from {STATE} limit 0")
        return 0  # no file since: every record is as stored
    con.execute(f"create or replace temp table __id_delta as {_grouped(ctx.sql, f'where {new}')}", ctx.bind())
    same = " and ".join(f"stored.{c} is not distinct from delta.{c}" for c in _COLUMNS.values())
    # a combination already stored is removed with its old count and added with the sum
    con.execute(
        f"create or replace temp table __id_removed as select stored.* from {STATE} as stored semi join __id_delta as delta on {same}"
    )
    con.execute(
        f"""create or replace temp table __id_added as
            select {", ".join(f"delta.{c}" for c in _COLUMNS.values())},
                   delta.records + coalesce(removed.records, 0) as records
            from __id_delta as delta
            left join __id_removed as removed on {same.replace("stored.", "removed.")}"""
    )
    return int(scalar(con, "select (select count(*) from __id_added) + (select count(*) from __id_removed)"))


def _patch_state(con) -> None:
    """STATE becomes the current combinations: the removed ones out, the added ones in."""
    same = " and ".join(f"stored.{c} is not distinct from removed.{c}" for c in (*_COLUMNS.values(), "records"))
    con.execute(f"delete from {STATE} as stored using __id_removed as removed where {same}")
    con.execute(f"insert into {STATE} select * from __id_added")


def _diff(con) -> int:
    """__id_added and __id_removed: the combinations added and removed since the stored ones (a changed
    record count is both). One full join on every column (nulls match), half the cost of two excepts."""
    columns = (*_COLUMNS.values(), "records")
    con.execute(
        f"""
        create or replace temp table __id_diff as
        select {", ".join(f"case when now.here then now.{c} else stored.{c} end as {c}" for c in columns)},
               now.here is not null as added
        from (select true as here, * from __id_now) as now
        full join (select true as was, * from {STATE}) as stored
            on {" and ".join(f"now.{c} is not distinct from stored.{c}" for c in columns)}
        where now.here is null or stored.was is null
        """
    )
    for name, added in (("__id_added", "added"), ("__id_removed", "not added")):
        con.execute(f"create or replace temp table {name} as select * exclude (added) from __id_diff where {added}")
    return int(scalar(con, "select count(*) from __id_diff"))


def _unpivot(source: str, columns: str = "") -> str:
    """One row per identifier of each combination of `source`: kind, value, identifier ('<kind>:<value>')."""
    return " union all ".join(
        f"select {columns}'{kind}' as kind, {column} as value, '{kind}:' || {column} as identifier "
        f"from {source} where {column} is not null"
        for kind, column in _COLUMNS.items()
    )


def _carrying(identifiers: str) -> str:
    """A condition on a combination's columns: it carries one of the identifiers of table `identifiers`."""
    return " or ".join(
        f"'{kind}:' || {column} in (select identifier from {identifiers})" for kind, column in _COLUMNS.items()
    )


def _full(ctx: ModelContext) -> int:
    """Every component, from the combinations just written to STATE."""
    con = ctx.con
    con.execute(f"create or replace temp table __id_combos as select row_number() over () as combo, * from {STATE}")
    _links(con)
    _too_common(con, int(ctx.params.get("identity_max_links", 10)), "__id_common")
    _components(con)
    con.execute(f"create or replace table staging.customer_identifiers as {IDENTIFIER_ROWS}")
    _conflicts(con, "__id_common")
    con.execute(
        "create or replace table quality.identity_conflicts as select * from __id_conflicts order by kind desc, identifier"
    )
    _finish(ctx)
    return int(scalar(con, "select count(*) from staging.customer_identifiers"))


def _incremental(ctx: ModelContext) -> int | None:
    """Recompute the components the added and removed combinations touch and replace only their rows;
    None when the recomputed components turn out not to be closed (never, if the reasoning holds)."""
    con = ctx.con
    # seeds: every identifier of an added or removed combination; only their too-common status can change
    con.execute(
        f"create or replace temp table __id_seeds as select distinct identifier from "
        f"({_unpivot('__id_added')} union all {_unpivot('__id_removed')})"
    )
    # every current combination carrying a seed: all a seed's links, to judge it too common or not
    con.execute(f"create or replace temp table __id_touching as select * from {STATE} where {_carrying('__id_seeds')}")
    con.execute(
        "create or replace temp table __id_combos as select row_number() over () as combo, * from __id_touching"
    )
    _links(con)
    _too_common(con, int(ctx.params.get("identity_max_links", 10)), "__id_seed_common", only="__id_seeds")
    con.execute("create or replace temp table __id_touching_links as select * from __id_links")
    # the too-common identifiers now: the stored ones other than the seeds, and the seeds found so now
    con.execute(
        """
        create or replace temp table __id_common as
        select identifier, identifier_kind as kind, identifier[strpos(identifier, ':') + 1:] as value, records,
               linked_emails as emails, linked_crm_ids as crm_ids
        from quality.identity_conflicts
        where kind = 'too_common' and identifier not in (select identifier from __id_seeds)
        union all by name
        select * from __id_seed_common
        """
    )
    # A seed that stopped being too common now links combinations whose other identifiers may lie in
    # components no seed is in: they are reached too. (One that became too common is in its stored
    # component, which the closure below takes whole.)
    con.execute(
        """
        create or replace temp table __id_flipped as
        select identifier from quality.identity_conflicts
        where kind = 'too_common'
          and identifier in (select identifier from __id_seeds)
          and identifier not in (select identifier from __id_seed_common)
        """
    )
    con.execute(
        """
        create or replace temp table __id_reach as
        select identifier from __id_seeds
        union
        select links.identifier from __id_touching_links as links
        where links.combo in (select combo from __id_touching_links semi join __id_flipped using (identifier))
        """
    )
    # the affected identifiers: those reached, with every identifier of the stored components they are in
    con.execute(
        """create or replace temp table __id_old_keys as
           select distinct customer_key from staging.customer_identifiers semi join __id_reach using (identifier)"""
    )
    con.execute(
        """
        create or replace temp table __id_affected as
        select identifier from __id_reach
        union
        select identifier from staging.customer_identifiers semi join __id_old_keys using (customer_key)
        """
    )
    # Components are closed: a current combination that is not new joined identifiers of one stored
    # component (or carries a seed, or an identifier that now links again, both reached): the combinations
    # with a linking identifier among the affected ones are every combination of the affected components.
    con.execute(
        "create or replace temp table __id_linking as select * from __id_affected anti join __id_common using (identifier)"
    )
    con.execute(
        f"create or replace temp table __id_combos as select row_number() over () as combo, * from {STATE} "
        f"where {_carrying('__id_linking')}"
    )
    _links(con)
    _components(con)
    if scalar(con, "select count(*) from __id_labels anti join __id_linking using (identifier)"):
        return None
    con.execute("delete from staging.customer_identifiers where identifier in (select identifier from __id_affected)")
    con.execute(f"insert into staging.customer_identifiers {IDENTIFIER_ROWS} order by identifier")
    _conflicts(con, "__id_seed_common")
    con.execute(
        """
        create or replace table quality.identity_conflicts as
        select * from (
            select * from quality.identity_conflicts
            where not (kind = 'too_common' and identifier in (select identifier from __id_seeds))
              and not (kind = 'crm_merge' and customer_key in (select customer_key from __id_old_keys))
            union all by name
            select * from __id_conflicts
        )
        order by kind desc, identifier
        """
    )
    _finish(ctx)
    return int(scalar(con, "select count(*) from __id_labels"))


def _finish(ctx: ModelContext) -> None:
    con = ctx.con
    ctx.document(list(TABLES))
    for column, text in STATE_COMMENTS.items():
        target = f"column {STATE}.{column}" if column else f"table {STATE}"
        con.execute(f"comment on {target} is {_quoted(text)}")
    # the runner's bookkeeping: what the stored graph was computed with (no dates: rewritten_from is all time)
    ctx.store_state(TABLES[0], ctx.params.get("as_of_date"), EARLIEST)


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _links(con) -> None:
    """1. __id_combos unpivoted: (combo, kind, value, identifier, records)."""
    con.execute(f"create or replace temp table __id_links as {_unpivot('__id_combos', 'combo, records, ')}")


def _too_common(con, max_links: int, target: str, only: str | None = None) -> None:
    """2. `target`: the identifiers seen with more than max_links distinct e-mails or CRM ids (other than
    themselves) in __id_links; with `only`, just those of that table (__id_links then holds all their links)."""
    restrict = f"semi join {only} using (identifier)" if only else ""
    con.execute(
        f"""
        create or replace temp table {target} as
        with candidates as (
            -- only an identifier on more than max_links combinations can be seen with more than
            -- max_links others: the pairs below are built for these few
            select identifier from __id_links {restrict} group by identifier having count(*) > $max_links
        ),
        seen_with as (
            select
                links.identifier,
                count(distinct other.identifier) filter (where other.kind = 'email') as emails,
                count(distinct other.identifier) filter (where other.kind = 'crm') as crm_ids
            from __id_links as links
            semi join candidates using (identifier)
            join __id_links as other
                on other.combo = links.combo
                and other.identifier <> links.identifier
                and other.kind in ('email', 'crm')
            group by links.identifier
        ),
        touched as (
            select identifier, any_value(kind) as kind, any_value(value) as value, sum(records)::bigint as records
            from __id_links semi join candidates using (identifier) group by identifier
        )
        select touched.*, seen_with.emails, seen_with.crm_ids
        from seen_with
        join touched using (identifier)
        where seen_with.emails > $max_links or seen_with.crm_ids > $max_links
        """,
        {"max_links": max_links},
    )


def _components(con) -> None:
    """3. __id_labels: each linking identifier of __id_links with its component's smallest identifier."""
    global last_rounds
    # each usable identifier with its combination's smallest one (its hub)
    con.execute(
        """create or replace temp table __id_star as
           select combo, identifier, min(identifier) over (partition by combo) as hub
           from __id_links anti join __id_common using (identifier)"""
    )
    # the first round for free: each identifier starts at the smallest hub of its combinations
    con.execute(
        "create or replace temp table __id_labels as select identifier, min(hub) as label from __id_star group by identifier"
    )
    jump = "least(propagated.label, jumped.label)" if POINTER_JUMPING else "propagated.label"
    rounds = 0
    # Settled already when every combination's identifiers share one label: components are connected
    # through combinations, so each then has a single label, and a round would change none (most data:
    # a person's identifiers meet in one record). One join and a grouping, against a round's three.
    settled = not scalar(
        con,
        """select count(*) from (
               select combo from __id_star join __id_labels using (identifier)
               group by combo having min(label) <> max(label))""",
    )
    if not settled:
        # the edges the rounds propagate along: each identifier to its combination's hub, both ways
        con.execute(
            """
            create or replace temp table __id_edges as
            select identifier as a, hub as b from __id_star where identifier <> hub
            union
            select hub as a, identifier as b from __id_star where identifier <> hub
            """
        )
    while not settled:
        rounds += 1
        con.execute(
            f"""
            create or replace temp table __id_next as
            with proposed as (
                select edges.a as identifier, labels.label
                from __id_edges as edges
                join __id_labels as labels on labels.identifier = edges.b
                union all
                select identifier, label from __id_labels
            ),
            propagated as (
                select identifier, min(label) as label from proposed group by identifier
            )
            -- pointer jumping: the label's own label is in the same component too
            select propagated.identifier, {jump} as label
            from propagated
            join propagated as jumped on jumped.identifier = propagated.label
            """
        )
        changed = scalar(
            con,
            """select count(*) from __id_next join __id_labels using (identifier)
               where __id_next.label <> __id_labels.label""",
        )
        con.execute("create or replace temp table __id_labels as select * from __id_next")
        settled = not changed
        if not settled and rounds >= MAX_ROUNDS:
            raise RuntimeError(f"identity graph: labels still changing after {MAX_ROUNDS} rounds")
    last_rounds = rounds
    log.info("identity graph: %d rounds", rounds)


def _conflicts(con, common: str) -> None:
    """__id_conflicts: the too-common identifiers of `common` and the components of __id_labels holding
    several CRM ids, as rows of quality.identity_conflicts."""
    con.execute(
        f"""
        create or replace temp table __id_conflicts as
        with merged as (
            -- components holding several CRM ids: one person, kept under the smallest id
            select label as customer_key, count(*) as crm_ids,
                   string_agg(identifier[strpos(identifier, ':') + 1:], ',' order by identifier) as crm_id_list
            from __id_labels
            where identifier like 'crm:%'
            group by label
            having count(*) > 1
        ),
        merged_combos as (
            -- the combinations of the merged components (every identifier of a combination has its key):
            -- a few components, so found from their identifiers rather than by keying every combination
            select distinct star.combo, labels.label as customer_key
            from __id_labels as labels
            semi join merged on merged.customer_key = labels.label
            join __id_star as star using (identifier)
        ),
        component_records as (
            -- the records behind the merged component
            select merged_combos.customer_key, sum(combos.records)::bigint as records
            from merged_combos
            join __id_combos as combos using (combo)
            group by merged_combos.customer_key
        )
        select 'too_common' as kind, identifier, kind as identifier_kind, null::varchar as customer_key,
               emails as linked_emails, crm_ids as linked_crm_ids, null::varchar as crm_id_list, records
        from {common}
        union all
        select 'crm_merge', merged.customer_key, 'crm', merged.customer_key, null, merged.crm_ids,
               merged.crm_id_list, component_records.records
        from merged
        left join component_records using (customer_key)
        """
    )
