-- materialized: incremental by first_purchase_ts since $attribution_start
-- Credits of every first purchase to the touches before it, under each of the six attribution models.
-- Only first purchases from $attribution_start on are recomputed: the run's months, or earlier when an
-- older first purchase changed (pipelines/transform.py: attribution_start), so a nightly run reads the
-- touches of the last months, not of the whole history.
with first_purchases as (
    select order_id, customer_key, order_ts as first_purchase_ts, channel, source, medium, campaign, content, term
    from marts.orders
    where customer_type = 'new' and order_ts >= $attribution_start and order_ts < $range_end
),

customer_touches as (
    -- the look-back reaches before the window; this filter reaches raw.touchpoints, whose row groups
    -- are skipped by their ts ranges
    select *
    from staging.customer_touches
    where ts >= $attribution_start::timestamp - to_days(cast($lookback_days as integer)) and ts < $range_end
),

models as (
    select * from (values
        ('first_touch'), ('last_touch'), ('last_non_direct'), ('linear'), ('time_decay'), ('position_based')
    ) as m(attribution_model)
),

web_touches as (
    -- touches with time <= the first purchase and >= it - lookback
    select
        first_purchases.order_id,
        first_purchases.customer_key,
        first_purchases.first_purchase_ts,
        customer_touches.ts as touch_ts,
        'touchpoint' as touch_origin,
        customer_touches.channel,
        customer_touches.source,
        customer_touches.medium,
        customer_touches.campaign,
        customer_touches.content,
        customer_touches.term,
        customer_touches.referrer_host,
        customer_touches.click_id_type
    from first_purchases
    join customer_touches
        on customer_touches.customer_key = first_purchases.customer_key
        and customer_touches.ts <= first_purchases.first_purchase_ts
        and customer_touches.ts >= first_purchases.first_purchase_ts - to_days(cast($lookback_days as integer))
),

order_touches as (
    -- the order's own UTM tags are a touch at order time; an order without source, medium or campaign is none
    select
        order_id,
        customer_key,
        first_purchase_ts,
        first_purchase_ts as touch_ts,
        'order' as touch_origin,
        channel,
        source,
        medium,
        campaign,
        content,
        term,
        null::varchar as referrer_host,
        null::varchar as click_id_type
    from first_purchases
    where coalesce(source, medium, campaign) is not null
),

touches as (
    select * from web_touches
    union all
    select * from order_touches
),

ordered as (
    -- touches at the same time are ordered by their content, never by input order, so re-ordered input
    -- files give the same credits; at equal times the order's own tags come last
    select
        touches.*,
        row_number() over (
            partition by order_id
            order by
                touch_ts, touch_origin desc, channel, source nulls first, medium nulls first,
                campaign nulls first, content nulls first, term nulls first,
                referrer_host nulls first, click_id_type nulls first
        ) as touch_position,
        count(*) over (partition by order_id) as touch_count,
        epoch(first_purchase_ts - touch_ts) / 86400.0 as days_before
    from touches
),

weighted as (
    select
        ordered.*,
        -- the latest non-direct touch; every touch direct: the latest touch
        coalesce(
            max(case when channel <> 'direct' then touch_position end) over (partition by order_id),
            touch_count
        ) as last_non_direct_position,
        -- 2^(-dt / half-life), measured from the nearest touch so far-off touches cannot underflow all to 0
        pow(2.0, -(days_before - min(days_before) over (partition by order_id)) / $half_life_days) as decay_weight
    from ordered
),

normalised as (
    select weighted.*, decay_weight / sum(decay_weight) over (partition by order_id) as decay_credit
    from weighted
),

credited as (
    select
        normalised.order_id,
        normalised.customer_key,
        models.attribution_model,
        normalised.touch_ts,
        normalised.channel,
        case models.attribution_model
            when 'first_touch' then case when touch_position = 1 then 1.0 else 0.0 end
            when 'last_touch' then case when touch_position = touch_count then 1.0 else 0.0 end
            when 'last_non_direct' then case when touch_position = last_non_direct_position then 1.0 else 0.0 end
            when 'linear' then 1.0 / touch_count
            when 'time_decay' then decay_credit
            when 'position_based' then
                case
                    when touch_count = 1 then 1.0
                    when touch_count = 2 then 0.5
                    when touch_position = 1 or touch_position = touch_count then 0.4
                    else 0.2 / (touch_count - 2)
                end
        end as credit,
        normalised.first_purchase_ts,
        normalised.touch_position,
        normalised.touch_count,
        normalised.touch_origin,
        normalised.source,
        normalised.medium,
        normalised.campaign
    from normalised
    cross join models
),

unattributed as (
    -- a first purchase with no touch at all: one row per model, all credit to `unattributed`
    select
        first_purchases.order_id,
        first_purchases.customer_key,
        models.attribution_model,
        null::timestamp as touch_ts,
        'unattributed' as channel,
        1.0 as credit,
        first_purchases.first_purchase_ts,
        null::bigint as touch_position,
        0::bigint as touch_count,
        'none' as touch_origin,
        null::varchar as source,
        null::varchar as medium,
        null::varchar as campaign
    from first_purchases
    anti join (select distinct order_id from touches) as touched on touched.order_id = first_purchases.order_id
    cross join models
)

-- touches a model gives nothing (e.g. all but one under first_touch) are left out
select * from credited where credit > 0
union all
select * from unattributed
