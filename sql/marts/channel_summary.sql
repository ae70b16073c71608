-- materialized: table
-- The table an analyst opens first: per channel and attribution model, the cohorts acquired in the
-- last $summary_months complete months (docs/metrics.md: a month is complete once it ended on or before
-- the as-of date, so an as-of date on a month's last day makes that month the window's last),
-- pooled. Every pooled figure is a ratio of sums over the window's cohorts, so large cohorts weigh more.
-- Observed LTV at h pools only the window's cohorts that lived h months; the *_predicted columns pool
-- all of them (marts.channel_ltv: observed where lived, else observed so far + expected), and the
-- *_older_cohorts columns show the observed 12-month LTV of the $summary_months acquisition months
-- before the window, the cohorts that have lived their year, beside them.

with

-- import ctes
channel_ltv as (
    select
        cohort_month, channel, attribution_model, customers, ltv_margin_1, ltv_margin_3, ltv_margin_6,
        ltv_margin_12, ltv_margin_24, ltv_revenue_1, ltv_revenue_3, ltv_revenue_6, ltv_revenue_12,
        ltv_revenue_24, orders, revenue, margin, active_customer_months, repeat_customers,
        ltv_margin_1_predicted, ltv_margin_3_predicted, ltv_margin_6_predicted, ltv_margin_12_predicted,
        ltv_margin_24_predicted, ltv_12_members, ltv_12_sum_w2, ltv_12_sum_w2x, ltv_12_sum_w2x2
    from marts.channel_ltv
),

-- how far off each channel's LTV fit was when it predicted the last 6 months from the data before them
backtest as (
    select channel, margin_relative_error as ltv_backtest_error
    from quality.ltv_backtest
),

cohort_ltv as (
    select
        cohort_month, channel, attribution_model, month_index, month_complete, cohort_customers,
        active_customers, cum_margin_per_customer
    from marts.cohort_ltv
),

cac as (
    select period_start as cohort_month, channel, attribution_model, new_customers, ad_spend, total_cost
    from marts.channel_period_cac
    where period_grain = 'month'
),

-- logic ctes
bounds as (
    select
        (window_end_exclusive - to_months($summary_months::integer))::date as window_start,
        (window_end_exclusive - to_months(1))::date as window_end,
        (window_end_exclusive - to_months(2 * $summary_months::integer))::date as older_start,
        (window_end_exclusive - to_months($summary_months::integer + 1))::date as older_end,
        -- acquisition months before this one have lived 12 complete months by the as-of date
        (window_end_exclusive - to_months(11))::date as matured_before
    from (
        select
            case
                when last_day($as_of_date::date) = $as_of_date::date
                    then (date_trunc('month', $as_of_date::date) + to_months(1))::date
                else date_trunc('month', $as_of_date::date)::date
            end as window_end_exclusive
    ) as as_of_month
),

cohorts as (
    select channel_ltv.*
    from channel_ltv
    cross join bounds
    where channel_ltv.cohort_month between bounds.window_start and bounds.window_end
),

-- New-customer-weighted CAC = total cost / total new customers of the window's months. Costs of a
-- month with spend but no new customers count too (their own CAC is NULL, their cost is not lost).
costs as (
    select
        cac.channel,
        cac.attribution_model,
        exact_sum(cac.ad_spend) / nullif(exact_sum(cac.new_customers), 0) as cac_paid,
        exact_sum(cac.total_cost) / nullif(exact_sum(cac.new_customers), 0) as cac_full
    from cac
    cross join bounds
    where cac.cohort_month between bounds.window_start and bounds.window_end
    group by all
),

