-- materialized: table
-- Amounts that need a rate and have none (no rate on or before their date). Must be empty:
-- pipelines.transform.fx.check_fx stops the run naming these currency/date pairs.
with orders as (
    select * from staging.orders
),

ad_spend as (
    select * from staging.ad_spend
),

costs_daily as (
    select * from staging.costs_daily
),

missing as (
    -- cancelled and fully refunded orders count nowhere, so their rates are not needed
    select currency, order_date as date, 'orders' as source
    from orders
    where is_valid and fx_rate is null
    union all
    select currency, refunded_at::date, 'orders (refund)'
    from orders
    where is_valid and refund_fx_rate is null and refunded_at is not null  -- refunded_at: only set for a refund
    union all
    select currency, date, 'ad_spend'
    from ad_spend
    where fx_rate is null and spend_original is not null
    union all
    select currency, date, 'costs'
    from costs_daily
    where fx_rate is null and amount_original is not null
)

select distinct currency, date, source
from missing
order by currency, date, source
