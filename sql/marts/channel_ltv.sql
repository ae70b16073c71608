-- materialized: table
-- LTV, payback and LTV:CAC per acquisition cohort: one row per cohort_month x channel x
-- attribution_model. Historical LTV at h months is read off marts.cohort_ltv at k = h - 1 and is
-- NULL until that month has ended on or before the as-of date, so completeness stays visible.
-- Predicted LTV at h (docs/metrics.md "Predicted LTV") = the margin observed so far + the expected margin of
-- the cohort's customers from the as-of date to the end of month h - 1 (marts.customer_ltv_predicted,
-- expected_margin_to_horizon_h, weighted by credit), per weighted customer; once the horizon is lived
-- the expected part is 0 and the value is the observed ltv_margin_h.

with

-- import ctes
cohort_ltv as (
    select
        cohort_month, channel, attribution_model, month_index, month_complete, cohort_customers,
        active_customers, orders, repeat_customers, revenue, margin, cum_revenue_per_customer,
        cum_margin_per_customer
    from marts.cohort_ltv
),


cac as (
    select period_start as cohort_month, channel, attribution_model, cac_paid, cac_full
    from marts.channel_period_cac
    where period_grain = 'month'
),

members as (
    select customer_key, cohort_month, attribution_model, channel, credit
    from marts.cohort_members
),

orders as (
    select customer_key, order_ts, margin, refund_margin, refunded_at
    from marts.orders
),

predicted as (
    select
        customer_key, expected_margin_to_horizon_1, expected_margin_to_horizon_3, expected_margin_to_horizon_6,
        expected_margin_to_horizon_12, expected_margin_to_horizon_24
    from marts.customer_ltv_predicted
),

-- logic ctes
as_of as (
    select $as_of_date::date as as_of_date
),

-- Each customer's own 12-month margin x (months 0..11, refunds in the month they happened, as
-- marts.cohort_ltv counts them), for the cohorts that have lived 12 months: the spread of x around the
-- cohort's LTV gives its interval (docs/metrics.md "The headline"). Σwx / Σw is ltv_margin_12. x does not
-- depend on the attribution model, so it is computed once per customer, not once per model.
lived_customers as (
    -- read from the table, not the members CTE (a CTE read twice is materialised: 56 M rows at 100 M
    -- touches), and from the default model's rows only: a customer's credits sum to 1 under every model
    -- (a blocking check), so every member is listed under each
    select distinct cohort_members.customer_key, cohort_members.cohort_month
    from marts.cohort_members
    cross join as_of
    where
        cohort_members.attribution_model = $default_model
        and last_day(cohort_members.cohort_month + to_months(11)) <= as_of.as_of_date
),

customer_margins as (
    select
        lived_customers.customer_key,
        lived_customers.cohort_month,
        coalesce(exact_sum(orders.margin), 0)
        - coalesce(exact_sum(case
            when orders.refunded_at < lived_customers.cohort_month + to_months(12) and orders.refunded_at::date <= as_of.as_of_date
                then orders.refund_margin
        end), 0) as x
    from lived_customers
    cross join as_of
    left join orders
        on
            lived_customers.customer_key = orders.customer_key
            and orders.order_ts < lived_customers.cohort_month + to_months(12)
            and orders.order_ts::date <= as_of.as_of_date
    group by lived_customers.customer_key, lived_customers.cohort_month
),

-- What the cohort sums need of each customer, one row per customer, so that the members (eight rows or
-- more per customer) are joined once: its 12-month margin once its cohort has lived 12 months, and its
-- predicted margin.
customer_values as (
    select
        customer_key,
        customer_margins.cohort_month as lived_cohort_month,
        customer_margins.x,
        predicted.expected_margin_to_horizon_1,
        predicted.expected_margin_to_horizon_3,
        predicted.expected_margin_to_horizon_6,
        predicted.expected_margin_to_horizon_12,
        predicted.expected_margin_to_horizon_24
    from predicted
    full join customer_margins using (customer_key)
),

-- the members read once (so the CTE is not materialised), each with its customer's values
member_values as (
    select
        members.cohort_month,
        members.channel,
        members.attribution_model,
        members.credit as w,
        case when customer_values.lived_cohort_month = members.cohort_month then customer_values.x end as x,
        customer_values.expected_margin_to_horizon_1,
        customer_values.expected_margin_to_horizon_3,
        customer_values.expected_margin_to_horizon_6,
        customer_values.expected_margin_to_horizon_12,
        customer_values.expected_margin_to_horizon_24
    from members
    left join customer_values using (customer_key)
),

