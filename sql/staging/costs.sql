-- materialized: table
-- Non-ad costs (salaries, software, services...), as exported, once each, with normalised channel and rule.
with source as (
    select * from raw.costs
),

deduped as (
    -- a cost row exported in several overlapping files is kept from the newest file only; identical rows
    -- within one file are kept (two equal invoices in one export are two costs)
    select *
    from source
    qualify source_file is not distinct from max(source_file) over (
        partition by period_start, period_end, category, channel, amount, currency, allocation
    )
)

select
    period_start,
    -- a period ending before it starts is read as a single day
    greatest(coalesce(period_end, period_start), period_start) as period_end,
    datediff('day', period_start, greatest(coalesce(period_end, period_start), period_start)) + 1 as days,
    nullif(lower(trim(category)), '') as category,
    channel as channel_raw,
    -- empty channel = a shared cost
    nullif(lower(trim(channel)), '') as channel,
    -- empty allocation = 'orders' (METRICS.md); it only matters for shared costs
    coalesce(nullif(lower(trim(allocation)), ''), 'orders') as allocation,
    amount as amount_original,
    upper(trim(currency)) as currency,
    source_file,
    source_row
from deduped
where period_start is not null
