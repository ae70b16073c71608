-- materialized: table
-- One row per resolved customer (a connected component of the identity graph, docs/metrics.md "Customer
-- identity"): its key, CRM ids, how many e-mails, phones and visitors it links, its first purchase
-- and the channel the default attribution model credits. Customers keyed on a single order (no usable
-- identifier) come from their first purchase; CRM records that never bought have no first purchase.
with identifiers as (
    select identifier_kind, identifier_value, customer_key from staging.customer_identifiers
),

first_purchases as (
    select customer_key, order_id, first_purchase_ts, acquisition_month, channel from marts.first_purchases
),

components as (
    select
        customer_key,
        -- sorted per customer after collecting (an ordered string_agg sorts inside the hash aggregate:
        -- 1.4 x this step's time at 5 M customers); NULL without one, on Spark too (an empty list there)
        case
            when count(*) filter (where identifier_kind = 'crm') > 0
                then array_to_string(list_sort(list(identifier_value) filter (where identifier_kind = 'crm')), ',')
        end as crm_ids,
        count(*) filter (where identifier_kind = 'crm') as crm_id_count,
        count(*) filter (where identifier_kind = 'email') as email_count,
        count(*) filter (where identifier_kind = 'phone') as phone_count,
        count(*) filter (where identifier_kind = 'visitor') as visitor_count
    from identifiers
    group by customer_key
)

select
    coalesce(components.customer_key, first_purchases.customer_key) as customer_key,
    components.crm_ids,
    coalesce(components.crm_id_count, 0) as crm_id_count,
    coalesce(components.email_count, 0) as email_count,
    coalesce(components.phone_count, 0) as phone_count,
    coalesce(components.visitor_count, 0) as visitor_count,
    first_purchases.order_id as first_order_id,
    first_purchases.first_purchase_ts,
    first_purchases.first_purchase_ts::date as first_purchase_date,
    first_purchases.acquisition_month,
    first_purchases.channel
from components
full join first_purchases on first_purchases.customer_key = components.customer_key
order by customer_key
