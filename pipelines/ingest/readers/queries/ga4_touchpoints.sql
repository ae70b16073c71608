-- GA4 BigQuery export (events_YYYYMMDD as Parquet or newline-delimited JSON) -> one touch per session.
-- {events}: the file's events with their 1-based position as source_row (read_parquet or read_json,
-- chosen by the engine from the suffix);
-- url_param(url, name): a query-string parameter, URL-decoded (a macro the engine defines).
-- A session's touch is its session_start event, else its first event (ga_session_id in event_params);
-- traffic tags come from collected_traffic_source, else from the page_location's query string.
-- The file is read twice, narrow then whole: the sessions are found from a few columns, and only their
-- touches' parameter lists are kept (materialising every event's lists took most of the time).
with events as (
    select
        source_row,
        event_name,
        event_timestamp,
        user_pseudo_id,
        user_id,
        list_filter(event_params, lambda p: p.key = 'ga_session_id')[1].value.int_value as session_id
    from {events}
),

-- the touch: the smallest (not session_start, timestamp, line) of the session; GA4 sends user_id on
-- the events after a login, not on session_start, so the session's user id is the touch's own, else
-- any of its events'
sessions as (
    select
        arg_min(source_row, {
            'rank': case when event_name = 'session_start' then 0 when event_name is not null then 1 else 2 end,
            'no_time': event_timestamp is null, 'time': coalesce(event_timestamp, 0), 'line': source_row
        }) as source_row,
        max(user_id) as any_user_id
    from events
    where user_pseudo_id is not null
    group by user_pseudo_id, session_id, case when session_id is null then source_row end
),

touches as (
    select
        source_row,
        user_pseudo_id,
        coalesce(user_id, any_user_id) as user_id,
        event_timestamp,
        list_filter(event_params, lambda p: p.key = 'page_location')[1].value.string_value as page_location,
        list_filter(event_params, lambda p: p.key = 'page_referrer')[1].value.string_value as page_referrer,
        collected_traffic_source as cts
    from {events}
    join sessions using (source_row)
)

select
    user_pseudo_id as visitor_id,
    user_id as customer_id,
    -- event_timestamp is UTC: given in the business's local time ($zone, reporting.timezone)
    strftime(timezone($zone, make_timestamp(event_timestamp)::timestamptz), '%Y-%m-%d %H:%M:%S.%f') as ts,
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
from touches
order by source_row
