-- materialized: python
-- Every identifier (CRM id, e-mail key, phone key, web visitor id) with the customer it belongs to: its
-- connected component in the identity graph (docs/metrics.md, "Customer identity"), resolved set-based by
-- pipelines/transform/models/identity_graph.py. This select is the graph's input: each distinct combination of
-- identifiers carried by one record (an order, a CRM record, a touch that names its CRM customer),
-- with how many records carried it. Grouping first keeps the graph the size of the identities, not of
-- the orders: a customer's hundred orders under the same e-mail are one row.
with records as (
    -- every order counts, cancelled ones too: it still proves that these identifiers are one person
    select customer_id, email_key, phone_key, visitor_id
    from raw.orders
    where order_id is not null
    union all
    select customer_id, email_key, phone_key, null as visitor_id
    from staging.customers
    union all
    -- an analytics user id links the visitor (client id) to the CRM customer
    select customer_id, null as email_key, null as phone_key, visitor_id
    from raw.touchpoints
    where customer_id is not null
)

select customer_id, email_key, phone_key, visitor_id, count(*) as records
from records
where coalesce(customer_id, email_key, phone_key, visitor_id) is not null
group by all
