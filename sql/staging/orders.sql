-- materialized: table
-- Orders, one per order id: customer key, validity, amounts in the reporting currency, normalised UTM tags.
-- raw.orders is named where it is read (not a shared CTE), and each kind of identifier has its own CTE:
-- a CTE read twice is materialised, and materialising 10 M wide rows (or 18 M identifiers) costs more
-- than scanning the columns again
with crm_keys as (
    select identifier_value, customer_key from staging.customer_identifiers where identifier_kind = 'crm'
),

email_keys as (
    select identifier_value, customer_key from staging.customer_identifiers where identifier_kind = 'email'
),

phone_keys as (
    select identifier_value, customer_key from staging.customer_identifiers where identifier_kind = 'phone'
),

visitor_keys as (
    select identifier_value, customer_key from staging.customer_identifiers where identifier_kind = 'visitor'
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
    -- ingest kept one row per order id (the later export's copy) and trimmed every value
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
    inner join normalised_tags as tags
        on
            tags.utm_source is not distinct from raw_orders.utm_source
            and tags.utm_medium is not distinct from raw_orders.utm_medium
            and tags.utm_campaign is not distinct from raw_orders.utm_campaign
            and tags.utm_content is not distinct from raw_orders.utm_content
            and tags.utm_term is not distinct from raw_orders.utm_term
    where raw_orders.order_id is not null
),

identified as (
    -- docs/metrics.md "Customer identity": the order's customer is the connected component of the
    -- identifiers it carries (staging.customer_identifiers); all of them that are usable lead to the
    -- same key, so the first one found is it. An order whose identifiers are all missing or too common
    -- to link on keys on itself, so that every valid order has exactly one customer.
    select
        normalised.*,
        coalesce(
            by_crm.customer_key, by_email.customer_key, by_phone.customer_key, by_visitor.customer_key,
            'order:' || normalised.order_id
        ) as customer_key
    from normalised
    left join crm_keys as by_crm
        on by_crm.identifier_value = normalised.customer_id
    left join email_keys as by_email
        on by_email.identifier_value = normalised.email_key
    left join phone_keys as by_phone
        on by_phone.identifier_value = normalised.phone_key
    left join visitor_keys as by_visitor
        on by_visitor.identifier_value = normalised.visitor_id
),

with_order_rate as (
    -- the latest rate on or before the order's date (staging.fx_daily carries rates over gaps)
    select identified.*, fx_daily.rate as order_fx_rate
    from identified
    left join fx_daily
        on
            fx_daily.currency = identified.currency
            and fx_daily.date = identified.order_date
),

with_refund_rate as (
    -- a refund is converted at the rate of its own date
    select with_order_rate.*, fx_daily.rate as refund_fx_rate
    from with_order_rate
    left join fx_daily
        on
            fx_daily.currency = with_order_rate.currency
            and fx_daily.date = with_order_rate.refunded_at::date
),

converted as (
    select
        *,
        reporting_rate(currency, $reporting_currency, order_fx_rate) as fx_rate,
        reporting_rate(currency, $reporting_currency, refund_fx_rate) as refund_rate
    from with_refund_rate
)

-- narrow on purpose (every mart reads it): original amounts, raw tags and personal keys stay in
-- raw.orders, one join away through source_file and source_row
select
    order_id,
    customer_key,
    -- the order's own CRM id, else the one its component is keyed on
    coalesce(customer_id, case when starts_with(customer_key, 'crm:') then customer_key[5:] end) as customer_id,
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
