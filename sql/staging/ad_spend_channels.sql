-- materialized: view
-- Ad spend with the channel it is spent on: each row of staging.ad_spend joined to the channel its source,
-- medium, campaign and platform map to (staging.channel_map; spend has no referrer or click id). The one
-- place spend meets the channel rules: per-period CAC and the marketing-mix model both read it. A view:
-- its readers filter it by date, and DuckDB pushes the filter into staging.ad_spend.
select
    ad_spend.date,
    channel_map.channel,
    ad_spend.spend,
    ad_spend.impressions,
    ad_spend.clicks
from staging.ad_spend
inner join staging.channel_map
    on
        channel_map.source is not distinct from ad_spend.source
        and channel_map.medium is not distinct from ad_spend.medium
        and channel_map.campaign is not distinct from ad_spend.campaign
        and channel_map.referrer_host is null
        and channel_map.click_id_type is null
        and channel_map.platform is not distinct from ad_spend.platform
