-- materialized: table
-- Web touchpoints, one per visitor, time and UTM tags, with normalised values beside the raw ones.
with source as (
    select * from raw.touchpoints
),

aliases as (
    select alias, source from config.source_aliases
),

deduped as (
    -- a touch exported twice in overlapping files is kept once: the newest file wins
    select *
    from source
    qualify row_number() over (
        partition by visitor_id, ts, utm_source, utm_medium, utm_campaign, utm_content, utm_term
        order by source_file desc nulls last, source_row desc nulls last
    ) = 1
),

cleaned as (
    select
        nullif(trim(visitor_id), '') as visitor_id,
        nullif(trim(customer_id), '') as customer_id,
        ts,
        utm_source,
        utm_medium,
        utm_campaign,
        utm_content,
        utm_term,
        referrer,
        click_id,
        -- '+' means space in query strings: replaced before URL-decoding, so an encoded %2B stays '+'
        nullif(trim(lower(url_decode(replace(utm_source, '+', ' ')))), '') as source_decoded,
        nullif(trim(lower(url_decode(replace(utm_medium, '+', ' ')))), '') as medium_decoded,
        nullif(trim(lower(url_decode(replace(utm_campaign, '+', ' ')))), '') as campaign_decoded,
        nullif(trim(lower(url_decode(replace(utm_content, '+', ' ')))), '') as content_decoded,
        nullif(trim(lower(url_decode(replace(utm_term, '+', ' ')))), '') as term_decoded,
        -- the referrer's host without scheme, port, path and a leading www.
        nullif(
            regexp_replace(
                regexp_extract(lower(trim(referrer)), '^(?:[a-z][a-z0-9+.-]*://)?([^/?#:@]+)', 1),
                '^www\.', ''
            ),
            ''
        ) as referrer_host,
        -- click_id is `name=value` (contracts section 5): the name says which platform's click it was
        case
            when nullif(trim(click_id), '') is null then null
            when contains(click_id, '=') then
                coalesce(nullif(lower(trim(ltrim(split_part(trim(click_id), '=', 1), '?&'))), ''), 'unknown')
            else 'unknown'
        end as click_id_type,
        source_file,
        source_row
    from deduped
),

placeholders_removed as (
    -- analytics placeholders such as '(none)', '(direct)', '(not set)' carry no information
    select
        *,
        case when source_decoded in ('(direct)', '(none)', '(not set)') then null else source_decoded end as source_clean,
        case when medium_decoded in ('(direct)', '(none)', '(not set)') then null else medium_decoded end as medium,
        case when campaign_decoded in ('(direct)', '(none)', '(not set)') then null else campaign_decoded end as campaign,
        case when content_decoded in ('(direct)', '(none)', '(not set)') then null else content_decoded end as content,
        case when term_decoded in ('(direct)', '(none)', '(not set)') then null else term_decoded end as term
    from cleaned
)

select
    placeholders_removed.visitor_id,
    placeholders_removed.customer_id,
    placeholders_removed.ts,
    placeholders_removed.utm_source,
    placeholders_removed.utm_medium,
    placeholders_removed.utm_campaign,
    placeholders_removed.utm_content,
    placeholders_removed.utm_term,
    placeholders_removed.referrer,
    placeholders_removed.click_id,
    -- source aliases (fb -> facebook, ...) from the config file
    coalesce(aliases.source, placeholders_removed.source_clean) as source,
    placeholders_removed.medium,
    placeholders_removed.campaign,
    placeholders_removed.content,
    placeholders_removed.term,
    placeholders_removed.referrer_host,
    placeholders_removed.click_id_type,
    placeholders_removed.source_file,
    placeholders_removed.source_row
from placeholders_removed
left join aliases on aliases.alias = placeholders_removed.source_clean
