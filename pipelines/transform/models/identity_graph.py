"""The identity graph (docs/metrics.md, "Customer identity"): staging.customer_identifiers and quality.identity_conflicts.

Nodes are identifiers ('crm', 'email', 'phone', 'visitor' with their value); every record (order, CRM
record, touch naming its CRM customer) links the identifiers it carries. A customer is a connected
component. All of it is SQL over whole tables; Python only repeats one statement until it changes nothing.

1. Links: sql/staging/customer_identifiers.sql gives each distinct identifier combination with its
   record count; unpivoted to (combination, identifier).
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
"""

from __future__ import annotations

import logging

from pipelines.core.db import scalar
from pipelines.transform.context import ModelContext

KINDS = ("crm", "email", "phone", "visitor")
_COLUMNS = {"crm": "customer_id", "email": "email_key", "phone": "phone_key", "visitor": "visitor_id"}
POINTER_JUMPING = True  # off only to measure plain propagation (benchmarks)
MAX_ROUNDS = 10_000  # a safety stop: pointer jumping settles chains of millions in a few dozen rounds
TABLES = ("staging.customer_identifiers", "quality.identity_conflicts")
log = logging.getLogger(__name__)
last_rounds: int | None = None  # propagation rounds after the first labels (0: they settled); tests read it


def materialize(ctx: ModelContext) -> int:
    con, params = ctx.con, ctx.params
    global last_rounds
    max_links = int(params.get("identity_max_links", 10))
    query = ctx.sql
    con.execute("create schema if not exists quality")
    con.execute(
        f"create or replace temp table __id_combos as select row_number() over () as combo, * from ({query})",
        ctx.bind(),
    )
    unpivot = " union all ".join(
        f"select combo, '{kind}' as kind, {column} as value, '{kind}:' || {column} as identifier, records "
        f"from __id_combos where {column} is not null"
        for kind, column in _COLUMNS.items()
    )
    con.execute(f"create or replace temp table __id_links as {unpivot}")

    # 2. identifiers seen with too many distinct e-mails or CRM ids (other than themselves)
    con.execute(
        """
        create or replace temp table __id_common as
        with candidates as (
            -- only an identifier on more than max_links combinations can be seen with more than
            -- max_links others: the pairs below are built for these few
            select identifier from __id_links group by identifier having count(*) > $max_links
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
    # 3. components: each usable identifier with its combination's smallest one (its hub)
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

    # 4. one row per usable identifier, keyed on its component's smallest identifier
    con.execute(
        """
        create or replace table staging.customer_identifiers as
        select
            identifier,
            split_part(identifier, ':', 1) as identifier_kind,
            identifier[strpos(identifier, ':') + 1:] as identifier_value,
            label as customer_key
        from __id_labels
        """
    )
    con.execute(
        """
        create or replace table quality.identity_conflicts as
        with merged as (
            -- components holding several CRM ids: one person, kept under the smallest id
            select customer_key, count(*) as crm_ids, string_agg(identifier_value, ',' order by identifier_value) as crm_id_list
            from staging.customer_identifiers
            where identifier_kind = 'crm'
            group by customer_key
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
        from __id_common
        union all
        select 'crm_merge', merged.customer_key, 'crm', merged.customer_key, null, merged.crm_ids,
               merged.crm_id_list, component_records.records
        from merged
        left join component_records using (customer_key)
        order by kind desc, identifier
        """
    )
    for temp in ("__id_combos", "__id_links", "__id_common", "__id_star", "__id_edges", "__id_labels", "__id_next"):
        con.execute(f"drop table if exists {temp}")
    ctx.document(list(TABLES))
    return int(scalar(con, "select count(*) from staging.customer_identifiers"))