-- Per cohort: the sums an interval needs over its lived customers (x is NULL for the others) and the
-- expected margin after the as-of date up to each horizon, weighted by credit. A customer without a
-- prediction (its fit did not converge: quality.ltv_fits) makes the cohort's expected sum unknown.
-- Pooled over any set of cohorts, the interval sums give that set's interval.
cohort_values as (
    select
        cohort_month,
        channel,
        attribution_model,
        count(*) filter (where x is not null and w > 0) as ltv_12_members,
        exact_sum(case when x is not null then w * w end) as ltv_12_sum_w2,
        exact_sum(w * w * x) as ltv_12_sum_w2x,
        exact_sum(w * w * x * x) as ltv_12_sum_w2x2,
        count(*) filter (where expected_margin_to_horizon_1 is null) as unpredicted_members,
        exact_sum(w * expected_margin_to_horizon_1) as expected_margin_1,
        exact_sum(w * expected_margin_to_horizon_3) as expected_margin_3,
        exact_sum(w * expected_margin_to_horizon_6) as expected_margin_6,
        exact_sum(w * expected_margin_to_horizon_12) as expected_margin_12,
        exact_sum(w * expected_margin_to_horizon_24) as expected_margin_24
    from member_values
    group by all
),

-- customers with a second valid order by the as-of month: cohort_ltv's cumulative count at its last month
repeaters as (
    select
        cohort_month,
        channel,
        attribution_model,
        arg_max(repeat_customers, month_index) as repeat_customers
    from cohort_ltv
    group by all
),

-- Month-over-month retention of activity: active in k over active in k - 1, for complete months k >= 1
-- (the as-of month is partial and would understate it).
transitions as (
    select
        cohort_month,
        channel,
        attribution_model,
        month_index,
        month_complete,
        active_customers,
        lag(active_customers) over (
            partition by cohort_month, channel, attribution_model order by month_index
        ) as prior_active_customers
    from cohort_ltv
),

churn as (
    select
        cohort_month,
        channel,
        attribution_model,
        exact_sum(active_customers) as retained_customer_months,
        exact_sum(prior_active_customers) as prior_customer_months
    from transitions
    where month_index >= 1 and month_complete
    group by all
),

totals as (
    select
        cohort_month,
        channel,
        attribution_model,
        any_value(cohort_customers) as customers,
        -- months_observed counts every month index with a row, the partial as-of month included.
        count(*) as months_observed,
        count(*) filter (where month_complete) as months_complete,
        exact_sum(orders) as orders,
        exact_sum(revenue) as revenue,
        exact_sum(margin) as margin,
        exact_sum(active_customers) as active_customer_months,
        max(cum_margin_per_customer) filter (where month_index = 0 and month_complete) as ltv_margin_1,
        max(cum_margin_per_customer) filter (where month_index = 2 and month_complete) as ltv_margin_3,
        max(cum_margin_per_customer) filter (where month_index = 5 and month_complete) as ltv_margin_6,
        max(cum_margin_per_customer) filter (where month_index = 11 and month_complete) as ltv_margin_12,
        max(cum_margin_per_customer) filter (where month_index = 23 and month_complete) as ltv_margin_24,
        max(cum_revenue_per_customer) filter (where month_index = 0 and month_complete) as ltv_revenue_1,
        max(cum_revenue_per_customer) filter (where month_index = 2 and month_complete) as ltv_revenue_3,
        max(cum_revenue_per_customer) filter (where month_index = 5 and month_complete) as ltv_revenue_6,
        max(cum_revenue_per_customer) filter (where month_index = 11 and month_complete) as ltv_revenue_12,
        max(cum_revenue_per_customer) filter (where month_index = 23 and month_complete) as ltv_revenue_24
    from cohort_ltv
    group by all
),

-- Observed payback: the first month (acquisition month = 1) whose cumulative margin per customer
-- covers the fully loaded CAC. The partial as-of month counts: margin already earned is observed.
-- The 1e-9 keeps an exact tie from failing on floating-point dust of fractional credits.
payback as (
    select
        cohort_ltv.cohort_month,
        cohort_ltv.channel,
        cohort_ltv.attribution_model,
        min(cohort_ltv.month_index + 1) as payback_months_observed
    from cohort_ltv
    inner join cac using (cohort_month, channel, attribution_model)
    where cohort_ltv.cum_margin_per_customer >= cac.cac_full - 1e-9
    group by all
),

