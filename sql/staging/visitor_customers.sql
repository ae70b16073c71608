-- materialized: table
-- Web visitors linked to customers through orders that carry both a visitor id and a customer.
with orders as (
    select visitor_id, customer_key, order_ts, order_id from staging.orders
)

-- a visitor seen on orders of several customers (a shared device) goes to the strongest identity
-- (CRM, then e-mail, phone, visitor), then to the customer of its earliest order; any order counts,
-- cancelled ones too, since it still proves who used the browser
select
    visitor_id,
    arg_min(
        customer_key,
        (
            case split_part(customer_key, ':', 1)
                when 'crm' then 1 when 'email' then 2 when 'phone' then 3 when 'visitor' then 4 else 5
            end,
            order_ts,
            order_id
        )
    ) as customer_key
from orders
where visitor_id is not null
group by visitor_id
