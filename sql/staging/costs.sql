-- materialized: table
-- Non-ad costs (salaries, software, services...), as exported, once each, with normalised channel and rule.
-- Ingest already dropped copies from older overlapping exports (equal rows within one file are two costs).
select
    period_start,
    -- a period ending before it starts is read as a single day
    greatest(coalesce(period_end, period_start), period_start) as period_end,
    datediff('day', period_start, greatest(coalesce(period_end, period_start), period_start)) + 1 as days,
    nullif(lower(trim(category)), '') as category,
    channel as channel_raw,
    -- empty channel = a shared cost
    nullif(lower(trim(channel)), '') as channel,
    -- empty allocation = 'orders' (docs/metrics.md); it only matters for shared costs
    coalesce(nullif(lower(trim(allocation)), ''), 'orders') as allocation,
    amount as amount_original,
    upper(trim(currency)) as currency,
    source_file,
    source_row
from raw.costs
where period_start is not null
