-- materialized: table
-- Non-ad costs spread evenly over their days (one row per cost and day), in the reporting currency.
with costs as (
    select * from staging.costs
),

fx_rates as (
    select currency, date, rate from staging.fx_rates
),

days as (
    select
        costs.*,
        unnest(generate_series(period_start, period_end, interval 1 day))::date as date
    from costs
),

converted as (
    -- each day's share is converted at that day's rate (latest on or before it)
    select
        days.*,
        case when days.currency = $reporting_currency then 1.0 else fx_rates.rate end as fx_rate
    from days
    asof left join fx_rates
        on
            fx_rates.currency = days.currency
            and days.date >= fx_rates.date
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
