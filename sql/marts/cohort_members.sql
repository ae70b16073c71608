-- materialized: table
-- Who belongs to which acquisition cohort, with what weight: one row per customer x attribution model
-- x channel credited for the customer's first purchase. The one place where credits become cohort
-- weights; cohort_ltv, channel_ltv and channel_summary all read it.

with

-- import ctes
first_purchases as (
    select customer_key, order_id, first_purchase_ts, acquisition_month
    from marts.first_purchases
),

attribution as (
    select order_id, attribution_model, channel, credit
    from marts.attribution
),

orders as (
    select customer_key, order_ts
    from marts.orders
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

-- Every model seen in attribution, plus the default one, so a warehouse with no touches at all
-- (e.g. orders without any channel data) still has cohorts under the headline model.
models as (
    select distinct attribution_model from attribution
    union
    select $default_model::varchar as attribution_model
),

-- Several touches of one channel add up (linear, time decay...).
credited as (
    select
        acquired.customer_key,
        acquired.cohort_month,
        attribution.attribution_model,
        attribution.channel,
        exact_sum(attribution.credit) as credit
    from acquired
    inner join attribution on attribution.order_id = acquired.order_id
    group by all
),

-- METRICS.md: credits sum to 1 per first purchase and model. Whatever a model leaves unassigned
-- (a first purchase with no attribution rows at all) goes to `unattributed`, so the weighted cohort
-- size always equals its number of customers. The 1e-9 ignores floating-point dust.
assigned as (
    select customer_key, attribution_model, sum(credit) as credit
    from credited
    group by all
),

unassigned as (
    select
        acquired.customer_key,
        acquired.cohort_month,
        models.attribution_model,
        'unattributed' as channel,
        1 - coalesce(assigned.credit, 0) as credit
    from acquired
    cross join models
    left join assigned
        on assigned.customer_key = acquired.customer_key
        and assigned.attribution_model = models.attribution_model
    where 1 - coalesce(assigned.credit, 0) > 1e-9
),

members as (
    -- an `unattributed` remainder adds to an `unattributed` credit the customer already has (a join
    -- against the few remainders, not a second grouping of every credit)
    select
        credited.customer_key,
        credited.cohort_month,
        credited.attribution_model,
        credited.channel,
        credited.credit + coalesce(unassigned.credit, 0) as credit
    from credited
    left join unassigned
        on unassigned.customer_key = credited.customer_key
        and unassigned.attribution_model = credited.attribution_model
        and unassigned.channel = credited.channel
    where credited.credit > 0
    union all
    select unassigned.customer_key, unassigned.cohort_month, unassigned.attribution_model, unassigned.channel, unassigned.credit
    from unassigned
    anti join credited
        on credited.customer_key = unassigned.customer_key
        and credited.attribution_model = unassigned.attribution_model
        and credited.channel = unassigned.channel
),

-- Valid orders (marts.orders holds only those) up to the as-of date, first purchase included:
-- the base of orders per customer and the repeat purchase rate.
order_counts as (
    select orders.customer_key, count(*) as orders
    from orders
    cross join as_of
    where orders.order_ts::date <= as_of.as_of_date
    group by all
),

final as (
    select
        members.customer_key,
        members.cohort_month,
        members.attribution_model,
        members.channel,
        members.credit::double as credit,
        coalesce(order_counts.orders, 0)::integer as orders
    from members
    left join order_counts using (customer_key)
)

select * from final
