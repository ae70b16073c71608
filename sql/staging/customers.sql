-- materialized: view
-- CRM customers, one per customer id (ingest kept the later export's copy of each): an input of the identity
-- graph (staging.customer_identifiers), whose component key, not `customer_key` here, is what marts use
-- (they differ only when two CRM records turn out to be one person). A view: a projection read once per run by staging.orders, where
-- writing 4.75 M rows of hashed keys cost 7 s of every nightly run at large.
select
    'crm:' || customer_id as customer_key,
    customer_id,
    email_key,
    phone_key,
    created_at,
    source_file,
    source_row
from raw.customers
where customer_id is not null
