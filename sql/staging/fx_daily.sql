-- materialized: table
-- One rate per currency and calendar day, from the currency's first rate to the last day any amount
-- needs (orders and refunds, ad spend and costs, which may run past the last order): the latest rate on
-- or before that day (carried over weekends and gaps). Every amount converts with a plain equality join
-- on (currency, day) and `reporting_rate(...)`; an ASOF join would sort every row.
with rates as (
    select currency, date, rate from staging.fx_rates
),

last_needed as (
    select greatest(
        (select max(date) from rates),
        (select max(created_at)::date from raw.orders),
        (select max(refunded_at)::date from raw.orders),
        (select max(date) from raw.ad_spend),
        (select max(period_end) from raw.costs)
    ) as day
),

days as (
    select currency, unnest(generate_series(min(date), (select day from last_needed), interval 1 day))::date as date
    from rates
    group by currency
)

select days.currency, days.date, rates.rate
from days
asof join rates
    on
        rates.currency = days.currency
        and days.date >= rates.date
