-- restated since $attribution_restate_start
-- The stored credits of first purchases whose touches did not change, re-credited under this run's
-- data-driven weights: the rows of [$restate_start, $restate_end) as stored, with credit_markov,
-- credit_shapley and weights_fit_end computed again. marts.attribution_credits (../attribution_credits.sql)
-- recomputes from the touches only from $attribution_start, where data changed; before it, back to the
-- month the refitted weights reach (pipelines/transform/params.py: attribution_restate_start), the touches,
-- their order and the rule models' credits are those stored, so only the weights' share is redone here,
-- with the same shares as there and the same credit (the macro data_driven_credit). No touch is read.
with stored as (
    select
        order_id, customer_key, touch_ts, channel, first_purchase_ts, touch_position, touch_count, touch_origin,
        source, medium, campaign, credit_first_touch, credit_last_touch, credit_last_non_direct, credit_linear,
        credit_time_decay, credit_position_based
    from marts.attribution_credits
    where first_purchase_ts >= $restate_start and first_purchase_ts < $restate_end
),

weights as (
    select
        channel,
        max(case when attribution_model = 'markov' then weight end) as markov_weight,
        max(case when attribution_model = 'shapley' then weight end) as shapley_weight
    from marts.channel_weights
    where fit_end = $as_of_date::date
    group by channel
),

shares as (
    select
        stored.*,
        coalesce(weights.markov_weight, 0) / count(*) over (partition by stored.order_id, stored.channel) as markov_share,
        coalesce(weights.shapley_weight, 0) / count(*) over (partition by stored.order_id, stored.channel) as shapley_share
    from stored
    left join weights on weights.channel = stored.channel
),

totals as (
    select
        shares.*,
        sum(cast(markov_share as decimal(38, 18))) over (partition by order_id)::double as markov_total,
        sum(cast(shapley_share as decimal(38, 18))) over (partition by order_id)::double as shapley_total
    from shares
)

select
    totals.* exclude (markov_share, shapley_share, markov_total, shapley_total),
    data_driven_credit(markov_share, markov_total, touch_count) as credit_markov,
    data_driven_credit(shapley_share, shapley_total, touch_count) as credit_shapley,
    $as_of_date::date as weights_fit_end
from totals
