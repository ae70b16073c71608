-- materialized: python by pipelines.ltv_predict
-- Predicted LTV per customer (METRICS.md "Predicted LTV"). This select is the set-based half: the daily
-- summary of every customer's valid orders up to $summary_as_of, as lifetimes'
-- summary_data_from_transaction_data(freq="D") computes it. pipelines/ltv_predict.py runs it, fits
-- BG/NBD and Gamma-Gamma on its distinct rows and writes marts.customer_ltv_predicted (plus
-- quality.ltv_fits and quality.ltv_backtest). $summary_as_of is the as-of date for the forecast and the
-- as-of date - 6 months for the back-test; the holdout_* columns then hold what the customer did after
-- it, up to $as_of_date (zero when both dates are the same).
-- Conventions: a purchase day is a calendar day (UTC) with at least one valid order; its value is the
-- day's gross margin net of the partial refunds of those orders known at the date the summary is taken
-- for (refunded_at on or before $summary_as_of for calibration days, $as_of_date for holdout days).
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
    where first_purchase_ts::date <= $summary_as_of::date
),

-- logic ctes
days as (
    select
        orders.customer_key,
        orders.order_ts::date as order_day,
        exact_sum(
            orders.margin - case
                when orders.refunded_at::date <= case
                    when orders.order_ts::date <= $summary_as_of::date then $summary_as_of::date
                    else $as_of_date::date
                end then coalesce(orders.refund_margin, 0)
                else 0
            end
        ) as margin
    from orders
    group by all
),

summary as (
    select
        first_purchases.customer_key,
        any_value(first_purchases.first_purchase_ts)::date as first_purchase_date,
        any_value(date_trunc('month', first_purchases.acquisition_month))::date as acquisition_month,
        coalesce(any_value(first_purchases.channel), 'unattributed') as channel,
        (count(*) filter (where days.order_day <= $summary_as_of::date) - 1)::integer as frequency,
        date_diff('day', any_value(first_purchases.first_purchase_ts)::date,
            max(days.order_day) filter (where days.order_day <= $summary_as_of::date))::integer as recency,
        date_diff('day', any_value(first_purchases.first_purchase_ts)::date, $summary_as_of::date)::integer as tenure,
        exact_sum(case
            when days.order_day <= $summary_as_of::date and days.order_day > first_purchases.first_purchase_ts::date
                then days.margin
        end) as repeat_margin,
        (count(*) filter (where days.order_day > $summary_as_of::date))::integer as holdout_orders,
        coalesce(exact_sum(case when days.order_day > $summary_as_of::date then days.margin end), 0) as holdout_margin
    from first_purchases
    inner join days on days.customer_key = first_purchases.customer_key
    group by first_purchases.customer_key
),

final as (
    select
        customer_key,
        first_purchase_date,
        acquisition_month,
        channel,
        frequency,
        recency,
        tenure,
        -- lifetimes' monetary_value: the mean value of the repeat purchase days (the first day left out)
        case when frequency > 0 then repeat_margin / frequency end as monetary_value,
        holdout_orders,
        holdout_margin
    from summary
)

select * from final
