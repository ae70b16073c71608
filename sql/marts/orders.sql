-- materialized: table
-- Valid orders (paid/completed, not fully refunded) in the reporting currency, each marked new or repeat.
with orders as (
    select * from staging.orders
),

channel_map as (
    select * from staging.channel_map
),

valid as (
    -- cancelled and fully refunded orders count nowhere: left out before the first purchase is picked,
    -- so a fully refunded first purchase hands "first" to the customer's next valid order
    select * from orders where is_valid
),

numbers as (
    -- docs/metrics.md: earliest valid order, ties broken by order id. Numbered on the three columns it
    -- needs and joined back: a window carries every column it is given through its sort
    select
        order_id,
        row_number() over (partition by customer_key order by order_ts, order_id) as customer_order_number
    from staging.orders
    where is_valid
),

ranked as (
    select valid.*, numbers.customer_order_number
    from valid
    inner join numbers on numbers.order_id = valid.order_id
),

with_margin as (
    select
        ranked.*,
        coalesce(revenue - cost_of_goods, revenue * $default_margin_rate) as margin,
        cost_of_goods is null as margin_estimated
    from ranked
)

select
    with_margin.order_id,
    with_margin.customer_key,
    with_margin.order_ts,
    with_margin.order_date,
    date_trunc('month', with_margin.order_ts)::date as order_month,
    with_margin.revenue,
    with_margin.cost_of_goods,
    with_margin.margin,
    with_margin.margin_estimated,
    with_margin.refunded_amount,
    with_margin.refunded_at,
    -- a partial refund takes back the order's own margin rate on the refunded amount
    case
        when with_margin.revenue > 0 then with_margin.refunded_amount * with_margin.margin / with_margin.revenue
        else 0.0
    end as refund_margin,
    case when with_margin.customer_order_number = 1 then 'new' else 'repeat' end as customer_type,
    with_margin.customer_order_number,
    -- the order's own channel, from its UTM tags (no tags: direct)
    channel_map.channel,
    with_margin.source,
    with_margin.medium,
    with_margin.campaign,
    with_margin.content,
    with_margin.term,
    with_margin.visitor_id,
    with_margin.customer_id,
    with_margin.currency,
    with_margin.fx_rate
from with_margin
inner join channel_map
    on
        channel_map.source is not distinct from with_margin.source
        and channel_map.medium is not distinct from with_margin.medium
        and channel_map.campaign is not distinct from with_margin.campaign
        and channel_map.referrer_host is null
        and channel_map.click_id_type is null
        and channel_map.platform is null
