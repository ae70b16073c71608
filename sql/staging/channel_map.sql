-- materialized: table
-- Every distinct combination of normalised (source, medium, campaign, referrer host, click-id type,
-- platform) seen in touchpoints, orders and ad spend, mapped to one channel by config.channel_rules.
-- Matching the few distinct combinations instead of every row keeps regexes off the big tables.
with touchpoints as (
    select distinct source, medium, campaign, referrer_host, click_id_type, null::varchar as platform
    from staging.touch_tags
),

orders as (
    select distinct source, medium, campaign, null::varchar, null::varchar, null::varchar
    from staging.orders
),

ad_spend as (
    select distinct source, medium, campaign, null::varchar, null::varchar, platform
    from staging.ad_spend
),

rules as (
    select * from config.channel_rules
),

combinations as (
    select * from touchpoints
    union
    select * from orders
    union
    select * from ad_spend
),

matches as (
    -- a NULL regex matches anything; a regex needs a non-null value that it finds (searched, not anchored)
    select
        combinations.source,
        combinations.medium,
        combinations.campaign,
        combinations.referrer_host,
        combinations.click_id_type,
        combinations.platform,
        rules.priority,
        rules.channel
    from combinations
    inner join rules
        on
            (rules.source_regex is null or regexp_matches(combinations.source, rules.source_regex))
            and (rules.medium_regex is null or regexp_matches(combinations.medium, rules.medium_regex))
            and (rules.campaign_regex is null or regexp_matches(combinations.campaign, rules.campaign_regex))
            and (rules.referrer_regex is null or regexp_matches(combinations.referrer_host, rules.referrer_regex))
            and (rules.click_id_regex is null or regexp_matches(combinations.click_id_type, rules.click_id_regex))
            and (rules.platform_regex is null or regexp_matches(combinations.platform, rules.platform_regex))
),

winners as (
    -- the lowest priority wins
    select
        source, medium, campaign, referrer_host, click_id_type, platform,
        min(priority) as rule_priority,
        arg_min(channel, priority) as channel
    from matches
    group by all
)

select
    combinations.source,
    combinations.medium,
    combinations.campaign,
    combinations.referrer_host,
    combinations.click_id_type,
    combinations.platform,
    case
        when winners.channel is not null then winners.channel
        -- nothing that says where the visit came from: typed in, bookmarked, untagged
        when
            combinations.source is null and combinations.medium is null and combinations.referrer_host is null
            and combinations.click_id_type is null and combinations.platform is null then 'direct'
        else 'other'
    end as channel,
    winners.rule_priority
from combinations
left join winners
    on
        winners.source is not distinct from combinations.source
        and winners.medium is not distinct from combinations.medium
        and winners.campaign is not distinct from combinations.campaign
        and winners.referrer_host is not distinct from combinations.referrer_host
        and winners.click_id_type is not distinct from combinations.click_id_type
        and winners.platform is not distinct from combinations.platform
