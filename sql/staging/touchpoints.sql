-- materialized: view
-- Web touchpoints, one per visitor, time and UTM tags (ingest dropped re-exported copies), with the
-- normalised values of staging.touch_tags beside the raw ones. A view: writing 100 M rows again would
-- cost more than joining the few thousand tag combinations when it is read.
select
    touches.visitor_id,
    touches.customer_id,
    touches.ts,
    touches.utm_source,
    touches.utm_medium,
    touches.utm_campaign,
    touches.utm_content,
    touches.utm_term,
    touches.referrer,
    touches.click_id,
    tags.source,
    tags.medium,
    tags.campaign,
    tags.content,
    tags.term,
    tags.referrer_host,
    tags.click_id_type,
    touches.source_file,
    touches.source_row
from raw.touchpoints as touches
inner join staging.touch_tags as tags
    on tags.tag_key = staging.touch_tag_key(
        touches.utm_source, touches.utm_medium, touches.utm_campaign, touches.utm_content, touches.utm_term, touches.referrer, touches.click_id, touches.ts
    )
