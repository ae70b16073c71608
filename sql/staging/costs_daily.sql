-- materialized: table
-- Non-ad costs spread evenly over their days (one row per cost and day), in the reporting currency.
with costs as (
    select * from staging.costs
),

fx_daily as (
    select currency, date, rate from staging.fx_daily
),

days as (
    select
        costs.*,
        unnest(generate_series(period_start, period_end, interval 1 day))::date as date
    from costs
),

converted as (
    -- each day's share is converted at that day's rate (the latest on or before it: staging.fx_daily)
    select
        days.*,
        reporting_rate(days.currency, $reporting_currency, fx_daily.rate) as fx_rate
    from days
    left join fx_daily
        on
            fx_daily.currency = days.currency
            and fx_daily.date = days.date
)

select
    date,
    category,
    channel,
    allocation,
    currency,
    fx_rate,
    amount_original / days as amount_original,
    amount_original / days * fx_rate as amount,
    period_start as cost_period_start,
    period_end as cost_period_end,
    source_file,
    source_row
from converted
