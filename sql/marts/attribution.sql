-- materialized: view
-- Credits of every first purchase to its touches, one row per touch x attribution model with a credit
-- > 0: the long view of marts.attribution_credits (one row per touch, a credit column per model), so the
-- eight models cost one stored row per touch. A filter on first_purchase_ts or attribution_model reaches
-- the stored table (the models are a constant list, staging.attribution_models(), crossed with it).
with models as (
    select unnest(staging.attribution_models()) as attribution_model
),

long as (
    select
        credits.order_id,
        credits.customer_key,
        models.attribution_model,
        credits.touch_ts,
        credits.channel,
        case models.attribution_model
            when 'first_touch' then credits.credit_first_touch
            when 'last_touch' then credits.credit_last_touch
            when 'last_non_direct' then credits.credit_last_non_direct
            when 'linear' then credits.credit_linear
            when 'time_decay' then credits.credit_time_decay
            when 'position_based' then credits.credit_position_based
            when 'markov' then credits.credit_markov
            when 'shapley' then credits.credit_shapley
        end as credit,
        credits.first_purchase_ts,
        credits.touch_position,
        credits.touch_count,
        credits.touch_origin,
        credits.source,
        credits.medium,
        credits.campaign
    from marts.attribution_credits as credits
    cross join models
)

select * from long where credit > 0
