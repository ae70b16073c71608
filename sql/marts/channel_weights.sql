-- materialized: python
-- Channel weights of the data-driven attribution models markov and shapley (docs/metrics.md "Data-driven
-- attribution"). This select is the set-based half: the journeys of the fit window, the
-- $data_driven_months months that end at $as_of_date, one row per step (a channel; consecutive repeats
-- of one channel count once; `step` orders a journey's steps, with gaps where repeats were dropped). A journey is
-- (journey_kind, journey_id): 0 and the order id (converting), 1 and the customer key, 2 and the visitor id.
-- pipelines/transform/models/data_driven.py keeps the steps between runs (meta.journey_steps: a nightly refit rebuilds
-- only the journeys of the identities new data reached, $journeys_scoped), counts the Markov
-- transitions and the Shapley coalitions per day of journey end in DuckDB (meta.journey_counts), brings
-- only the fit window's counts into Python, solves the models and writes marts.channel_weights.
-- Converting journeys: one per first purchase in the window, made of exactly the touches the rule models
-- see (sql/marts/attribution_credits.sql: web touches from the look-back before the purchase up to it,
-- and the order's own UTM tags at order time; same order of touches). Non-converting journeys: one per
-- identity (a customer of the identity graph, else the web visitor) with touches in the window and no
-- first purchase up to $as_of_date, made of its touches within the look-back before its last touch in
-- the window. Visitors who never bought are most touchpoints: all of this stays set-based, one chunk of
-- identities at a time ($journey_chunk of $journey_chunks).

with

-- import ctes
-- The fit window is [the day after $as_of_date less $data_driven_months months, the day after $as_of_date),
-- written out where it is used rather than cross-joined from a one-row CTE: as constants DuckDB pushes
-- the range into the scans and estimates the sizes right (with the cross join it took the window's touches
-- for a few rows and built its hash tables on them: out of memory at 67 M touches)
first_purchases as (
    select
        orders.order_id, orders.customer_key, orders.order_ts as first_purchase_ts, orders.channel,
        orders.source, orders.medium, orders.campaign
    from marts.orders as orders
    where
        orders.customer_type = 'new'
        and orders.order_ts >= ($as_of_date::date + to_days(1) - to_months(cast($data_driven_months as integer)))::timestamp
        and orders.order_ts < ($as_of_date::date + to_days(1))::timestamp
        and ($journey_chunks = 1 or hash(orders.customer_key) % $journey_chunks = $journey_chunk)
        -- a nightly refit: only the identities new data touched (pipelines/transform/models/data_driven.py: _scope)
        and (not $journeys_scoped or orders.customer_key in (select identity from __dd_identities))
),

buyers as (
    -- identities with a first purchase up to the as-of date: never a non-converting journey
    select customer_key from marts.orders
    where customer_type = 'new' and order_ts < ($as_of_date::date + to_days(1))::timestamp
),

crm_customers as (
    select identifier_value as customer_id, customer_key
    from staging.customer_identifiers
    where identifier_kind = 'crm'
),

tag_channels as materialized (
    -- the channel of each tag combination of the window's months, mapped once (thousands of rows, not one
    -- 5-column join per touch; the same mapping as staging.customer_touches)
    select tags.tag_key, channel_map.channel, dense_rank() over (order by channel_map.channel)::usmallint as channel_id
    from staging.touch_tags as tags
    inner join staging.channel_map as channel_map
        on
            channel_map.platform is null
            and channel_map.source is not distinct from tags.source
            and channel_map.medium is not distinct from tags.medium
            and channel_map.campaign is not distinct from tags.campaign
            and channel_map.referrer_host is not distinct from tags.referrer_host
            and channel_map.click_id_type is not distinct from tags.click_id_type
    where
        tags.seen_month
        >= date_trunc(
            'month', ($as_of_date::date + to_days(1) - to_months(cast($data_driven_months as integer)))::timestamp - to_days(cast($lookback_days as integer))
        )
),

all_touches as materialized (
    -- every touchpoint of the window (and of the look-back before it) with an identity: a customer of the
    -- identity graph (identity_kind 1, or 0 when the touch has no visitor id: it only counts towards a
    -- purchase), else the web visitor (2). The customers' touches are exactly those of
    -- staging.customer_touches. One key column, not both: this is the widest table of the run.
    select
        coalesce(crm_customers.customer_key, visitor_customers.customer_key, touches.visitor_id) as identity,
        case
            when coalesce(crm_customers.customer_key, visitor_customers.customer_key) is null then 2
            when touches.visitor_id is null then 0
            else 1
        end::utinyint as identity_kind,
        touches.ts,
        tag_channels.channel_id
    from (
        -- a nightly refit: only the touches that can reach a scoped identity (its visitors and CRM ids),
        -- picked before the joins below, which cost far more per touch than these two lookups
        select * from raw.touchpoints
        where
            ts >= ($as_of_date::date + to_days(1) - to_months(cast($data_driven_months as integer)))::timestamp - to_days(cast($lookback_days as integer))
            and ts < ($as_of_date::date + to_days(1))::timestamp
            and (
                not $journeys_scoped
                or visitor_id in (select visitor_id from __dd_scope_visitors)
                or customer_id in (select customer_id from __dd_scope_crm)
            )
    ) as touches
    left join crm_customers on crm_customers.customer_id = touches.customer_id
    left join staging.visitor_customers as visitor_customers on visitor_customers.visitor_id = touches.visitor_id
    inner join tag_channels
        on tag_channels.tag_key = staging.touch_tag_key(
            touches.utm_source, touches.utm_medium, touches.utm_campaign, touches.utm_content, touches.utm_term,
            touches.referrer, touches.click_id, touches.ts
        )
    where
        coalesce(crm_customers.customer_key, visitor_customers.customer_key, touches.visitor_id) is not null
        -- a nightly refit: of those touches, the ones whose identity is scoped
        and (
            not $journeys_scoped
            or coalesce(crm_customers.customer_key, visitor_customers.customer_key, touches.visitor_id)
            in (select identity from __dd_identities)
        )
        -- this run's chunk of identities (pipelines/transform/models/data_driven.py: above 100 M touches); every touch of an
        -- identity, and its first purchase, fall in the same chunk
        and (
            $journey_chunks = 1
            or hash(coalesce(crm_customers.customer_key, visitor_customers.customer_key, touches.visitor_id))
            % $journey_chunks = $journey_chunk
        )
),

channel_names as (
    -- channels travel as small integers through the widest steps (in the order of their names)
    select distinct channel_id, channel from tag_channels
),

channel_list as (
    -- the names by id, as one list: a lookup per step instead of a join
    select list(channel order by channel_id) as names from channel_names
),

customer_touches as (
    select all_touches.identity as customer_key, all_touches.ts, channel_names.channel
    from all_touches
    inner join channel_names on channel_names.channel_id = all_touches.channel_id
    where all_touches.identity_kind <> 2
),

-- logic ctes
converting_touches as (
    -- 'touchpoint' sorts after 'order' descending: at equal times the order's own tags come last
    select
        first_purchases.order_id as journey_id, first_purchases.customer_key as identity,
        first_purchases.first_purchase_ts as end_ts, customer_touches.ts as touch_ts,
        'touchpoint' as touch_origin, customer_touches.channel
    from first_purchases
    inner join customer_touches
        on
            customer_touches.customer_key = first_purchases.customer_key
            and customer_touches.ts <= first_purchases.first_purchase_ts
            and customer_touches.ts >= first_purchases.first_purchase_ts - to_days(cast($lookback_days as integer))
    union all
    -- the union takes the first branch's names: the order's own tags are a touch at order time
    select order_id, customer_key, first_purchase_ts, first_purchase_ts, 'order', channel  -- noqa: AL08
    from first_purchases
    where coalesce(source, medium, campaign) is not null
),

converting_steps as (
    select
        journey_id, identity, end_ts, channel,
        lag(channel) over journey as previous_channel,
        row_number() over journey as touch_number
    from converting_touches
    window journey as (partition by journey_id order by touch_ts, touch_origin desc, channel)
),

non_buyer_touches as (
    -- an identity is a customer of the identity graph, else the web visitor (journey_kind 1 and 2); a
    -- visitor of no customer never bought
    select
        all_touches.identity_kind as journey_kind, all_touches.identity as journey_id, all_touches.ts,
        all_touches.channel_id
    from all_touches
    anti join buyers on buyers.customer_key = all_touches.identity and all_touches.identity_kind = 1
    where all_touches.identity_kind <> 0
),

non_converting_steps as (
    -- one pass per identity: its last touch in the window (none if it touched only in the look-back before
    -- the window), and each touch's predecessor. The journey is the touches within the look-back before the
    -- last one, a prefix of the identity's touches dropped: its first touch has no predecessor.
    select
        journey_kind, journey_id, ts, channel_id,
        max(ts) filter (where ts >= ($as_of_date::date + to_days(1) - to_months(cast($data_driven_months as integer)))::timestamp) over ident_all as last_ts,
        lag(channel_id) over ident as previous_channel,
        lag(ts) over ident as previous_ts,
        row_number() over ident as touch_number
    from non_buyer_touches
    window
        ident as (partition by journey_kind, journey_id order by ts, channel_id),
        ident_all as (
            partition by journey_kind, journey_id order by ts, channel_id
            rows between unbounded preceding and unbounded following
        )
),

final as (
    -- consecutive repeats of one channel count once: a journey's steps are its touches whose channel
    -- differs from the touch before; `step` orders them (numbered among all touches: gaps are repeats).
    -- previous_channel is the step before's channel (the touch before a step is the last of the step
    -- before's repeats), null at a journey's first step: the first-order Markov transitions need no
    -- second pass over the steps. identity is the customer of a first purchase (whose journey it is; for the
    -- others that is journey_id, and NULL here costs nothing to store); end_ts its first purchase or last touch: a stored step counts in every fit whose
    -- window holds its journey's end.
    select
        0::utinyint as journey_kind, journey_id, identity, end_ts, true as converted, touch_number::integer as step,
        channel, previous_channel
    from converting_steps
    where previous_channel is null or previous_channel <> channel
    union all
    select
        journey_kind, journey_id, null, last_ts, false, touch_number::integer,
        channel_list.names[non_converting_steps.channel_id],
        case
            when previous_ts >= last_ts - to_days(cast($lookback_days as integer))
                then channel_list.names[non_converting_steps.previous_channel]
        end
    from non_converting_steps
    cross join channel_list
    where
        ts >= last_ts - to_days(cast($lookback_days as integer))
        and (
            previous_channel is null or previous_ts < last_ts - to_days(cast($lookback_days as integer))
            or previous_channel <> non_converting_steps.channel_id
        )
)

select * from final
