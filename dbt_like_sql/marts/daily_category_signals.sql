/*
materialized: incremental
partition_column: signal_date
lookback_days: 27
description: >
  Behavioral signals per product category and day: review, search and social volume, the mean
  and variance of sentiment, and 7- and 28-day rolling means of volume and sentiment. These
  lead sales by a few days, so they feed the weekly sales-direction model and the forecasts.
owner: team:analytics
tags: [signals, marts]
columns:
  signal_date: {type: date, description: "Day of the signals (UTC).", tests: [not_null]}
  category:
    type: varchar
    description: Product category.
    tests: [not_null, {relationships: {to: raw.product_catalog, field: category}}]
  review_count: {type: bigint, description: "Reviews posted that day.", tests: [{expression: ">= 0"}]}
  search_volume: {type: bigint, description: "Searches for the category that day.", tests: [{expression: ">= 0"}]}
  social_count: {type: bigint, description: "Social mentions that day.", tests: [{expression: ">= 0"}]}
  event_volume:
    type: bigint
    description: All signal events that day (reviews + searches + mentions).
    tests: [{expression: "= review_count + search_volume + social_count"}]
  sentiment_mean:
    type: double
    description: Mean sentiment of reviews and mentions, -1 (negative) to 1 (positive).
    tests: [{expression: "BETWEEN -1 AND 1"}]
  sentiment_var: {type: double, description: "Sample variance of that sentiment.", tests: [{expression: ">= 0"}]}
  review_sentiment_mean: {type: double, description: "Mean sentiment of the day's reviews."}
  social_sentiment_mean: {type: double, description: "Mean sentiment of the day's social mentions."}
  volume_7d_mean: {type: double, description: "Mean daily event volume over the 7 days ending that day."}
  sentiment_7d_mean: {type: double, description: "Mean of the daily sentiment over the 7 days ending that day."}
  sentiment_7d_var: {type: double, description: "Variance of the daily sentiment over the 7 days ending that day."}
  volume_28d_mean: {type: double, description: "Mean daily event volume over the 28 days ending that day."}
  sentiment_28d_mean: {type: double, description: "Mean of the daily sentiment over the 28 days ending that day."}
  sentiment_28d_var: {type: double, description: "Variance of the daily sentiment over the 28 days ending that day."}
  days_in_28d_window: {type: bigint, description: "Days with signals in the 28-day window (28 once history allows)."}
tests:
  - unique: [signal_date, category]
*/
WITH daily AS (
    SELECT
        signal_date,
        category,
        count(*) FILTER (WHERE source = 'review') AS review_count,
        coalesce(sum(volume) FILTER (WHERE source = 'search'), 0)::BIGINT AS search_volume,
        count(*) FILTER (WHERE source = 'social') AS social_count,
        sum(volume)::BIGINT AS event_volume,
        avg(sentiment) FILTER (WHERE source <> 'search') AS sentiment_mean,
        var_samp(sentiment) FILTER (WHERE source <> 'search') AS sentiment_var,
        avg(sentiment) FILTER (WHERE source = 'review') AS review_sentiment_mean,
        avg(sentiment) FILTER (WHERE source = 'social') AS social_sentiment_mean
    FROM raw.signals
    WHERE signal_date >= {{ start_date }} - INTERVAL 27 DAY
      AND signal_date < {{ end_date }}
    GROUP BY signal_date, category
),

windowed AS (
    SELECT
        *,
        avg(event_volume) OVER last_7_days AS volume_7d_mean,
        avg(sentiment_mean) OVER last_7_days AS sentiment_7d_mean,
        var_samp(sentiment_mean) OVER last_7_days AS sentiment_7d_var,
        avg(event_volume) OVER last_28_days AS volume_28d_mean,
        avg(sentiment_mean) OVER last_28_days AS sentiment_28d_mean,
        var_samp(sentiment_mean) OVER last_28_days AS sentiment_28d_var,
        count(*) OVER last_28_days AS days_in_28d_window
    FROM daily
    WINDOW
        last_7_days AS (
            PARTITION BY category ORDER BY signal_date
            RANGE BETWEEN INTERVAL 6 DAY PRECEDING AND CURRENT ROW
        ),
        last_28_days AS (
            PARTITION BY category ORDER BY signal_date
            RANGE BETWEEN INTERVAL 27 DAY PRECEDING AND CURRENT ROW
        )
)

SELECT
    signal_date,
    category,
    review_count,
    search_volume,
    social_count,
    event_volume,
    sentiment_mean,
    sentiment_var,
    review_sentiment_mean,
    social_sentiment_mean,
    volume_7d_mean,
    sentiment_7d_mean,
    sentiment_7d_var,
    volume_28d_mean,
    sentiment_28d_mean,
    sentiment_28d_var,
    days_in_28d_window
FROM windowed
WHERE signal_date >= {{ start_date }}
ORDER BY signal_date, category