-- The two sets of cohorts an observed LTV:CAC pools, each over the CAC of its own months (docs/metrics.md
-- "LTV:CAC": the same cohorts top and bottom, never a wider window's CAC): the window's months that have
-- lived 12 months, and the $summary_months acquisition months before the window (all of them have).
cohort_sets as (
    select 'window' as cohort_set, window_start as set_start, matured_before as set_end from bounds
    union all
    select 'older' as cohort_set, older_start as set_start, window_start as set_end from bounds
),

observed as (
    select
        cohort_sets.cohort_set,
        channel_ltv.channel,
        channel_ltv.attribution_model,
        exact_sum(channel_ltv.customers) as customers,
        exact_sum(channel_ltv.ltv_margin_12 * channel_ltv.customers)
        / nullif(exact_sum(case when channel_ltv.ltv_margin_12 is not null then channel_ltv.customers end), 0)
            as ltv_margin_12,
        sum(channel_ltv.ltv_12_members) as members,
        exact_sum(channel_ltv.ltv_12_sum_w2) as sum_w2,
        exact_sum(channel_ltv.ltv_12_sum_w2x) as sum_w2x,
        exact_sum(channel_ltv.ltv_12_sum_w2x2) as sum_w2x2
    from channel_ltv
    inner join cohort_sets
        on channel_ltv.cohort_month >= cohort_sets.set_start and channel_ltv.cohort_month < cohort_sets.set_end
    group by all
),

observed_costs as (
    select
        cohort_sets.cohort_set,
        cac.channel,
        cac.attribution_model,
        exact_sum(cac.total_cost) / nullif(exact_sum(cac.new_customers), 0) as cac_full
    from cac
    inner join cohort_sets on cac.cohort_month >= cohort_sets.set_start and cac.cohort_month < cohort_sets.set_end
    group by all
),

pooled as (
    select
        channel,
        attribution_model,
        count(*) as cohorts,
        exact_sum(customers) as customers,
        -- LTV at h over the cohorts complete at h only, weighted by cohort size; NULL if none is.
        exact_sum(ltv_margin_1 * customers) / nullif(exact_sum(case when ltv_margin_1 is not null then customers end), 0) as ltv_margin_1,
        exact_sum(ltv_margin_3 * customers) / nullif(exact_sum(case when ltv_margin_3 is not null then customers end), 0) as ltv_margin_3,
        exact_sum(ltv_margin_6 * customers) / nullif(exact_sum(case when ltv_margin_6 is not null then customers end), 0) as ltv_margin_6,
        exact_sum(ltv_margin_24 * customers) / nullif(exact_sum(case when ltv_margin_24 is not null then customers end), 0) as ltv_margin_24,
        exact_sum(ltv_revenue_1 * customers) / nullif(exact_sum(case when ltv_revenue_1 is not null then customers end), 0) as ltv_revenue_1,
        exact_sum(ltv_revenue_3 * customers) / nullif(exact_sum(case when ltv_revenue_3 is not null then customers end), 0) as ltv_revenue_3,
        exact_sum(ltv_revenue_6 * customers) / nullif(exact_sum(case when ltv_revenue_6 is not null then customers end), 0) as ltv_revenue_6,
        exact_sum(ltv_revenue_12 * customers) / nullif(exact_sum(case when ltv_revenue_12 is not null then customers end), 0) as ltv_revenue_12,
        exact_sum(ltv_revenue_24 * customers) / nullif(exact_sum(case when ltv_revenue_24 is not null then customers end), 0) as ltv_revenue_24,
        exact_sum(orders) as orders,
        exact_sum(revenue) as revenue,
        exact_sum(margin) as margin,
        exact_sum(active_customer_months) as active_customer_months,
        exact_sum(repeat_customers) as repeat_customers,
        -- predicted LTV at h over all the window's cohorts; unknown if one cohort's prediction is
        case when count(ltv_margin_1_predicted) = count(*) then exact_sum(ltv_margin_1_predicted * customers) / exact_sum(customers) end
            as ltv_margin_1_predicted,
        case when count(ltv_margin_3_predicted) = count(*) then exact_sum(ltv_margin_3_predicted * customers) / exact_sum(customers) end
            as ltv_margin_3_predicted,
        case when count(ltv_margin_6_predicted) = count(*) then exact_sum(ltv_margin_6_predicted * customers) / exact_sum(customers) end
            as ltv_margin_6_predicted,
        case when count(ltv_margin_12_predicted) = count(*) then exact_sum(ltv_margin_12_predicted * customers) / exact_sum(customers) end
            as ltv_margin_12_predicted,
        case when count(ltv_margin_24_predicted) = count(*) then exact_sum(ltv_margin_24_predicted * customers) / exact_sum(customers) end
            as ltv_margin_24_predicted
    from cohorts
    group by all
),

-- The pooled payback curve: at month index k, cumulative margin per customer over the window's
-- cohorts whose month k is complete, weighted by cohort size.
curve as (
    select
        cohort_ltv.channel,
        cohort_ltv.attribution_model,
        cohort_ltv.month_index,
        exact_sum(cohort_ltv.cum_margin_per_customer * cohort_ltv.cohort_customers)
        / exact_sum(cohort_ltv.cohort_customers) as cum_margin_per_customer
    from cohort_ltv
    cross join bounds
    where
        cohort_ltv.cohort_month between bounds.window_start and bounds.window_end
        and cohort_ltv.month_complete
    group by all
),

payback as (
    select
        curve.channel,
        curve.attribution_model,
        -- months_observed here = length of the pooled curve = complete months of the oldest cohort.
        max(curve.month_index + 1) as months_observed,
        min(curve.month_index + 1) filter (where curve.cum_margin_per_customer >= costs.cac_full - 1e-9) as payback_months_observed
    from curve
    left join costs using (channel, attribution_model)
    group by all
),

-- Monthly churn as in channel_ltv: 1 - Σ active(k) / Σ active(k - 1) over complete months k >= 1,
-- pooled over all the window's cohorts.
transitions as (
    select
        cohort_ltv.channel,
        cohort_ltv.attribution_model,
        cohort_ltv.month_index,
        cohort_ltv.month_complete,
        cohort_ltv.active_customers,
        lag(cohort_ltv.active_customers) over (
            partition by cohort_ltv.cohort_month, cohort_ltv.channel, cohort_ltv.attribution_model
            order by cohort_ltv.month_index
        ) as prior_active_customers
    from cohort_ltv
    cross join bounds
    where cohort_ltv.cohort_month between bounds.window_start and bounds.window_end
),

churn as (
    select
        channel,
        attribution_model,
        1 - exact_sum(active_customers) / nullif(exact_sum(prior_active_customers), 0) as monthly_churn
    from transitions
    where month_index >= 1 and month_complete
    group by all
),

-- Predicted payback on the pooled predicted curve, as in marts.channel_ltv: the observed payback once
-- reached, else where the curve, linear between its points at 0, 1, 3, 6, 12 and 24 months, reaches
-- cac_full (rounded up, after the months observed); NULL when not within 24 months.
payback_predicted as (
    select
        pooled.channel,
        pooled.attribution_model,
        min(predicted_payback_crossing(
            costs.cac_full,
            pooled.ltv_margin_1_predicted,
            pooled.ltv_margin_3_predicted,
            pooled.ltv_margin_6_predicted,
            pooled.ltv_margin_12_predicted,
            pooled.ltv_margin_24_predicted
        )) as crossing_month
    from pooled
    inner join costs using (channel, attribution_model)
    group by all
),

rates as (
    select
        pooled.*,
        costs.cac_paid,
        costs.cac_full,
        payback.months_observed,
        payback.payback_months_observed,
        churn.monthly_churn,
        coalesce(
            payback.payback_months_observed,
            case
                when payback_predicted.crossing_month is not null
                    then greatest(payback_predicted.crossing_month, coalesce(payback.months_observed, 0) + 1)
            end
        ) as payback_months_predicted,
        coalesce(matured.customers, 0) as ltv_12_customers,
        matured.ltv_margin_12,
        matured_costs.cac_full as cac_full_12,
        mean_interval_half(
            matured.customers, matured.sum_w2, matured.ltv_margin_12 * matured.customers, matured.sum_w2x,
            matured.sum_w2x2, matured.members
        ) as ltv_12_half_width,
        coalesce(older.customers, 0) as customers_older_cohorts,
        older.ltv_margin_12 as ltv_margin_12_older_cohorts,
        older_costs.cac_full as cac_full_older_cohorts,
        mean_interval_half(
            older.customers, older.sum_w2, older.ltv_margin_12 * older.customers, older.sum_w2x, older.sum_w2x2,
            older.members
        ) as older_half_width,
        backtest.ltv_backtest_error,
        pooled.revenue / nullif(pooled.orders, 0) as avg_order_value,
        pooled.orders / pooled.customers as orders_per_customer,
        pooled.repeat_customers / pooled.customers as repeat_purchase_rate,
        pooled.margin / nullif(pooled.revenue, 0) as margin_rate,
        pooled.orders / nullif(pooled.active_customer_months, 0) as monthly_orders_per_active,
        pooled.margin / nullif(pooled.active_customer_months, 0) as monthly_margin_per_active
    from pooled
    left join costs using (channel, attribution_model)
    left join payback using (channel, attribution_model)
    left join churn using (channel, attribution_model)
    left join payback_predicted using (channel, attribution_model)
    left join observed as matured
        on
            pooled.channel = matured.channel and pooled.attribution_model = matured.attribution_model
            and matured.cohort_set = 'window'
    left join observed_costs as matured_costs
        on
            pooled.channel = matured_costs.channel and pooled.attribution_model = matured_costs.attribution_model
            and matured_costs.cohort_set = 'window'
    left join observed as older
        on
            pooled.channel = older.channel and pooled.attribution_model = older.attribution_model
            and older.cohort_set = 'older'
    left join observed_costs as older_costs
        on
            pooled.channel = older_costs.channel and pooled.attribution_model = older_costs.attribution_model
            and older_costs.cohort_set = 'older'
    left join backtest using (channel)
),

final as (
    select
        rates.channel,
        rates.attribution_model,
        bounds.window_start,
        bounds.window_end,
        rates.cohorts::integer as cohorts,
        rates.customers::double as customers,
        rates.cac_paid::double as cac_paid,
        rates.cac_full::double as cac_full,
        rates.ltv_margin_1::double as ltv_margin_1,
        rates.ltv_margin_3::double as ltv_margin_3,
        rates.ltv_margin_6::double as ltv_margin_6,
        rates.ltv_margin_12::double as ltv_margin_12,
        rates.ltv_margin_24::double as ltv_margin_24,
        rates.ltv_revenue_1::double as ltv_revenue_1,
        rates.ltv_revenue_3::double as ltv_revenue_3,
        rates.ltv_revenue_6::double as ltv_revenue_6,
        rates.ltv_revenue_12::double as ltv_revenue_12,
        rates.ltv_revenue_24::double as ltv_revenue_24,
        rates.ltv_12_customers::double as ltv_12_customers,
        rates.cac_full_12::double as cac_full_12,
        (rates.ltv_margin_12 / nullif(rates.cac_full_12, 0))::double as ltv_cac_12,
        ltv_cac_band(rates.ltv_margin_12, rates.cac_full_12, rates.ltv_12_customers, $min_customers_for_band::integer)
            as ltv_cac_band,
        (rates.ltv_margin_12 - rates.ltv_12_half_width)::double as ltv_margin_12_low,
        (rates.ltv_margin_12 + rates.ltv_12_half_width)::double as ltv_margin_12_high,
        ((rates.ltv_margin_12 - rates.ltv_12_half_width) / nullif(rates.cac_full_12, 0))::double as ltv_cac_12_low,
        ((rates.ltv_margin_12 + rates.ltv_12_half_width) / nullif(rates.cac_full_12, 0))::double as ltv_cac_12_high,
        rates.payback_months_observed::integer as payback_months_observed,
        rates.months_observed::integer as months_observed,
        (rates.cac_full / nullif(rates.monthly_margin_per_active, 0))::double as payback_months_simple,
        case
            when rates.monthly_churn > 0
                then rates.avg_order_value * rates.monthly_orders_per_active * rates.margin_rate / rates.monthly_churn
        end::double as ltv_formula,
        rates.avg_order_value::double as avg_order_value,
        rates.orders_per_customer::double as orders_per_customer,
        rates.repeat_purchase_rate::double as repeat_purchase_rate,
        rates.margin_rate::double as margin_rate,
        rates.monthly_orders_per_active::double as monthly_orders_per_active,
        rates.monthly_margin_per_active::double as monthly_margin_per_active,
        rates.monthly_churn::double as monthly_churn,
        rates.ltv_margin_1_predicted::double as ltv_margin_1_predicted,
        rates.ltv_margin_3_predicted::double as ltv_margin_3_predicted,
        rates.ltv_margin_6_predicted::double as ltv_margin_6_predicted,
        rates.ltv_margin_12_predicted::double as ltv_margin_12_predicted,
        rates.ltv_margin_24_predicted::double as ltv_margin_24_predicted,
        (rates.ltv_margin_12_predicted / nullif(rates.cac_full, 0))::double as ltv_cac_12_predicted,
        ltv_cac_band(rates.ltv_margin_12_predicted, rates.cac_full, rates.customers, $min_customers_for_band::integer)
            as ltv_cac_band_predicted,
        rates.ltv_backtest_error::double as ltv_backtest_error,
        rates.payback_months_predicted::integer as payback_months_predicted,
        rates.customers_older_cohorts::double as customers_older_cohorts,
        rates.ltv_margin_12_older_cohorts::double as ltv_margin_12_older_cohorts,
        rates.cac_full_older_cohorts::double as cac_full_older_cohorts,
        (rates.ltv_margin_12_older_cohorts / nullif(rates.cac_full_older_cohorts, 0))::double as ltv_cac_12_older_cohorts,
        ltv_cac_band(
            rates.ltv_margin_12_older_cohorts, rates.cac_full_older_cohorts, rates.customers_older_cohorts,
            $min_customers_for_band::integer
        ) as ltv_cac_band_older_cohorts,
        (rates.ltv_margin_12_older_cohorts - rates.older_half_width)::double as ltv_margin_12_older_cohorts_low,
        (rates.ltv_margin_12_older_cohorts + rates.older_half_width)::double as ltv_margin_12_older_cohorts_high,
        ((rates.ltv_margin_12_older_cohorts - rates.older_half_width) / nullif(rates.cac_full_older_cohorts, 0))::double
            as ltv_cac_12_older_cohorts_low,
        ((rates.ltv_margin_12_older_cohorts + rates.older_half_width) / nullif(rates.cac_full_older_cohorts, 0))::double
            as ltv_cac_12_older_cohorts_high
    from rates
    cross join bounds
)

select * from final
order by attribution_model, channel
