-- materialized: table
-- Orders, one per order id: customer key, validity, amounts in the reporting currency, normalised UTM tags.
-- raw.orders is named where it is read (not a shared CTE): a CTE read twice is materialised, and
-- materialising 10 M wide rows costs more than scanning the columns twice
with customers as (
    select customer_id, email_key, phone_key from staging.customers
),

fx_daily as (
    select currency, date, rate from staging.fx_daily
),

aliases as (
    select alias, source from config.source_aliases
),

tag_combinations as (
    -- URL-decoding runs once per distinct tag combination, not once per order
    select distinct utm_source, utm_medium, utm_campaign, utm_content, utm_term
    from raw.orders
),

normalised_tags as (
    -- analytics placeholders such as '(none)', '(direct)', '(not set)' carry no information;
    -- source aliases (fb -> facebook, ...) come from the config file
    select
        tag_combinations.*,
        coalesce(aliases.source, utm_value(utm_source)) as source,
        utm_value(utm_medium) as medium,
        utm_value(utm_campaign) as campaign,
        utm_value(utm_content) as content,
        utm_value(utm_term) as term
    from tag_combinations
    left join aliases on aliases.alias = utm_value(utm_source)
),

normalised as (
    -- ingest kept one row per order id (the newest export) and trimmed every value
    select
        raw_orders.order_id,
        raw_orders.customer_id,
        raw_orders.email_key,
        raw_orders.phone_key,
        raw_orders.visitor_id,
        raw_orders.created_at as order_ts,
        raw_orders.created_at::date as order_date,
        lower(trim(raw_orders.status)) as status,
        upper(trim(raw_orders.currency)) as currency,
        raw_orders.revenue as revenue_original,
        raw_orders.cost_of_goods as cost_of_goods_original,
        coalesce(raw_orders.refunded_amount, 0) as refunded_amount_original,
        -- a refund without a date is booked at the order's own time
        case when coalesce(raw_orders.refunded_amount, 0) > 0 then coalesce(raw_orders.refunded_at, raw_orders.created_at) end as refunded_at,
        raw_orders.utm_source,
        raw_orders.utm_medium,
        raw_orders.utm_campaign,
        raw_orders.utm_content,
        raw_orders.utm_term,
        tags.source,
        tags.medium,
        tags.campaign,
        tags.content,
        tags.term,
        raw_orders.source_file,
        raw_orders.source_row
    from raw.orders as raw_orders
    join normalised_tags as tags
        on tags.utm_source is not distinct from raw_orders.utm_source
        and tags.utm_medium is not distinct from raw_orders.utm_medium
        and tags.utm_campaign is not distinct from raw_orders.utm_campaign
        and tags.utm_content is not distinct from raw_orders.utm_content
        and tags.utm_term is not distinct from raw_orders.utm_term
    where raw_orders.order_id is not null
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
    from raw.orders
    where phone_key is not null and email_key is not null and order_id is not null
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
    -- the latest rate on or before the order's date (staging.fx_daily carries rates over gaps)
    select identified.*, fx_daily.rate as order_fx_rate
    from identified
    left join fx_daily
        on fx_daily.currency = identified.currency
        and fx_daily.date = identified.order_date
),

with_refund_rate as (
    -- a refund is converted at the rate of its own date
    select with_order_rate.*, fx_daily.rate as refund_fx_rate
    from with_order_rate
    left join fx_daily
        on fx_daily.currency = with_order_rate.currency
        and fx_daily.date = with_order_rate.refunded_at::date
),

converted as (
    select
        *,
        case when currency = $reporting_currency then 1.0 else order_fx_rate end as fx_rate,
        case when currency = $reporting_currency then 1.0 else refund_fx_rate end as refund_rate
    from with_refund_rate
)

-- narrow on purpose (every mart reads it): original amounts, raw tags and personal keys stay in
-- raw.orders, one join away through source_file and source_row
select
    order_id,
    customer_key,
    resolved_customer_id as customer_id,
    visitor_id,
    order_ts,
    order_date,
    status,
    -- valid = paid/completed and not fully refunded (status 'refunded', or refunds >= revenue)
    status in ('paid', 'completed')
        and not (refunded_amount_original > 0 and refunded_amount_original >= revenue_original) as is_valid,
    currency,
    fx_rate,
    revenue_original * fx_rate as revenue,
    cost_of_goods_original * fx_rate as cost_of_goods,
    case when refunded_amount_original > 0 then refunded_amount_original * refund_rate else 0.0 end as refunded_amount,
    refunded_at,
    refund_rate as refund_fx_rate,
    source,
    medium,
    campaign,
    content,
    term,
    source_file,
    source_row
from converted
