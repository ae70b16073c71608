-- materialized: python
-- Predicted LTV per customer (docs/metrics.md "Predicted LTV"). This select is the set-based half: one row
-- per customer acquired up to $as_of_date with the daily summary of its valid orders, as lifetimes'
-- summary_data_from_transaction_data(freq="D") computes it, taken twice in one pass: at $as_of_date
-- (frequency, recency, tenure, monetary_value: the forecast) and at $backtest_as_of, the as-of date - 6
-- months (the *_cal columns, NULL for customers acquired after it, and holdout_*: what the customer did
-- after it, up to $as_of_date: the back-test). pipelines/transform/models/ltv_predict.py takes it at the fit date (the
-- last ltv.cadence boundary) to fit BG/NBD and Gamma-Gamma on its distinct rows and back-test them, and at the
-- run's as-of date to score every customer; it writes marts.customer_ltv_predicted, quality.ltv_fits and
-- quality.ltv_backtest.
-- Conventions: a purchase day is a calendar day (UTC) with at least one valid order; its value is the
-- day's gross margin net of the partial refunds of those orders known at the date the summary is taken
-- at (the back-test's calibration days see the refunds up to $backtest_as_of only).
-- The channel is marts.first_purchases.channel: the channel with the largest credit of the first
-- purchase under the default attribution model (ties: the later touch, then the name), so a customer
-- is fitted once however many channels shared the credit; 'unattributed' when there is none.

with

-- import ctes
orders as (
    select customer_key, order_ts, margin, refund_margin, refunded_at
    from marts.orders
    where order_ts::date <= $as_of_date::date
),

first_purchases as (
    select customer_key, first_purchase_ts, acquisition_month, channel
    from marts.first_purchases
    where first_purchase_ts::date <= $as_of_date::date
),

-- logic ctes
days as (
    select
        orders.customer_key,
        orders.order_ts::date as order_day,
        exact_sum(
            orders.margin - case
                when orders.refunded_at::date <= $as_of_date::date then coalesce(orders.refund_margin, 0) else 0
            end
        ) as margin,
        exact_sum(
            orders.margin - case
                when orders.refunded_at::date <= $backtest_as_of::date then coalesce(orders.refund_margin, 0) else 0
            end
        ) as margin_cal
    from orders
    group by all
),

summary as (
    select
        first_purchases.customer_key,
        any_value(first_purchases.first_purchase_ts)::date as first_day,
        any_value(date_trunc('month', first_purchases.acquisition_month))::date as acquisition_month,
        coalesce(any_value(first_purchases.channel), 'unattributed') as channel,
        count(*) as purchase_days,
        max(days.order_day) as last_day,
        exact_sum(case when days.order_day > first_purchases.first_purchase_ts::date then days.margin end) as repeat_margin,
        count(*) filter (where days.order_day <= $backtest_as_of::date) as purchase_days_cal,
        max(days.order_day) filter (where days.order_day <= $backtest_as_of::date) as last_day_cal,
        exact_sum(case
            when days.order_day <= $backtest_as_of::date and days.order_day > first_purchases.first_purchase_ts::date
                then days.margin_cal
        end) as repeat_margin_cal,
        count(*) filter (where days.order_day > $backtest_as_of::date) as holdout_days,
        exact_sum(case when days.order_day > $backtest_as_of::date then days.margin end) as holdout_margin
    from first_purchases
    inner join days on days.customer_key = first_purchases.customer_key
    group by first_purchases.customer_key
),

final as (
    select
        customer_key,
        first_day as first_purchase_date,
        acquisition_month,
        channel,
        (purchase_days - 1)::integer as frequency,
        date_diff('day', first_day, last_day)::integer as recency,
        date_diff('day', first_day, $as_of_date::date)::integer as tenure,
        -- lifetimes' monetary_value: the mean value of the repeat purchase days (the first day left out)
        case when purchase_days > 1 then repeat_margin / (purchase_days - 1) end as monetary_value,
        -- the same as of $backtest_as_of, for the customers acquired by then
        case when first_day <= $backtest_as_of::date then (purchase_days_cal - 1)::integer end as frequency_cal,
        case when first_day <= $backtest_as_of::date then date_diff('day', first_day, last_day_cal)::integer end as recency_cal,
        case when first_day <= $backtest_as_of::date then date_diff('day', first_day, $backtest_as_of::date)::integer end as tenure_cal,
        case when first_day <= $backtest_as_of::date and purchase_days_cal > 1 then repeat_margin_cal / (purchase_days_cal - 1) end
            as monetary_value_cal,
        holdout_days::integer as holdout_orders,
        coalesce(holdout_margin, 0) as holdout_margin
    from summary
)

select * from final
