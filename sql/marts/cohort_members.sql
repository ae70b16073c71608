-- materialized: incremental by cohort_month since $attribution_rewrites_start
-- Who belongs to which acquisition cohort, with what weight: one row per customer x attribution model
-- x channel credited for the customer's first purchase. The one place where credits become cohort
-- weights; cohort_ltv, channel_ltv and channel_summary all read it.
-- Every first purchase has credits summing to 1 under each of the six models (marts.attribution gives
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

attribution as (
    select order_id, attribution_model, channel, credit
    from marts.attribution
    where first_purchase_ts >= $attribution_rewrites_start and first_purchase_ts < $range_end
),

credited_purchases as (
    -- the purchases with credits, read again rather than from the CTE above: a CTE read twice is
    -- materialised, here eight rows per touch (~3 s at 1 M orders)
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

-- Several touches of one channel add up (linear, time decay...): summed per purchase (a short key)
-- before the customer's columns are joined on, exactly (exact_sum: the same whatever order DuckDB's or
-- Spark's threads deliver the touches in). A time-decay credit a year away (2^-52 at the default
-- half-life) rounds to 0 in exact_sum's DECIMAL(38, 10): where all of a channel's credits do, it keeps the
-- largest of them, never 0, so no touch's credit is lost (the purchase's total stays 1 within 1e-9).
credited as (
    select
        order_id,
        attribution_model,
        channel,
        case when exact_sum(credit) > 0 then exact_sum(credit) else max(credit) end as credit
    from attribution
    where credit > 0
    group by all
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
