-- materialized: incremental by first_purchase_ts since $attribution_start
-- Credits of every first purchase to the touches before it under all eight attribution models, stored
-- wide: one row per touch (one per first purchase without any touch, to `unattributed`) with a credit
-- column per model, so adding a model adds a column, never rows. marts.attribution is the long view of
-- it (one row per touch x model with a credit > 0) that analysts and the downstream marts read.
-- Only first purchases from $attribution_start on are recomputed: the run's months, or earlier when an
-- older first purchase changed (pipelines/transform/params.py: attribution_start), so a nightly run reads the
-- touches of the last months, not of the whole history.
-- Data-driven models (markov, shapley): marts.channel_weights is refitted every run over the journeys of
-- the last attribution.data_driven_months months; the purchases this write (re)credits get the weights of
-- this run's fit (weights_fit_end = its as-of date), split over each purchase's own distinct channels in
-- proportion to the weights and within a channel equally over its touches. Which purchases a run
-- re-credits: those from $attribution_start as for the rule models, and, when the refitted weights differ
-- from those the stored credits of the fit window used, every first purchase from the month of the
-- window's earliest one credited with other weights (pipelines/transform/models/data_driven.py logs that
-- write; params.attribution_restate_start follows it). Those older purchases' touches did not change:
-- restated/attribution_credits.sql re-credits their stored rows with the same formula as here, without
-- reading a touch (on Spark this select recomputes them). So a nightly run costs the fit window at most,
-- never the whole history; first purchases older than the fit window keep the credits of the last fit
-- that covered them (a full rebuild credits them with the current fit).
-- A purchase whose channels all weigh 0 (none seen in the fit window) falls back to linear credits.
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

weights as (
    -- this run's fit (pipelines/transform/models/data_driven.py), one row per channel; a channel it never saw weighs 0
    select
        channel,
        max(case when attribution_model = 'markov' then weight end) as markov_weight,
        max(case when attribution_model = 'shapley' then weight end) as shapley_weight
    from marts.channel_weights
    where fit_end = $as_of_date::date
    group by channel
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
    inner join customer_touches
        on
            customer_touches.customer_key = first_purchases.customer_key
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
    -- files give the same credits; at equal times the order's own tags come last. Every window is over the
    -- purchase (or the purchase's channel) and each level computes all it can: a window level costs a pass
    -- over the touches
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
        epoch(first_purchase_ts - touch_ts) / 86400.0 as days_before,
        min(epoch(first_purchase_ts - touch_ts) / 86400.0) over (partition by order_id) as nearest_days_before,
        count(*) over (partition by order_id, channel) as channel_touches
    from touches
),

weighted as (
    select
        ordered.*,
        -- 2^(-dt / half-life), measured from the nearest touch so far-off touches cannot underflow all to 0
        pow(2.0, -(days_before - nearest_days_before) / $half_life_days) as decay_weight,
        -- w(c) / n(c) per touch: summed over a purchase's touches it is the sum of the weights of its distinct channels
        coalesce(weights.markov_weight, 0) / channel_touches as markov_share,
        coalesce(weights.shapley_weight, 0) / channel_touches as shapley_share
    from ordered
    left join weights on weights.channel = ordered.channel
),

shared as (
    select
        weighted.*,
        -- the latest non-direct touch; every touch direct: the latest touch
        coalesce(
            max(case when channel <> 'direct' then touch_position end) over (partition by order_id),
            touch_count
        ) as last_non_direct_position,
        -- summed exactly (DECIMAL), so the credits do not depend on the order threads add the touches in
        decay_weight / sum(cast(decay_weight as decimal(38, 18))) over (partition by order_id)::double as decay_credit,
        sum(cast(markov_share as decimal(38, 18))) over (partition by order_id)::double as markov_total,
        sum(cast(shapley_share as decimal(38, 18))) over (partition by order_id)::double as shapley_total
    from weighted
),

credited as (
    select
        order_id,
        customer_key,
        touch_ts,
        channel,
        first_purchase_ts,
        touch_position,
        touch_count,
        touch_origin,
        source,
        medium,
        campaign,
        cast(case when touch_position = 1 then 1 else 0 end as double) as credit_first_touch,
        cast(case when touch_position = touch_count then 1 else 0 end as double) as credit_last_touch,
        cast(case when touch_position = last_non_direct_position then 1 else 0 end as double) as credit_last_non_direct,
        cast(1.0 / touch_count as double) as credit_linear,
        decay_credit as credit_time_decay,
        cast(case
            when touch_count = 1 then 1.0
            when touch_count = 2 then 0.5
            when touch_position = 1 or touch_position = touch_count then 0.4
            else 0.2 / (touch_count - 2)
        end as double) as credit_position_based,
        -- all of the purchase's channels weigh 0: linear
        data_driven_credit(markov_share, markov_total, touch_count) as credit_markov,
        data_driven_credit(shapley_share, shapley_total, touch_count) as credit_shapley,
        $as_of_date::date as weights_fit_end
    from shared
),

unattributed as (
    -- a first purchase with no touch at all: one row, all credit to `unattributed` under every model
    select
        first_purchases.order_id,
        first_purchases.customer_key,
        null::timestamp as touch_ts,
        'unattributed' as channel,
        first_purchases.first_purchase_ts,
        null::bigint as touch_position,
        0::bigint as touch_count,
        'none' as touch_origin,
        null::varchar as source,
        null::varchar as medium,
        null::varchar as campaign,
        1.0::double as credit_first_touch,
        1.0::double as credit_last_touch,
        1.0::double as credit_last_non_direct,
        1.0::double as credit_linear,
        1.0::double as credit_time_decay,
        1.0::double as credit_position_based,
        1.0::double as credit_markov,
        1.0::double as credit_shapley,
        $as_of_date::date as weights_fit_end
    from first_purchases
    anti join (select distinct order_id from touches) as touched on touched.order_id = first_purchases.order_id
)

-- every touch is kept (a model giving it nothing stores 0): one row per touch, whatever the number of models
select * from credited
union all
select * from unattributed
