-- materialized: python
-- Incremental CAC per paid channel (docs/metrics.md "Incremental CAC"). This select is the set-based half:
-- one row per complete week (Monday to Sunday) from $fit_start to $fit_end and per paid channel (a
-- channel with ad spend in those weeks), with the week's ad spend of the channel (0 when none), all new
-- customers of the week (first purchases), and the channel's attributed new customers under the default
-- attribution model (its credits, fractional). Weeks before the first full week with a first purchase are
-- left out: the business did not sell yet, which says nothing about the channels.
-- pipelines/transform/models/incrementality.py fits the marketing-mix model on these rows and writes
-- marts.channel_incrementality, marts.channel_response_curves and quality.incrementality_fit.

with

-- import ctes
first_purchases as (
    select first_purchase_ts::date as day
    from marts.first_purchases
    where first_purchase_ts::date <= $fit_end::date
),

credits as (
    select
        attribution.channel,
        attribution.credit,
        attribution.first_purchase_ts::date as day
    from marts.attribution
    where
        attribution.attribution_model = $default_model
        and attribution.first_purchase_ts::date between $fit_start::date and $fit_end::date
),

ad_spend as (
    select date as day, channel, spend
    from staging.ad_spend_channels
    where date between $fit_start::date and $fit_end::date
),

-- logic ctes
first_week as (
    -- the Monday on or after the first purchase: the first week the business sold through
    select greatest($fit_start::date, date_trunc('week', min(day) + 6)::date) as week_start
    from first_purchases
),

weeks as (
    select unnest(generate_series(first_week.week_start, $fit_end::date - 6, interval 7 day))::date as week_start
    from first_week
    where first_week.week_start is not null
),

spend_by_week as (
    select
        date_trunc('week', day)::date as week_start,
        channel,
        exact_sum(spend) as spend
    from ad_spend
    group by all
),

paid_channels as (
    select channel
    from spend_by_week
    where week_start >= (select min(week_start) from weeks)
    group by channel
    having exact_sum(spend) > 0
),

new_by_week as (
    select
        date_trunc('week', day)::date as week_start,
        count(*) as new_customers
    from first_purchases
    where day >= $fit_start::date
    group by all
),

credits_by_week as (
    select
        date_trunc('week', day)::date as week_start,
        channel,
        exact_sum(credit) as attributed_new_customers
    from credits
    group by all
),

final as (
    select
        weeks.week_start,
        paid_channels.channel,
        coalesce(spend_by_week.spend, 0) as spend,
        coalesce(new_by_week.new_customers, 0) as new_customers,
        coalesce(credits_by_week.attributed_new_customers, 0) as attributed_new_customers
    from weeks
    cross join paid_channels
    left join spend_by_week
        on spend_by_week.week_start = weeks.week_start and spend_by_week.channel = paid_channels.channel
    left join new_by_week on new_by_week.week_start = weeks.week_start
    left join credits_by_week
        on credits_by_week.week_start = weeks.week_start and credits_by_week.channel = paid_channels.channel
)

select * from final
order by week_start, channel
