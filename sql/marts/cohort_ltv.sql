-- materialized: table
-- Acquisition cohorts month by month: one row per cohort_month x channel x attribution_model x
-- month_index k (0 = acquisition month), every amount weighted by the customer's attribution credit.
-- Month indexes run from 0 to the as-of month, so a young cohort has fewer rows; a month with no
-- orders inside that span gets a row of zeros (observed, not guessed); nothing after the as-of month.

with

-- import ctes
members as (
    select customer_key, cohort_month, attribution_model, channel, credit
    from marts.cohort_members
),

orders as (
    select customer_key, order_ts, customer_order_number, revenue, margin
    from marts.orders
),

-- logic ctes
as_of as (
    select
        $as_of_date::date as as_of_date,
        date_trunc('month', $as_of_date::date)::date as as_of_month
),

-- marts.orders keeps an order's full revenue and margin in its own month and the partial refund
-- separately (docs/metrics.md: a partial refund lowers revenue and margin in the month it happened).
order_months as (
    select
        orders.customer_key,
        date_trunc('month', orders.order_ts)::date as activity_month,
        count(*) as orders,
        -- the customer's second valid order: from this month on the customer is a repeat customer
        count(*) filter (where orders.customer_order_number = 2) as second_orders,
        exact_sum(orders.revenue) as revenue,
        exact_sum(orders.margin) as margin
    from orders
    cross join as_of
    where orders.order_ts::date <= as_of.as_of_date
    group by all
),

-- A refund recorded after the as-of date has not happened yet in this view. (Read from the table, like
-- the cohorts' sizes below: a CTE read twice is materialised, 56 M member rows at 100 M touches.)
refund_months as (
    select
        refunded_orders.customer_key,
        date_trunc('month', refunded_orders.refunded_at)::date as activity_month,
        exact_sum(coalesce(refunded_orders.refunded_amount, 0)) as refunded,
        exact_sum(coalesce(refunded_orders.refund_margin, 0)) as refund_margin
    from marts.orders as refunded_orders
    cross join as_of
    where
        refunded_orders.refunded_at is not null
        and refunded_orders.order_ts::date <= as_of.as_of_date
        and refunded_orders.refunded_at::date <= as_of.as_of_date
    group by all
),

customer_months as (
    select
        customer_key,
        activity_month,
        coalesce(order_months.orders, 0) as orders,
        coalesce(order_months.second_orders, 0) as second_orders,
        coalesce(order_months.revenue, 0) - coalesce(refund_months.refunded, 0) as revenue,
        coalesce(order_months.margin, 0) - coalesce(refund_months.refund_margin, 0) as margin
    from order_months
    full join refund_months using (customer_key, activity_month)
),

-- k = calendar months between the activity month and the acquisition month. Valid orders cannot
-- precede the first purchase; k < 0 is dropped in case upstream ever disagrees.
cohort_activity as (
    select
        members.cohort_month,
        members.channel,
        members.attribution_model,
        date_diff('month', members.cohort_month, customer_months.activity_month) as month_index,
        coalesce(exact_sum(case when customer_months.orders > 0 then members.credit end), 0) as active_customers,
        exact_sum(members.credit * customer_months.orders) as orders,
        exact_sum(members.credit * customer_months.second_orders) as new_repeat_customers,
        exact_sum(members.credit * customer_months.revenue) as revenue,
        exact_sum(members.credit * customer_months.margin) as margin
    from members
    inner join customer_months using (customer_key)
    where customer_months.activity_month >= members.cohort_month
    group by all
),

cohorts as (
    select cohort_month, channel, attribution_model, exact_sum(credit) as cohort_customers
    from marts.cohort_members
    group by all
),

-- Every month from the acquisition month to the as-of month, whether or not anyone ordered.
spine as (
    select
        cohorts.cohort_month,
        cohorts.channel,
        cohorts.attribution_model,
        cohorts.cohort_customers,
        unnest(range(0, date_diff('month', cohorts.cohort_month, as_of.as_of_month) + 1)) as month_index
    from cohorts
    cross join as_of
),

monthly as (
    select
        spine.cohort_month,
        spine.channel,
        spine.attribution_model,
        spine.month_index,
        spine.cohort_customers,
        coalesce(cohort_activity.active_customers, 0) as active_customers,
        coalesce(cohort_activity.orders, 0) as orders,
        coalesce(cohort_activity.new_repeat_customers, 0) as new_repeat_customers,
        coalesce(cohort_activity.revenue, 0) as revenue,
        coalesce(cohort_activity.margin, 0) as margin
    from spine
    left join cohort_activity using (cohort_month, channel, attribution_model, month_index)
),

final as (
    select
        monthly.cohort_month,
        monthly.channel,
        monthly.attribution_model,
        monthly.month_index::integer as month_index,
        (monthly.cohort_month + to_months(monthly.month_index))::date as activity_month,
        -- docs/metrics.md: a period is lived through only if it ended on or before the as-of date.
        last_day(monthly.cohort_month + to_months(monthly.month_index)) <= as_of.as_of_date as month_complete,
        monthly.cohort_customers::double as cohort_customers,
        monthly.active_customers::double as active_customers,
        (monthly.active_customers / monthly.cohort_customers)::double as retention_rate,
        monthly.orders::double as orders,
        (exact_sum(monthly.new_repeat_customers) over cohort_to_date)::double as repeat_customers,
        monthly.revenue::double as revenue,
        monthly.margin::double as margin,
        (exact_sum(monthly.revenue) over cohort_to_date / monthly.cohort_customers)::double as cum_revenue_per_customer,
        (exact_sum(monthly.margin) over cohort_to_date / monthly.cohort_customers)::double as cum_margin_per_customer
    from monthly
    cross join as_of
    window cohort_to_date as (
        partition by monthly.cohort_month, monthly.channel, monthly.attribution_model
        order by monthly.month_index
        rows between unbounded preceding and current row
    )
)

select * from final
order by cohort_month, attribution_model, channel, month_index
