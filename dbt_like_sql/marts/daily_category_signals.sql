/*
materialized: incremental
partition_column: signal_date
lookback_days: 6
description: >
  Behavioral signals per product category and day: review, search and social volume, the mean
  and variance of sentiment, and 7-day rolling means of volume and sentiment. These lead sales
  by a few days, so they feed the weekly sales-direction model and the forecasts.
owner: team:analytics
tags: [signals, marts]
columns:
  signal_date: Day of the signals (UTC).
  category: Product category.
  review_count: Reviews posted that day.
  search_volume: Searches for the category that day.
  social_count: Social mentions that day.
  event_volume: All signal events that day (reviews + searches + mentions).
  sentiment_mean: Mean sentiment of reviews and mentions, -1 (negative) to 1 (positive).
  sentiment_var: Sample variance of that sentiment.
  volume_7d_mean: Mean daily event volume over the 7 days ending that day.
  sentiment_7d_mean: Mean of the daily sentiment over the 7 days ending that day.
  sentiment_7d_var: Variance of the daily sentiment over the 7 days ending that day.
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
        var_samp(sentiment) FILTER (WHERE source <> 'search') AS sentiment_var
    FROM raw.signals
    WHERE signal_date >= {{ start_date }} - INTERVAL 6 DAY
      AND signal_date < {{ end_date }}
    GROUP BY signal_date, category
),

windowed AS (
    SELECT
        *,
        avg(event_volume) OVER last_7_days AS volume_7d_mean,
        avg(sentiment_mean) OVER last_7_days AS sentiment_7d_mean,
        var_samp(sentiment_mean) OVER last_7_days AS sentiment_7d_var
    FROM daily
    WINDOW last_7_days AS (
        PARTITION BY category ORDER BY signal_date
        RANGE BETWEEN INTERVAL 6 DAY PRECEDING AND CURRENT ROW
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
    volume_7d_mean,
    sentiment_7d_mean,
    sentiment_7d_var
FROM windowed
WHERE signal_date >= {{ start_date }}
ORDER BY signal_date, category
