-- materialized: table
-- Ad spend per day and campaign, one row per date, platform and campaign id, in the reporting currency.
with source as (
    select * from raw.ad_spend
),

fx_rates as (
    select currency, date, rate from staging.fx_rates
),

aliases as (
    select alias, source from config.source_aliases
),

deduped as (
    -- a campaign-day exported twice in overlapping files is kept once: the newest file wins
    select *
    from source
    qualify row_number() over (
        partition by date, lower(trim(platform)), campaign_id
        order by source_file desc nulls last, source_row desc nulls last
    ) = 1
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
        -- '+' means space in query strings: replaced before URL-decoding, so an encoded %2B stays '+'
        nullif(trim(lower(url_decode(replace(utm_source, '+', ' ')))), '') as source_decoded,
        nullif(trim(lower(url_decode(replace(utm_medium, '+', ' ')))), '') as medium_decoded,
        nullif(trim(lower(url_decode(replace(utm_campaign, '+', ' ')))), '') as campaign_decoded,
        source_file,
        source_row
    from deduped
),

placeholders_removed as (
    select
        *,
        case when source_decoded in ('(direct)', '(none)', '(not set)') then null else source_decoded end as source_clean,
        case when medium_decoded in ('(direct)', '(none)', '(not set)') then null else medium_decoded end as medium,
        case when campaign_decoded in ('(direct)', '(none)', '(not set)') then null else campaign_decoded end as campaign
    from cleaned
),

converted as (
    -- ASOF: the latest rate on or before the spend's date; the reporting currency needs none
    select
        placeholders_removed.*,
        case when placeholders_removed.currency = $reporting_currency then 1.0 else fx_rates.rate end as fx_rate
    from placeholders_removed
    asof left join fx_rates
        on fx_rates.currency = placeholders_removed.currency
        and placeholders_removed.date >= fx_rates.date
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
