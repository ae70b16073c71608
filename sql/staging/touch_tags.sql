-- materialized: table
-- Every distinct (UTM tags, referrer, click-id name) seen in touchpoints, normalised once: touchpoints are
-- by far the biggest input, so URL-decoding, regexes and alias lookups run per combination, not per row.
with combinations as (
    select
        utm_source, utm_medium, utm_campaign, utm_content, utm_term, referrer,
        staging.click_id_type(click_id) as click_id_type
    from raw.touchpoints
    group by all
),

aliases as (
    select alias, source from config.source_aliases
)

select
    combinations.utm_source,
    combinations.utm_medium,
    combinations.utm_campaign,
    combinations.utm_content,
    combinations.utm_term,
    combinations.referrer,
    combinations.click_id_type,
    -- placeholders such as '(none)' or '(not set)' carry no information (macro utm_value)
    coalesce(aliases.source, utm_value(combinations.utm_source)) as source,
    utm_value(combinations.utm_medium) as medium,
    utm_value(combinations.utm_campaign) as campaign,
    utm_value(combinations.utm_content) as content,
    utm_value(combinations.utm_term) as term,
    -- the referrer's host without scheme, port, path and a leading www.
    nullif(
        regexp_replace(
            regexp_extract(lower(combinations.referrer), '^(?:[a-z][a-z0-9+.-]*://)?([^/?#:@]+)', 1), '^www\.', ''
        ),
        ''
    ) as referrer_host
from combinations
left join aliases on aliases.alias = utm_value(combinations.utm_source)
