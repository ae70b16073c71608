-- materialized: incremental by period_start per period_grain since $attribution_rewrites_start
-- CAC per period grain, period, channel and attribution model, with the costs behind it (docs/metrics.md).
-- A run rewrites its own periods, and older ones whose credits marts.attribution rewrote since
-- (pipelines/transform/params.py: rewritten_since). Every input is read from $rewrite_start on: a rewritten
-- period starts on or after it, so older rows could only reach periods that are kept.
with grains as (
    select unnest(cast($grains as varchar[])) as period_grain
),

models as (
    select unnest(staging.attribution_models()) as attribution_model
),

orders as (
    select order_date, customer_type, channel from marts.orders where order_date >= $rewrite_start
),

attribution as (
    select
        attribution.first_purchase_ts::date as date,
        attribution.attribution_model,
        attribution.channel,
        attribution.credit,
        first_purchases.revenue
    from marts.attribution
    inner join marts.first_purchases on first_purchases.order_id = attribution.order_id
    where attribution.first_purchase_ts >= $rewrite_start
),

ad_spend as (
    select date, channel, spend, impressions, clicks
    from staging.ad_spend_channels
    where date >= $rewrite_start
),

costs_daily as (
    select date, channel, allocation, amount from staging.costs_daily where date >= $rewrite_start
),

spend_by_channel as (
    select
        grains.period_grain,
        date_trunc(grains.period_grain, ad_spend.date)::date as period_start,
        ad_spend.channel,
        exact_sum(ad_spend.spend) as ad_spend,
        cast(exact_sum(ad_spend.impressions) as bigint) as impressions,
        cast(exact_sum(ad_spend.clicks) as bigint) as clicks
    from ad_spend
    cross join grains
    group by all
),

direct_by_channel as (
    -- costs the CRM assigns to a channel; their allocation field is ignored
    select
        grains.period_grain,
        date_trunc(grains.period_grain, costs_daily.date)::date as period_start,
        costs_daily.channel,
        exact_sum(costs_daily.amount) as direct_costs
    from costs_daily
    cross join grains
    where costs_daily.channel is not null
    group by all
),

new_by_day as (
    -- summed per day first (exactly: DECIMAL), then per period of every grain below, so the credits are
    -- grouped once rather than once per grain; the same sums as summing the credits per period
    select
        date,
        channel,
        attribution_model,
        exact_total(credit) as new_customers,
        exact_total(credit * revenue) as first_order_revenue
    from attribution
    group by all
),

new_by_channel as (
    -- new customers = the credits of first purchases in the period (fractional under multi-touch)
    select
        grains.period_grain,
        date_trunc(grains.period_grain, new_by_day.date)::date as period_start,
        new_by_day.channel,
        new_by_day.attribution_model,
        sum(new_by_day.new_customers)::double as new_customers,
        sum(new_by_day.first_order_revenue)::double as first_order_revenue
    from new_by_day
    cross join grains
    group by all
),

repeat_by_day as (
    -- repeat orders are not attributed by the models: they count for the channel of their own UTM tags
    select order_date, channel, count(*) as repeat_orders
    from orders
    where customer_type = 'repeat'
    group by all
),

repeat_by_channel as (
    select
        grains.period_grain,
        date_trunc(grains.period_grain, repeat_by_day.order_date)::date as period_start,
        repeat_by_day.channel,
        sum(repeat_by_day.repeat_orders)::bigint as repeat_orders
    from repeat_by_day
    cross join grains
    group by all
),

period_totals as (
    -- the period's orders, new customers, ad spend and shared-cost pools, as marts.blended_cac counts
    -- them: the allocation below divides exactly what the blended table accounts for
    select
        period_grain,
        period_start,
        orders as period_orders,
        new_customers as period_new_customers,
        ad_spend as period_ad_spend,
        shared_by_orders,
        shared_by_new_customers,
        shared_by_spend
    from marts.blended_cac
    where period_start >= $rewrite_start
),

