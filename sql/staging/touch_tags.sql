-- materialized: incremental by seen_month since $touch_tags_start
-- Every distinct (UTM tags, referrer, click-id name) seen in touchpoints per month, normalised once:
-- touchpoints are by far the biggest input, so URL-decoding, regexes and alias lookups run per
-- combination, not per row. Kept per month so a nightly run reads only the new months' touches
-- (and older months whose exports arrived late: pipelines/transform/params.py, late_touches_start).
with combinations as (
    select distinct
        staging.touch_tag_key(utm_source, utm_medium, utm_campaign, utm_content, utm_term, referrer, click_id, ts) as tag_key
    from raw.touchpoints
    where ts >= $touch_tags_start and ts < $range_end
),

unpacked as (
    select tag_key, unnest(tag_key) from combinations
),

aliases as (
    select alias, source from config.source_aliases
)

select
    unpacked.seen_month,
    unpacked.tag_key,
    unpacked.utm_source,
    unpacked.utm_medium,
    unpacked.utm_campaign,
    unpacked.utm_content,
    unpacked.utm_term,
    unpacked.referrer,
    unpacked.click_id_type,
    -- placeholders such as '(none)' or '(not set)' carry no information (macro utm_value)
    coalesce(aliases.source, utm_value(unpacked.utm_source)) as source,
    utm_value(unpacked.utm_medium) as medium,
    utm_value(unpacked.utm_campaign) as campaign,
    utm_value(unpacked.utm_content) as content,
    utm_value(unpacked.utm_term) as term,
    -- the referrer's host without scheme, port, path and a leading www.
    nullif(
        regexp_replace(
            regexp_extract(lower(unpacked.referrer), '^(?:[a-z][a-z0-9+.-]*://)?([^/?#:@]+)', 1), '^www\.', ''
        ),
        ''
    ) as referrer_host
from unpacked
left join aliases on aliases.alias = utm_value(unpacked.utm_source)
