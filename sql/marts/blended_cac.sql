-- materialized: incremental by period_start per period_grain since $attribution_start
-- Blended CAC per period grain and period (model-independent), accounting for every cost of the period
-- once: ad_spend + direct_costs + allocated_costs + retention_costs + unallocated_costs = total_cost.
-- A run rewrites its own periods, and older ones whose first purchases changed since (a guest linked
-- to a CRM record can move a new customer to another month): pipelines/transform/params.py, attribution_start.
-- Inputs are read from $rewrite_start on, where the first rewritten period starts.
with grains as (
    select unnest(cast($grains as varchar[])) as period_grain
),

orders as (
    select order_date, customer_type, revenue from marts.orders where order_date >= $rewrite_start
),

ad_spend as (
    select date, spend, impressions, clicks from staging.ad_spend where date >= $rewrite_start
),

costs_daily as (
    select date, channel, allocation, amount from staging.costs_daily where date >= $rewrite_start
),

orders_by_day as (
    -- per day first (exactly: DECIMAL), then per period of every grain: the orders are grouped once
    select
        order_date,
        count(*) as orders,
        count(*) filter (where customer_type = 'new') as new_customers,
        exact_total(case when customer_type = 'new' then revenue end) as first_order_revenue
    from orders
    group by all
),

orders_by_period as (
    select
        grains.period_grain,
        date_trunc(grains.period_grain, orders_by_day.order_date)::date as period_start,
        sum(orders_by_day.orders)::bigint as orders,
        sum(orders_by_day.new_customers)::bigint as new_customers,
        coalesce(sum(orders_by_day.first_order_revenue)::double, 0) as first_order_revenue
    from orders_by_day
    cross join grains
    group by all
),

spend_by_period as (
    select
        grains.period_grain,
        date_trunc(grains.period_grain, ad_spend.date)::date as period_start,
        exact_sum(ad_spend.spend) as ad_spend,
        cast(exact_sum(ad_spend.impressions) as bigint) as impressions,
        cast(exact_sum(ad_spend.clicks) as bigint) as clicks
    from ad_spend
    cross join grains
    group by all
),

costs_by_period as (
    select
        grains.period_grain,
        date_trunc(grains.period_grain, costs_daily.date)::date as period_start,
        coalesce(exact_sum(case when costs_daily.channel is not null then costs_daily.amount end), 0) as direct_costs,
        coalesce(exact_sum(case when costs_daily.channel is null and costs_daily.allocation = 'orders' then costs_daily.amount end), 0) as by_orders,
        coalesce(exact_sum(case when costs_daily.channel is null and costs_daily.allocation = 'new_customers' then costs_daily.amount end), 0)
            as by_new_customers,
        coalesce(exact_sum(case when costs_daily.channel is null and costs_daily.allocation = 'spend' then costs_daily.amount end), 0) as by_spend,
        -- 'none' and any rule the pipeline does not know: allocated to no channel
        coalesce(
            exact_sum(case when costs_daily.channel is null and costs_daily.allocation not in ('orders', 'new_customers', 'spend') then costs_daily.amount end),
            0
        ) as by_none
    from costs_daily
    cross join grains
    group by all
),

periods as (
    select period_grain, period_start from orders_by_period
    union
    select period_grain, period_start from spend_by_period
    union
    select period_grain, period_start from costs_by_period
),

joined as (
    select
        periods.period_grain,
        periods.period_start,
        coalesce(spend_by_period.ad_spend, 0.0) as ad_spend,
        coalesce(spend_by_period.impressions, 0) as impressions,
        coalesce(spend_by_period.clicks, 0) as clicks,
        coalesce(orders_by_period.orders, 0) as orders,
        coalesce(orders_by_period.new_customers, 0) as new_customers,
        coalesce(orders_by_period.first_order_revenue, 0.0) as first_order_revenue,
        coalesce(costs_by_period.direct_costs, 0.0) as direct_costs,
        coalesce(costs_by_period.by_orders, 0.0) as by_orders,
        coalesce(costs_by_period.by_new_customers, 0.0) as by_new_customers,
        coalesce(costs_by_period.by_spend, 0.0) as by_spend,
        coalesce(costs_by_period.by_none, 0.0) as by_none
    from periods
    left join orders_by_period using (period_grain, period_start)
    left join spend_by_period using (period_grain, period_start)
    left join costs_by_period using (period_grain, period_start)
),

split as (
    -- marts.channel_period_cac divides the same pools among channels: the channels' shares of each rule
    -- sum to the part counted here as allocated (credits of a first purchase sum to 1 under every model)
    select
        joined.*,
        case when orders > 0 then by_orders * new_customers / orders else 0.0 end
        + case when new_customers > 0 then by_new_customers else 0.0 end
        + case when ad_spend <> 0 then by_spend else 0.0 end as allocated_costs,
        -- the repeat-order share of 'orders' costs: retention, part of no CAC
        case when orders > 0 then by_orders * (orders - new_customers) / orders else 0.0 end as retention_costs,
        by_none
        + case when orders > 0 then 0.0 else by_orders end
        + case when new_customers > 0 then 0.0 else by_new_customers end
        + case when ad_spend <> 0 then 0.0 else by_spend end as unallocated_costs,
        last_day_of_period(period_grain, period_start) as period_end
    from joined
)

select
    period_grain,
    period_start,
    period_end,
    period_end <= $as_of_date as period_complete,
    impressions,
    clicks,
    ad_spend,
    direct_costs,
    allocated_costs,
    retention_costs,
    unallocated_costs,
    -- the shared-cost pools by allocation rule: marts.channel_period_cac divides these among channels
    by_orders as shared_by_orders,
    by_new_customers as shared_by_new_customers,
    by_spend as shared_by_spend,
    ad_spend + direct_costs + by_orders + by_new_customers + by_spend + by_none as total_cost,
    orders,
    new_customers,
    first_order_revenue,
    case when new_customers > 0 then ad_spend / new_customers end as cac_paid,
    -- fully loaded: every cost but the retention share (docs/metrics.md: 'none' costs count only here)
    case when new_customers > 0 then (ad_spend + direct_costs + allocated_costs + unallocated_costs) / new_customers end as cac_full,
    case when ad_spend > 0 then first_order_revenue / ad_spend end as roas_first_order
from split
