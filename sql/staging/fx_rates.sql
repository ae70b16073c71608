-- materialized: table
-- One exchange rate per currency and date: reporting-currency units per one unit of `currency`.
with source as (
    select * from raw.fx_rates
),

deduped as (
    -- a rate exported twice in overlapping files is kept once: the newest file wins (greatest
    -- source_file, then the latest line); the lead may refine the order to file modification time
    select
        upper(trim(currency)) as currency,
        date,
        rate,
        source_file,
        source_row
    from source
    where rate is not null and rate > 0
    qualify row_number() over (
        partition by upper(trim(currency)), date
        order by source_file desc nulls last, source_row desc nulls last
    ) = 1
)

select currency, date, rate, source_file, source_row
from deduped
