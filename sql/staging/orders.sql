-- materialized: table
-- Orders, one per order id: customer key, validity, amounts in the reporting currency, normalised UTM tags.
with source as (
    select * from raw.orders
),

customers as (
    select customer_id, email_key, phone_key from staging.customers
),

fx_rates as (
    select currency, date, rate from staging.fx_rates
),

aliases as (
    select alias, source from config.source_aliases
),

deduped as (
    -- an order exported twice in overlapping files is kept once: the newest file wins
    select *
    from source
    qualify row_number() over (
        partition by trim(order_id)
        order by source_file desc nulls last, source_row desc nulls last
    ) = 1
),

cleaned as (
    select
        trim(order_id) as order_id,
        nullif(trim(customer_id), '') as customer_id,
        nullif(trim(email_key), '') as email_key,
        nullif(trim(phone_key), '') as phone_key,
        nullif(trim(visitor_id), '') as visitor_id,
        created_at as order_ts,
        created_at::date as order_date,
        lower(trim(status)) as status,
        upper(trim(currency)) as currency,
        revenue as revenue_original,
        cost_of_goods as cost_of_goods_original,
        coalesce(refunded_amount, 0) as refunded_amount_original,
        -- a refund without a date is booked at the order's own time
        case when coalesce(refunded_amount, 0) > 0 then coalesce(refunded_at, created_at) end as refunded_at,
        utm_source,
        utm_medium,
        utm_campaign,
        utm_content,
        utm_term,
        -- '+' means space in query strings: replaced before URL-decoding, so an encoded %2B stays '+'
        nullif(trim(lower(url_decode(replace(utm_source, '+', ' ')))), '') as source_decoded,
        nullif(trim(lower(url_decode(replace(utm_medium, '+', ' ')))), '') as medium_decoded,
        nullif(trim(lower(url_decode(replace(utm_campaign, '+', ' ')))), '') as campaign_decoded,
        nullif(trim(lower(url_decode(replace(utm_content, '+', ' ')))), '') as content_decoded,
        nullif(trim(lower(url_decode(replace(utm_term, '+', ' ')))), '') as term_decoded,
        source_file,
        source_row
    from deduped
    where nullif(trim(order_id), '') is not null
),

placeholders_removed as (
    -- analytics placeholders such as '(none)', '(direct)', '(not set)' carry no information
    select
        *,
        case when source_decoded in ('(direct)', '(none)', '(not set)') then null else source_decoded end as source_clean,
        case when medium_decoded in ('(direct)', '(none)', '(not set)') then null else medium_decoded end as medium,
        case when campaign_decoded in ('(direct)', '(none)', '(not set)') then null else campaign_decoded end as campaign,
        case when content_decoded in ('(direct)', '(none)', '(not set)') then null else content_decoded end as content,
        case when term_decoded in ('(direct)', '(none)', '(not set)') then null else term_decoded end as term
    from cleaned
),

normalised as (
    -- source aliases (fb -> facebook, ...) from the config file
    select placeholders_removed.*, coalesce(aliases.source, placeholders_removed.source_clean) as source
    from placeholders_removed
    left join aliases on aliases.alias = placeholders_removed.source_clean
),

email_matches as (
    -- an e-mail or phone shared by several CRM records resolves to the lowest id, deterministically
    select email_key, min(customer_id) as customer_id
    from customers
    where email_key is not null
    group by email_key
),

phone_matches as (
    select phone_key, min(customer_id) as customer_id
    from customers
    where phone_key is not null
    group by phone_key
),

phone_emails as (
    -- a guest who once left both e-mail and phone is one customer: a phone-only order joins that e-mail
    select phone_key, min(email_key) as email_key
    from normalised
    where phone_key is not null and email_key is not null
    group by phone_key
),

identified as (
    -- METRICS.md: CRM id where known (also found through the order's e-mail or phone), else e-mail,
    -- else phone. Orders with none of them fall back to the web visitor, then to the order itself,
    -- so that every valid order has exactly one customer.
    select
        normalised.*,
        coalesce(normalised.customer_id, email_matches.customer_id, phone_matches.customer_id) as resolved_customer_id,
        case
            when normalised.customer_id is not null then 'crm:' || normalised.customer_id
            when email_matches.customer_id is not null then 'crm:' || email_matches.customer_id
            when phone_matches.customer_id is not null then 'crm:' || phone_matches.customer_id
            when normalised.email_key is not null then 'email:' || normalised.email_key
            when phone_emails.email_key is not null then 'email:' || phone_emails.email_key
            when normalised.phone_key is not null then 'phone:' || normalised.phone_key
            when normalised.visitor_id is not null then 'visitor:' || normalised.visitor_id
            else 'order:' || normalised.order_id
        end as customer_key
    from normalised
    left join email_matches on email_matches.email_key = normalised.email_key
    left join phone_matches on phone_matches.phone_key = normalised.phone_key
    left join phone_emails on phone_emails.phone_key = normalised.phone_key
),

with_order_rate as (
    -- ASOF: the latest rate on or before the order's date
    select identified.*, fx_rates.rate as order_fx_rate
    from identified
    asof left join fx_rates
        on fx_rates.currency = identified.currency
        and identified.order_date >= fx_rates.date
),

with_refund_rate as (
    -- a refund is converted at the rate of its own date
    select with_order_rate.*, fx_rates.rate as refund_fx_rate
    from with_order_rate
    asof left join fx_rates
        on fx_rates.currency = with_order_rate.currency
        and with_order_rate.refunded_at::date >= fx_rates.date
),

converted as (
    select
        *,
        case when currency = $reporting_currency then 1.0 else order_fx_rate end as fx_rate,
        case when currency = $reporting_currency then 1.0 else refund_fx_rate end as refund_rate
    from with_refund_rate
)

select
    order_id,
    customer_key,
    resolved_customer_id as customer_id,
    email_key,
    phone_key,
    visitor_id,
    order_ts,
    order_date,
    status,
    -- valid = paid/completed and not fully refunded (status 'refunded', or refunds >= revenue)
    status in ('paid', 'completed')
        and not (refunded_amount_original > 0 and refunded_amount_original >= revenue_original) as is_valid,
    currency,
    fx_rate,
    revenue_original,
    revenue_original * fx_rate as revenue,
    cost_of_goods_original * fx_rate as cost_of_goods,
    refunded_amount_original,
    case when refunded_amount_original > 0 then refunded_amount_original * refund_rate else 0.0 end as refunded_amount,
    refunded_at,
    refund_rate as refund_fx_rate,
    utm_source,
    utm_medium,
    utm_campaign,
    utm_content,
    utm_term,
    source,
    medium,
    campaign,
    content,
    term,
    source_file,
    source_row
from converted