-- ltv_margin_h_predicted: observed where lived, else observed so far + expected to the horizon
predictions as (
    select
        totals.cohort_month,
        totals.channel,
        totals.attribution_model,
        coalesce(totals.ltv_margin_1, case when expected.unpredicted_members = 0 then (totals.margin + expected.expected_margin_1) / totals.customers end)
            as ltv_margin_1_predicted,
        coalesce(totals.ltv_margin_3, case when expected.unpredicted_members = 0 then (totals.margin + expected.expected_margin_3) / totals.customers end)
            as ltv_margin_3_predicted,
        coalesce(totals.ltv_margin_6, case when expected.unpredicted_members = 0 then (totals.margin + expected.expected_margin_6) / totals.customers end)
            as ltv_margin_6_predicted,
        coalesce(totals.ltv_margin_12, case when expected.unpredicted_members = 0 then (totals.margin + expected.expected_margin_12) / totals.customers end)
            as ltv_margin_12_predicted,
        coalesce(totals.ltv_margin_24, case when expected.unpredicted_members = 0 then (totals.margin + expected.expected_margin_24) / totals.customers end)
            as ltv_margin_24_predicted
    from totals
    left join cohort_values as expected using (cohort_month, channel, attribution_model)
),

-- Predicted payback: the observed payback once reached; else the month at which the predicted LTV curve,
-- linear between its points at 0 (nothing), 1, 3, 6, 12 and 24 months, reaches cac_full, rounded up and
-- never inside the complete months already observed; NULL when not reached within 24 months.
payback_predicted as (
    select
        predictions.cohort_month,
        predictions.channel,
        predictions.attribution_model,
        min(predicted_payback_crossing(
            cac.cac_full,
            predictions.ltv_margin_1_predicted,
            predictions.ltv_margin_3_predicted,
            predictions.ltv_margin_6_predicted,
            predictions.ltv_margin_12_predicted,
            predictions.ltv_margin_24_predicted
        )) as crossing_month
    from predictions
    inner join cac using (cohort_month, channel, attribution_model)
    group by all
),