channel_keys as (
    -- every channel with spend, direct costs or repeat orders gets a row under every model; channels
    -- with credited first purchases get one under the models that credit them
    select keys.period_grain, keys.period_start, keys.channel, models.attribution_model
    from (
        select period_grain, period_start, channel from spend_by_channel
        union
        select period_grain, period_start, channel from direct_by_channel
        union
        select period_grain, period_start, channel from repeat_by_channel
    ) as keys
    cross join models
    union
    select period_grain, period_start, channel, attribution_model from new_by_channel
),

joined as (
    select
        channel_keys.period_grain,
        channel_keys.period_start,
        channel_keys.channel,
        channel_keys.attribution_model,
        coalesce(spend_by_channel.impressions, 0) as impressions,
        coalesce(spend_by_channel.clicks, 0) as clicks,
        coalesce(spend_by_channel.ad_spend, 0.0) as ad_spend,
        coalesce(direct_by_channel.direct_costs, 0.0) as direct_costs,
        coalesce(new_by_channel.new_customers, 0.0) as new_customers,
        coalesce(new_by_channel.first_order_revenue, 0.0) as first_order_revenue,
        coalesce(repeat_by_channel.repeat_orders, 0) as repeat_orders,
        coalesce(period_totals.period_orders, 0) as period_orders,
        coalesce(period_totals.period_new_customers, 0) as period_new_customers,
        coalesce(period_totals.period_ad_spend, 0.0) as period_ad_spend,
        coalesce(period_totals.shared_by_orders, 0.0) as shared_by_orders,
        coalesce(period_totals.shared_by_new_customers, 0.0) as shared_by_new_customers,
        coalesce(period_totals.shared_by_spend, 0.0) as shared_by_spend
    from channel_keys
    left join spend_by_channel using (period_grain, period_start, channel)
    left join direct_by_channel using (period_grain, period_start, channel)
    left join repeat_by_channel using (period_grain, period_start, channel)
    left join new_by_channel using (period_grain, period_start, channel, attribution_model)
    left join period_totals using (period_grain, period_start)
),

allocated as (
    -- a rule whose denominator is 0 in the period allocates nothing: that cost shows in
    -- marts.blended_cac.unallocated_costs instead
    select
        joined.*,
        case when period_orders > 0 then shared_by_orders * new_customers / period_orders else 0.0 end
        + case when period_new_customers > 0 then shared_by_new_customers * new_customers / period_new_customers else 0.0 end
        + case when period_ad_spend <> 0 then shared_by_spend * ad_spend / period_ad_spend else 0.0 end
            as allocated_costs
    from joined
),

costed as (
    select
        allocated.*,
        ad_spend + direct_costs + allocated_costs as total_cost,
        new_customers + repeat_orders as attributed_orders,
        last_day_of_period(period_grain, period_start) as period_end
    from allocated
)

select
    period_grain,
    period_start,
    period_end,
    -- lived through: the period ended on or before the as-of date
    period_end <= $as_of_date as period_complete,
    channel,
    attribution_model,
    impressions,
    clicks,
    ad_spend,
    direct_costs,
    allocated_costs,
    total_cost,
    new_customers,
    attributed_orders,
    first_order_revenue,
    -- no new customers: CAC is NULL, never 0 or infinity; the spend still shows
    case when new_customers > 0 then ad_spend / new_customers end as cac_paid,
    case when new_customers > 0 then total_cost / new_customers end as cac_full,
    case when impressions > 0 then clicks / impressions end as ctr,
    case when clicks > 0 then ad_spend / clicks end as cpc,
    case when impressions > 0 then ad_spend * 1000.0 / impressions end as cpm,
    case when clicks > 0 then new_customers / clicks end as conversion_rate,
    case when attributed_orders > 0 then ad_spend / attributed_orders end as cpa,
    case when ad_spend > 0 then first_order_revenue / ad_spend end as roas_first_order
from costed
