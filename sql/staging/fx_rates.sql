-- materialized: table
-- One exchange rate per currency and date: reporting-currency units per one unit of `currency`.
-- Ingest already kept one row per currency and date (the later export's copy wins).
select upper(trim(currency)) as currency, date, rate, source_file, source_row
from raw.fx_rates
where rate is not null and rate > 0
