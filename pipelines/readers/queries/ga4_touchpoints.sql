-- GA4 BigQuery export (events_YYYYMMDD as Parquet or newline-delimited JSON) -> one touch per session.
-- $file: the export file; {reader}: read_parquet / read_json, chosen by the engine from the suffix;
-- url_param(url, name): a query-string parameter, URL-decoded (a macro the engine defines).
-- A session's touch is its session_start event, else its first event (ga_session_id in event_params);
-- traffic tags come from collected_traffic_source, else from the page_location's query string.
with events as (
    select
        row_number() over () as source_row,
        event_name,
        event_timestamp,
        user_pseudo_id,
        user_id,
        list_filter(event_params, lambda p: p.key = 'ga_session_id')[1].value.int_value as session_id,
        list_filter(event_params, lambda p: p.key = 'page_location')[1].value.string_value as page_location,
        list_filter(event_params, lambda p: p.key = 'page_referrer')[1].value.string_value as page_referrer,
        collected_traffic_source as cts
    from {reader}($file)
),

sessions as (
    select *
    from events
    where user_pseudo_id is not null
    qualify row_number() over (
        partition by user_pseudo_id, coalesce(session_id::varchar, 'event ' || source_row)
        order by event_name = 'session_start' desc, event_timestamp, source_row
    ) = 1
),

-- GA4 sends user_id on the events after a login, not on session_start: the session's user id
identified as (
    select user_pseudo_id, session_id, max(user_id) as user_id
    from events
    where user_id is not null
    group by all
)

select
    sessions.user_pseudo_id as visitor_id,
    coalesce(sessions.user_id, identified.user_id) as customer_id,
    strftime(make_timestamp(sessions.event_timestamp), '%Y-%m-%d %H:%M:%S.%f') as ts,
    coalesce(cts.manual_source, url_param(page_location, 'utm_source')) as utm_source,
    coalesce(cts.manual_medium, url_param(page_location, 'utm_medium')) as utm_medium,
    coalesce(cts.manual_campaign_name, url_param(page_location, 'utm_campaign')) as utm_campaign,
    coalesce(cts.manual_content, url_param(page_location, 'utm_content')) as utm_content,
    coalesce(cts.manual_term, url_param(page_location, 'utm_term')) as utm_term,
    page_referrer as referrer,
    coalesce(
        'gclid=' || cts.gclid,
        'dclid=' || cts.dclid,
        'yclid=' || url_param(page_location, 'yclid'),
        'gclid=' || url_param(page_location, 'gclid'),
        'fbclid=' || url_param(page_location, 'fbclid')
    ) as click_id,
    source_row
from sessions
left join identified using (user_pseudo_id, session_id)
order by source_row
