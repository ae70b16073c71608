-- materialized: view
-- Touchpoints that belong to a known customer, with their channel: the input of attribution. A view,
-- so attribution reads only the touches of the periods it recomputes (a filter on ts reaches raw.touchpoints).
with touchpoints as (
    select * from staging.touchpoints
),

visitor_customers as (
    select visitor_id, customer_key from staging.visitor_customers
),

channel_map as (
    select * from staging.channel_map
)

select
    -- a touchpoint that names its CRM customer uses it; others are linked through the visitor's orders
    coalesce('crm:' || touchpoints.customer_id, visitor_customers.customer_key) as customer_key,
    touchpoints.visitor_id,
    touchpoints.ts,
    channel_map.channel,
    touchpoints.source,
    touchpoints.medium,
    touchpoints.campaign,
    touchpoints.content,
    touchpoints.term,
    touchpoints.referrer_host,
    touchpoints.click_id_type
from touchpoints
left join visitor_customers on visitor_customers.visitor_id = touchpoints.visitor_id
join channel_map
    on channel_map.source is not distinct from touchpoints.source
    and channel_map.medium is not distinct from touchpoints.medium
    and channel_map.campaign is not distinct from touchpoints.campaign
    and channel_map.referrer_host is not distinct from touchpoints.referrer_host
    and channel_map.click_id_type is not distinct from touchpoints.click_id_type
    and channel_map.platform is null
where coalesce('crm:' || touchpoints.customer_id, visitor_customers.customer_key) is not null
    and touchpoints.ts is not null
