-- materialized: view
-- Touchpoints that belong to a known customer, with their channel: the input of attribution. A view,
-- so attribution reads only the touches of the periods it recomputes (a filter on ts reaches raw.touchpoints).
with crm_customers as (
    select identifier_value as customer_id, customer_key
    from staging.customer_identifiers
    where identifier_kind = 'crm'
),

known_touches as (
    -- a touch that names its CRM customer, or whose visitor is in the identity graph, belongs to that
    -- customer (both lead to the same component). Only these go on to the tag and channel joins: most
    -- visitors never buy.
    select
        touches.*,
        coalesce(crm_customers.customer_key, visitor_customers.customer_key) as customer_key
    from raw.touchpoints as touches
    left join crm_customers on crm_customers.customer_id = touches.customer_id
    left join staging.visitor_customers on visitor_customers.visitor_id = touches.visitor_id
    where
        coalesce(crm_customers.customer_key, visitor_customers.customer_key) is not null
        and touches.ts is not null
),

channel_map as (
    select * from staging.channel_map where platform is null
)

select
    known_touches.customer_key,
    known_touches.visitor_id,
    known_touches.ts,
    channel_map.channel,
    tags.source,
    tags.medium,
    tags.campaign,
    tags.content,
    tags.term,
    tags.referrer_host,
    tags.click_id_type
from known_touches
inner join staging.touch_tags as tags
    on tags.tag_key = staging.touch_tag_key(
        known_touches.utm_source,
        known_touches.utm_medium,
        known_touches.utm_campaign,
        known_touches.utm_content,
        known_touches.utm_term,
        known_touches.referrer,
        known_touches.click_id,
        known_touches.ts
    )
inner join channel_map
    on
        channel_map.source is not distinct from tags.source
        and channel_map.medium is not distinct from tags.medium
        and channel_map.campaign is not distinct from tags.campaign
        and channel_map.referrer_host is not distinct from tags.referrer_host
        and channel_map.click_id_type is not distinct from tags.click_id_type
