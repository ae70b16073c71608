-- materialized: view
-- Web touchpoints, one per visitor, time and UTM tags (ingest dropped re-exported copies), with
-- normalised values beside the raw ones.
-- Touchpoints are by far the biggest input, so the costly normalisation (URL-decoding, regexes) runs
-- once per distinct tag combination and per distinct referrer, and is joined back to the rows.
with source as (
    select * from raw.touchpoints
),

aliases as (
    select alias, source from config.source_aliases
),

tag_combinations as (
    select distinct utm_source, utm_medium, utm_campaign, utm_content, utm_term
    from source
),

decoded_tags as (
    select
        *,
        hash(utm_source, utm_medium, utm_campaign, utm_content, utm_term) as tag_hash,
        -- '+' means space in query strings: replaced before URL-decoding, so an encoded %2B stays '+'
        nullif(trim(lower(url_decode(replace(utm_source, '+', ' ')))), '') as source_decoded,
        nullif(trim(lower(url_decode(replace(utm_medium, '+', ' ')))), '') as medium_decoded,
        nullif(trim(lower(url_decode(replace(utm_campaign, '+', ' ')))), '') as campaign_decoded,
        nullif(trim(lower(url_decode(replace(utm_content, '+', ' ')))), '') as content_decoded,
        nullif(trim(lower(url_decode(replace(utm_term, '+', ' ')))), '') as term_decoded
    from tag_combinations
),

normalised_tags as (
    -- analytics placeholders such as '(none)', '(direct)', '(not set)' carry no information;
    -- source aliases (fb -> facebook, ...) come from the config file
    select
        decoded_tags.*,
        coalesce(
            aliases.source,
            case when source_decoded in ('(direct)', '(none)', '(not set)') then null else source_decoded end
        ) as source,
        case when medium_decoded in ('(direct)', '(none)', '(not set)') then null else medium_decoded end as medium,
        case when campaign_decoded in ('(direct)', '(none)', '(not set)') then null else campaign_decoded end as campaign,
        case when content_decoded in ('(direct)', '(none)', '(not set)') then null else content_decoded end as content,
        case when term_decoded in ('(direct)', '(none)', '(not set)') then null else term_decoded end as term
    from decoded_tags
    left join aliases
        on aliases.alias = case when source_decoded in ('(direct)', '(none)', '(not set)') then null else source_decoded end
),

referrer_hosts as (
    -- the referrer's host without scheme, port, path and a leading www.
    select
        referrer,
        nullif(
            regexp_replace(
                regexp_extract(lower(trim(referrer)), '^(?:[a-z][a-z0-9+.-]*://)?([^/?#:@]+)', 1),
                '^www\.', ''
            ),
            ''
        ) as referrer_host
    from (select distinct referrer from source where referrer is not null)
),

touches as (
    select
        *,
        hash(utm_source, utm_medium, utm_campaign, utm_content, utm_term) as tag_hash,
        -- click_id is `name=value` (contracts section 5): the name says which platform's click it was
        case
            when nullif(trim(click_id), '') is null then null
            when contains(click_id, '=') then
                coalesce(nullif(lower(trim(ltrim(split_part(trim(click_id), '=', 1), '?&'))), ''), 'unknown')
            else 'unknown'
        end as click_id_type
    from source
)

select
    nullif(trim(touches.visitor_id), '') as visitor_id,
    nullif(trim(touches.customer_id), '') as customer_id,
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
    referrer_hosts.referrer_host,
    touches.click_id_type,
    touches.source_file,
    touches.source_row
from touches
join normalised_tags as tags
    -- the hash finds the combination, the columns confirm it (a collision can never mix two)
    on tags.tag_hash = touches.tag_hash
    and tags.utm_source is not distinct from touches.utm_source
    and tags.utm_medium is not distinct from touches.utm_medium
    and tags.utm_campaign is not distinct from touches.utm_campaign
    and tags.utm_content is not distinct from touches.utm_content
    and tags.utm_term is not distinct from touches.utm_term
left join referrer_hosts on referrer_hosts.referrer = touches.referrer
