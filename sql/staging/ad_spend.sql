-- materialized: table
-- Ad spend per day and campaign, one row per date, platform and campaign id, in the reporting currency.
with source as (
    select * from raw.ad_spend
),

fx_daily as (
    select currency, date, rate from staging.fx_daily
),

aliases as (
    select alias, source from config.source_aliases
),

cleaned as (
    select
        date,
        platform as platform_raw,
        nullif(lower(trim(platform)), '') as platform,
        account_id,
        campaign_id,
        campaign_name,
        utm_source,
        utm_medium,
        utm_campaign,
        coalesce(impressions, 0) as impressions,
        coalesce(clicks, 0) as clicks,
        spend as spend_original,
        upper(trim(currency)) as currency,
        utm_value(utm_source) as source_clean,
        utm_value(utm_medium) as medium,
        utm_value(utm_campaign) as campaign,
        source_file,
        source_row
    from source  -- ingest already kept one row per campaign-day (the later export's copy)
),

converted as (
    -- the latest rate on or before the spend's date (staging.fx_daily); the reporting currency needs none
    select
        cleaned.*,
        reporting_rate(cleaned.currency, $reporting_currency, fx_daily.rate) as fx_rate
    from cleaned
    left join fx_daily
        on
            fx_daily.currency = cleaned.currency
            and fx_daily.date = cleaned.date
)

select
    converted.date,
    converted.platform_raw,
    converted.platform,
    converted.account_id,
    converted.campaign_id,
    converted.campaign_name,
    converted.utm_source,
    converted.utm_medium,
    converted.utm_campaign,
    coalesce(aliases.source, converted.source_clean) as source,
    converted.medium,
    converted.campaign,
    converted.impressions,
    converted.clicks,
    converted.currency,
    converted.fx_rate,
    converted.spend_original,
    coalesce(converted.spend_original, 0) * converted.fx_rate as spend,
    converted.source_file,
    converted.source_row
from converted
left join aliases on aliases.alias = converted.source_clean