rates as (
    select
        totals.*,
        cac.cac_paid,
        cac.cac_full,
        coalesce(repeaters.repeat_customers, 0) as repeat_customers,
        payback.payback_months_observed,
        predictions.ltv_margin_1_predicted,
        predictions.ltv_margin_3_predicted,
        predictions.ltv_margin_6_predicted,
        predictions.ltv_margin_12_predicted,
        predictions.ltv_margin_24_predicted,
        coalesce(
            payback.payback_months_observed,
            -- (DuckDB's greatest skips NULLs: a curve that never crosses stays NULL)
            case
                when payback_predicted.crossing_month is not null
                    then greatest(payback_predicted.crossing_month, totals.months_complete + 1)
            end
        ) as payback_months_predicted,
        totals.revenue / nullif(totals.orders, 0) as avg_order_value,
        totals.orders / totals.customers as orders_per_customer,
        coalesce(repeaters.repeat_customers, 0) / totals.customers as repeat_purchase_rate,
        totals.margin / nullif(totals.revenue, 0) as margin_rate,
        -- Pooled over every observed month (acquisition and partial as-of month included):
        -- Σ weighted orders / Σ weighted active customers, i.e. per active customer-month.
        totals.orders / nullif(totals.active_customer_months, 0) as monthly_orders_per_active,
        -- Σ weighted margin (net of refunds) / Σ weighted active customers over the same months.
        totals.margin / nullif(totals.active_customer_months, 0) as monthly_margin_per_active,
        -- Monthly churn = 1 - pooled month-over-month retention = 1 - Σ active(k) / Σ active(k - 1)
        -- over complete months k >= 1; NULL when no complete transition exists yet (unknown).
        1 - churn.retained_customer_months / nullif(churn.prior_customer_months, 0) as monthly_churn
    from totals
    left join cac using (cohort_month, channel, attribution_model)
    left join repeaters using (cohort_month, channel, attribution_model)
    left join payback using (cohort_month, channel, attribution_model)
    left join churn using (cohort_month, channel, attribution_model)
    left join predictions using (cohort_month, channel, attribution_model)
    left join payback_predicted using (cohort_month, channel, attribution_model)
),

intervals as (
    select
        rates.*,
        -- the customers behind ltv_margin_12: the cohort's, once it has lived 12 months
        case when rates.ltv_margin_12 is not null then rates.customers else 0 end as ltv_12_customers,
        coalesce(cohort_values.ltv_12_members, 0) as ltv_12_members,
        cohort_values.ltv_12_sum_w2,
        cohort_values.ltv_12_sum_w2x,
        cohort_values.ltv_12_sum_w2x2,
        mean_interval_half(
            rates.customers, cohort_values.ltv_12_sum_w2, rates.ltv_margin_12 * rates.customers, cohort_values.ltv_12_sum_w2x,
            cohort_values.ltv_12_sum_w2x2, cohort_values.ltv_12_members
        ) as ltv_12_half_width
    from rates
    left join cohort_values using (cohort_month, channel, attribution_model)
),

final as (
    select
        cohort_month,
        channel,
        attribution_model,
        customers::double as customers,
        cac_paid::double as cac_paid,
        cac_full::double as cac_full,
        ltv_margin_1::double as ltv_margin_1,
        ltv_margin_3::double as ltv_margin_3,
        ltv_margin_6::double as ltv_margin_6,
        ltv_margin_12::double as ltv_margin_12,
        ltv_margin_24::double as ltv_margin_24,
        ltv_revenue_1::double as ltv_revenue_1,
        ltv_revenue_3::double as ltv_revenue_3,
        ltv_revenue_6::double as ltv_revenue_6,
        ltv_revenue_12::double as ltv_revenue_12,
        ltv_revenue_24::double as ltv_revenue_24,
        -- A CAC of 0 (a free channel) has no finite ratio: NULL, like a missing CAC.
        (ltv_margin_12 / nullif(cac_full, 0))::double as ltv_cac_12,
        ltv_cac_band(ltv_margin_12, cac_full, ltv_12_customers, $min_customers_for_band::integer) as ltv_cac_band,
        ltv_12_customers::double as ltv_12_customers,
        (ltv_margin_12 - ltv_12_half_width)::double as ltv_margin_12_low,
        (ltv_margin_12 + ltv_12_half_width)::double as ltv_margin_12_high,
        ((ltv_margin_12 - ltv_12_half_width) / nullif(cac_full, 0))::double as ltv_cac_12_low,
        ((ltv_margin_12 + ltv_12_half_width) / nullif(cac_full, 0))::double as ltv_cac_12_high,
        ltv_12_members::bigint as ltv_12_members,
        ltv_12_sum_w2::double as ltv_12_sum_w2,
        ltv_12_sum_w2x::double as ltv_12_sum_w2x,
        ltv_12_sum_w2x2::double as ltv_12_sum_w2x2,
        payback_months_observed::integer as payback_months_observed,
        months_observed::integer as months_observed,
        ltv_margin_1_predicted::double as ltv_margin_1_predicted,
        ltv_margin_3_predicted::double as ltv_margin_3_predicted,
        ltv_margin_6_predicted::double as ltv_margin_6_predicted,
        ltv_margin_12_predicted::double as ltv_margin_12_predicted,
        ltv_margin_24_predicted::double as ltv_margin_24_predicted,
        (ltv_margin_12_predicted / nullif(cac_full, 0))::double as ltv_cac_12_predicted,
        ltv_cac_band(ltv_margin_12_predicted, cac_full, customers, $min_customers_for_band::integer) as ltv_cac_band_predicted,
        payback_months_predicted::integer as payback_months_predicted,
        -- Simple payback uses the fully loaded CAC, like observed payback and LTV:CAC.
        (cac_full / nullif(monthly_margin_per_active, 0))::double as payback_months_simple,
        -- AOV x orders per active customer-month x margin rate x 1 / monthly churn; NULL when churn
        -- is unknown or <= 0 (no decay seen, so no finite lifetime).
        case
            when monthly_churn > 0
                then avg_order_value * monthly_orders_per_active * margin_rate / monthly_churn
        end::double as ltv_formula,
        avg_order_value::double as avg_order_value,
        orders_per_customer::double as orders_per_customer,
        repeat_purchase_rate::double as repeat_purchase_rate,
        margin_rate::double as margin_rate,
        monthly_orders_per_active::double as monthly_orders_per_active,
        monthly_margin_per_active::double as monthly_margin_per_active,
        monthly_churn::double as monthly_churn,
        orders::double as orders,
        revenue::double as revenue,
        margin::double as margin,
        active_customer_months::double as active_customer_months,
        repeat_customers::double as repeat_customers
    from intervals
)

select * from final
order by cohort_month, attribution_model, channel
