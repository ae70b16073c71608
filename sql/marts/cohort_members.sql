-- materialized: incremental by cohort_month since $attribution_rewrites_start
-- Who belongs to which acquisition cohort, with what weight: one row per customer x attribution model
-- x channel credited for the customer's first purchase. The one place where credits become cohort
-- weights; cohort_ltv, channel_ltv and channel_summary all read it.
-- Every first purchase has credits summing to 1 under each model (marts.attribution gives
-- a purchase without touches to `unattributed`; a blocking check verifies the sums before publishing),
-- so the weighted size of a cohort is its number of customers.
-- Only cohorts from $attribution_rewrites_start on are recomputed: the run's months, or the oldest month whose
-- credits marts.attribution rewrote since (pipelines/transform/params.py: rewritten_since). Nothing here changes
-- when an older customer orders again (order counts live in marts.cohort_ltv), so older cohorts keep.

with

-- import ctes
first_purchases as (
    select customer_key, order_id, first_purchase_ts, acquisition_month
    from marts.first_purchases
    where first_purchase_ts >= $attribution_rewrites_start and first_purchase_ts < $range_end
),

credits as (
    select
        order_id,
        channel,
        credit_first_touch,
        credit_last_touch,
        credit_last_non_direct,
        credit_linear,
        credit_time_decay,
        credit_position_based,
        credit_markov,
        credit_shapley
    from marts.attribution_credits
    where first_purchase_ts >= $attribution_rewrites_start and first_purchase_ts < $range_end
),

credited_purchases as (
    -- the purchases with a positive credit under some model (a row in the long view), read from the view
    -- rather than derived from the credits above: a CTE read twice is materialised, one row per touch
    select distinct order_id
    from marts.attribution
    where first_purchase_ts >= $attribution_rewrites_start and first_purchase_ts < $range_end
),

-- logic ctes
as_of as (
    select $as_of_date::date as as_of_date
),

-- A cohort is an as-of view: customers first buying after the as-of date are not in it yet.
acquired as (
    select
        fp.customer_key,
        fp.order_id,
        date_trunc('month', fp.acquisition_month)::date as cohort_month
    from first_purchases as fp
    cross join as_of
    where fp.first_purchase_ts::date <= as_of.as_of_date
),

-- Several touches of one channel add up (linear, time decay...): summed per purchase and channel on the
-- stored rows, one per touch with a column per model, before they become one row per model (eight times
-- fewer rows to group than marts.attribution's), and exactly (exact_total: the same whatever order DuckDB's
-- or Spark's threads deliver the touches in). A time-decay credit a year away (2^-52 at the default
-- half-life) rounds to 0 in DECIMAL(38, 10): where all of a channel's credits do, it keeps the largest of
-- them, never 0, so no touch's credit is lost (the purchase's total stays 1 within 1e-9). The models are
-- spelled out as in marts.attribution.
channel_credits as (
    select
        order_id,
        channel,
        exact_total(case when credit_first_touch > 0 then credit_first_touch end) as total_first_touch,
        max(case when credit_first_touch > 0 then credit_first_touch end) as largest_first_touch,
        exact_total(case when credit_last_touch > 0 then credit_last_touch end) as total_last_touch,
        max(case when credit_last_touch > 0 then credit_last_touch end) as largest_last_touch,
        exact_total(case when credit_last_non_direct > 0 then credit_last_non_direct end) as total_last_non_direct,
        max(case when credit_last_non_direct > 0 then credit_last_non_direct end) as largest_last_non_direct,
        exact_total(case when credit_linear > 0 then credit_linear end) as total_linear,
        max(case when credit_linear > 0 then credit_linear end) as largest_linear,
        exact_total(case when credit_time_decay > 0 then credit_time_decay end) as total_time_decay,
        max(case when credit_time_decay > 0 then credit_time_decay end) as largest_time_decay,
        exact_total(case when credit_position_based > 0 then credit_position_based end) as total_position_based,
        max(case when credit_position_based > 0 then credit_position_based end) as largest_position_based,
        exact_total(case when credit_markov > 0 then credit_markov end) as total_markov,
        max(case when credit_markov > 0 then credit_markov end) as largest_markov,
        exact_total(case when credit_shapley > 0 then credit_shapley end) as total_shapley,
        max(case when credit_shapley > 0 then credit_shapley end) as largest_shapley
    from credits
    group by order_id, channel
),

-- one row per purchase, channel and model; a model with no positive credit to the channel has no largest
model_credits as (
    select
        channel_credits.order_id,
        model_names.attribution_model,
        channel_credits.channel,
        case model_names.attribution_model
            when 'first_touch' then channel_credits.total_first_touch
            when 'last_touch' then channel_credits.total_last_touch
            when 'last_non_direct' then channel_credits.total_last_non_direct
            when 'linear' then channel_credits.total_linear
            when 'time_decay' then channel_credits.total_time_decay
            when 'position_based' then channel_credits.total_position_based
            when 'markov' then channel_credits.total_markov
            when 'shapley' then channel_credits.total_shapley
        end as total,
        case model_names.attribution_model
            when 'first_touch' then channel_credits.largest_first_touch
            when 'last_touch' then channel_credits.largest_last_touch
            when 'last_non_direct' then channel_credits.largest_last_non_direct
            when 'linear' then channel_credits.largest_linear
            when 'time_decay' then channel_credits.largest_time_decay
            when 'position_based' then channel_credits.largest_position_based
            when 'markov' then channel_credits.largest_markov
            when 'shapley' then channel_credits.largest_shapley
        end as largest
    from channel_credits
    cross join (select unnest(staging.attribution_models()) as attribution_model) as model_names
),

credited as (
    select
        order_id,
        attribution_model,
        channel,
        case when total > 0 then total::double else largest end as credit
    from model_credits
    where largest is not null
),

-- every model seen in attribution (in any month), plus the default one
models as (
    select distinct attribution_model from marts.attribution
    union
    select $default_model::varchar
),

-- A first purchase without any attribution rows (only in hand-made inputs: marts.attribution credits
-- every first purchase) is `unattributed` under every model, so the cohort still counts it.
unattributed as (
    select acquired.order_id, models.attribution_model, 'unattributed' as channel, 1.0 as credit
    from acquired
    anti join credited_purchases on credited_purchases.order_id = acquired.order_id
    cross join models
),

final as (
    select
        acquired.customer_key,
        acquired.cohort_month,
        weights.attribution_model,
        weights.channel,
        weights.credit
    from (
        select * from credited
        union all
        select * from unattributed
    ) as weights
    inner join acquired on acquired.order_id = weights.order_id
)

select * from final
