-- materialized: table
-- The table an analyst opens first: per channel and attribution model, the cohorts acquired in the
-- last $summary_months complete months (METRICS.md: a month is complete once it ended on or before
-- the as-of date, so an as-of date on a month's last day makes that month the window's last),
-- pooled. Every pooled figure is a ratio of sums over the window's cohorts, so large cohorts weigh more.

with

-- import ctes
channel_ltv as (
    select
        cohort_month, channel, attribution_model, customers, ltv_margin_1, ltv_margin_3, ltv_margin_6,
        ltv_margin_12, ltv_margin_24, ltv_revenue_1, ltv_revenue_3, ltv_revenue_6, ltv_revenue_12,
        ltv_revenue_24, orders, revenue, margin, active_customer_months, repeat_customers
    from marts.channel_ltv
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
        (window_end_exclusive - to_months(1))::date as window_end
    from (
        select
            case
                when last_day($as_of_date::date) = $as_of_date::date
                    then (date_trunc('month', $as_of_date::date) + to_months(1))::date
                else date_trunc('month', $as_of_date::date)::date
            end as window_end_exclusive
    )
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
        exact_sum(ltv_margin_12 * customers) / nullif(exact_sum(case when ltv_margin_12 is not null then customers end), 0) as ltv_margin_12,
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
        exact_sum(repeat_customers) as repeat_customers
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
    where cohort_ltv.cohort_month between bounds.window_start and bounds.window_end
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

rates as (
    select
        pooled.*,
        costs.cac_paid,
        costs.cac_full,
        payback.months_observed,
        payback.payback_months_observed,
        churn.monthly_churn,
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
        (rates.ltv_margin_12 / nullif(rates.cac_full, 0))::double as ltv_cac_12,
        case
            when rates.ltv_margin_12 / nullif(rates.cac_full, 0) is null then null
            when rates.ltv_margin_12 / nullif(rates.cac_full, 0) < 1 then 'loss'
            when rates.ltv_margin_12 / nullif(rates.cac_full, 0) < 2 then 'break_even'
            when rates.ltv_margin_12 / nullif(rates.cac_full, 0) < 3 then 'low'
            when rates.ltv_margin_12 / nullif(rates.cac_full, 0) < 4 then 'healthy'
            else 'excellent'
        end as ltv_cac_band,
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
        rates.monthly_churn::double as monthly_churn
    from rates
    cross join bounds
)

select * from final
order by attribution_model, channel
