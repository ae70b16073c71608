-- materialized: python
-- Every identifier (CRM id, e-mail key, phone key, web visitor id) with the customer it belongs to: its
-- connected component in the identity graph (docs/metrics.md, "Customer identity"), resolved set-based by
-- pipelines/transform/models/identity_graph.py. This select is the graph's input: the identifiers carried
-- by each record (an order, a CRM record, a touch that names its CRM customer), with the file it came from.
-- The graph groups them into distinct combinations with how many records carried each, which keeps it
-- the size of the identities, not of the orders (a customer's hundred orders under the same e-mail are
-- one row); a nightly groups only the records of the files loaded since, when the others are as before.
with records as (
    -- every order counts, cancelled ones too: it still proves that these identifiers are one person
    select customer_id, email_key, phone_key, visitor_id, source_file
    from raw.orders
    where order_id is not null
    union all
    select customer_id, email_key, phone_key, null as visitor_id, source_file
    from staging.customers
    union all
    -- an analytics user id links the visitor (client id) to the CRM customer
    select customer_id, null as email_key, null as phone_key, visitor_id, source_file
    from raw.touchpoints
    where customer_id is not null
)

select customer_id, email_key, phone_key, visitor_id, source_file
from records
where coalesce(customer_id, email_key, phone_key, visitor_id) is not null
