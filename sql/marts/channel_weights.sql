-- materialized: python by pipelines.data_driven
-- Channel weights of the data-driven attribution models markov and shapley (docs/metrics.md "Data-driven
-- attribution"). This select is the set-based half: the journeys of the fit window, the
-- $data_driven_months months that end at $as_of_date, one row per step (a channel; consecutive repeats
-- of one channel count once; `step` orders a journey's steps, with gaps where repeats were dropped). pipelines/data_driven.py aggregates them in DuckDB into the Markov
-- transition counts and the Shapley coalition counts, brings only those small tables into Python,
-- solves the models and writes marts.channel_weights.
-- Converting journeys: one per first purchase in the window, made of exactly the touches the rule models
-- see (sql/marts/attribution_credits.sql: web touches from the look-back before the purchase up to it,
-- and the order's own UTM tags at order time; same order of touches). Non-converting journeys: one per
-- identity (a customer of the identity graph, else the web visitor) with touches in the window and no
-- first purchase up to $as_of_date, made of its touches within the look-back before its last touch in
-- the window. Visitors who never bought are most touchpoints: all of this stays set-based.

with

-- import ctes
fit_window as (
    select
        ($as_of_date::date + to_days(1) - to_months(cast($data_driven_months as integer)))::timestamp as fit_start,
        ($as_of_date::date + to_days(1))::timestamp as fit_end
),

first_purchases as (
    select orders.order_id, orders.customer_key, orders.order_ts as first_purchase_ts, orders.channel,
           orders.source, orders.medium, orders.campaign
    from marts.orders as orders
    cross join fit_window
    where orders.customer_type = 'new'
        and orders.order_ts >= fit_window.fit_start and orders.order_ts < fit_window.fit_end
),

buyers as (
    -- identities with a first purchase up to the as-of date: never a non-converting journey
    select customer_key from marts.orders
    where customer_type = 'new' and order_ts < ($as_of_date::date + to_days(1))::timestamp
),

customer_touches as (
    select customer_touches.customer_key, customer_touches.ts, customer_touches.channel
    from staging.customer_touches as customer_touches
    cross join fit_window
    where customer_touches.ts >= fit_window.fit_start - to_days(cast($lookback_days as integer))
        and customer_touches.ts < fit_window.fit_end
),

crm_customers as (
    select identifier_value as customer_id, customer_key
    from staging.customer_identifiers
    where identifier_kind = 'crm'
),

all_touches as (
    -- every touchpoint of the window (and of the look-back before it), known customer or not
    select
        coalesce(crm_customers.customer_key, visitor_customers.customer_key, 'visitor:' || touches.visitor_id) as identity,
        touches.ts,
        channel_map.channel
    from raw.touchpoints as touches
    cross join fit_window
    left join crm_customers on crm_customers.customer_id = touches.customer_id
    left join staging.visitor_customers as visitor_customers on visitor_customers.visitor_id = touches.visitor_id
    join staging.touch_tags as tags
        on tags.tag_key = staging.touch_tag_key(
            touches.utm_source, touches.utm_medium, touches.utm_campaign, touches.utm_content, touches.utm_term,
            touches.referrer, touches.click_id, touches.ts
        )
    join staging.channel_map as channel_map
        on channel_map.platform is null
        and channel_map.source is not distinct from tags.source
        and channel_map.medium is not distinct from tags.medium
        and channel_map.campaign is not distinct from tags.campaign
        and channel_map.referrer_host is not distinct from tags.referrer_host
        and channel_map.click_id_type is not distinct from tags.click_id_type
    where touches.ts >= fit_window.fit_start - to_days(cast($lookback_days as integer))
        and touches.ts < fit_window.fit_end
        and touches.visitor_id is not null
),

-- logic ctes
converting_touches as (
    -- 'touchpoint' sorts after 'order' descending: at equal times the order's own tags come last
    select 'purchase:' || first_purchases.order_id as journey_id, true as converted, customer_touches.ts as touch_ts,
           'touchpoint' as touch_origin, customer_touches.channel
    from first_purchases
    join customer_touches
        on customer_touches.customer_key = first_purchases.customer_key
        and customer_touches.ts <= first_purchases.first_purchase_ts
        and customer_touches.ts >= first_purchases.first_purchase_ts - to_days(cast($lookback_days as integer))
    union all
    select 'purchase:' || order_id, true, first_purchase_ts, 'order', channel
    from first_purchases
    where coalesce(source, medium, campaign) is not null
),

non_buyer_touches as (
    select all_touches.*
    from all_touches
    anti join buyers on buyers.customer_key = all_touches.identity
),

last_touches as (
    -- the identity's last touch in the window; an identity touching only in the look-back before it has none
    select non_buyer_touches.identity, max(non_buyer_touches.ts) as last_ts
    from non_buyer_touches
    cross join fit_window
    where non_buyer_touches.ts >= fit_window.fit_start
    group by non_buyer_touches.identity
),

non_converting_touches as (
    select non_buyer_touches.identity as journey_id, false as converted, non_buyer_touches.ts as touch_ts,
           'touchpoint' as touch_origin, non_buyer_touches.channel
    from non_buyer_touches
    join last_touches
        on last_touches.identity = non_buyer_touches.identity
        and non_buyer_touches.ts <= last_touches.last_ts
        and non_buyer_touches.ts >= last_touches.last_ts - to_days(cast($lookback_days as integer))
),

journey_touches as (
    select * from converting_touches
    union all
    select * from non_converting_touches
),

ordered as (
    select
        journey_id,
        converted,
        channel,
        lag(channel) over (partition by journey_id order by touch_ts, touch_origin desc, channel) as previous_channel,
        row_number() over (partition by journey_id order by touch_ts, touch_origin desc, channel) as touch_number
    from journey_touches
),

final as (
    -- consecutive repeats of one channel count once: a journey's steps are its touches whose channel
    -- differs from the touch before; `step` orders them (numbered among all touches: gaps are repeats)
    select journey_id, converted, touch_number as step, channel
    from ordered
    where previous_channel is null or previous_channel <> channel
)

select * from final
