-- materialized: table
-- CRM customers, one per customer id, with the customer key every mart uses (`crm:<id>`).
with source as (
    select * from raw.customers
),

deduped as (
    -- the newest file wins for a customer exported twice
    select
        trim(customer_id) as customer_id,
        nullif(trim(email_key), '') as email_key,
        nullif(trim(phone_key), '') as phone_key,
        created_at,
        source_file,
        source_row
    from source
    where nullif(trim(customer_id), '') is not null
    qualify row_number() over (
        partition by trim(customer_id)
        order by source_file desc nulls last, source_row desc nulls last
    ) = 1
)

select
    'crm:' || customer_id as customer_key,
    customer_id,
    email_key,
    phone_key,
    created_at,
    source_file,
    source_row
from deduped
