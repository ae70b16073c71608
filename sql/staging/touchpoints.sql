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
join staging.touch_tags as tags
    on tags.utm_source is not distinct from touches.utm_source
    and tags.utm_medium is not distinct from touches.utm_medium
    and tags.utm_campaign is not distinct from touches.utm_campaign
    and tags.utm_content is not distinct from touches.utm_content
    and tags.utm_term is not distinct from touches.utm_term
    and tags.referrer is not distinct from touches.referrer
    and tags.click_id_type is not distinct from staging.click_id_type(touches.click_id)
