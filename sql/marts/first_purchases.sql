-- materialized: table
-- One row per new customer: the first valid order, and the channel the default attribution model credits.
with orders as (
    select * from marts.orders where customer_type = 'new'
),

attribution as (
    select * from marts.attribution where attribution_model = $default_model
),

main_channel as (
    -- the channel with the largest credit under the default model (last_non_direct gives exactly one);
    -- ties go to the later touch, then the channel name
    select order_id, channel, touch_count
    from attribution
    qualify row_number() over (
        partition by order_id order by credit desc, touch_position desc nulls last, channel
    ) = 1
)

select
    orders.customer_key,
    orders.order_id,
    orders.order_ts as first_purchase_ts,
    orders.order_date as acquisition_date,
    orders.order_month as acquisition_month,
    orders.revenue,
    orders.margin,
    main_channel.channel,
    orders.channel as order_channel,
    main_channel.touch_count
from orders
inner join main_channel on main_channel.order_id = orders.order_id
