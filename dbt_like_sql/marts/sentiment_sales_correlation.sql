/*
materialized: table
description: >
  How closely the sentiment around each category tracks its store sales: the Pearson
  correlation between the daily sentiment of reviews, of social mentions, or of both, and the
  daily revenue of the category the same day and 1, 3 and 7 days later. The entity is the
  product category (the signals name no finer entity yet). A correlation that grows with the
  lag means sentiment leads sales.
owner: team:analytics
tags: [signals, sales, marts]
columns:
  category: {type: varchar, description: "Product category (the entity).", tests: [not_null]}
  signal_source:
    type: varchar
    description: Whose sentiment - review, social, or all (both).
    tests: [not_null, {accepted_values: [review, social, all]}]
  lag_days:
    type: integer
    description: Days between the sentiment and the sales it is compared with.
    tests: [not_null, {accepted_values: [0, 1, 3, 7]}]
  days: {type: bigint, description: "Day pairs with both values.", tests: [{expression: ">= 0"}]}
  correlation: {type: double, description: "Pearson correlation (NULL with fewer than 3 day pairs).", tests: [{expression: "BETWEEN -1.000001 AND 1.000001"}]}
tests:
  - unique: [category, signal_source, lag_days]
*/
WITH sentiment AS (
    SELECT signal_date, category, 'review' AS signal_source, review_sentiment_mean AS sentiment
    FROM features.daily_category_signals
    UNION ALL
    SELECT signal_date, category, 'social', social_sentiment_mean
    FROM features.daily_category_signals
    UNION ALL
    SELECT signal_date, category, 'all', sentiment_mean
    FROM features.daily_category_signals
),

lags AS (
    SELECT unnest([0, 1, 3, 7]) AS lag_days
),

pairs AS (
    SELECT s.category, s.signal_source, l.lag_days, s.sentiment, d.revenue
    FROM sentiment AS s
    CROSS JOIN lags AS l
    JOIN features.daily_sales_by_category AS d
        ON d.category = s.category AND d.sales_date = s.signal_date + l.lag_days
    WHERE s.sentiment IS NOT NULL
)

SELECT
    category,
    signal_source,
    lag_days::INTEGER AS lag_days,
    count(*) AS days,
    CASE
        WHEN count(*) >= 3 AND var_pop(sentiment) > 0 AND var_pop(revenue) > 0
            THEN corr(sentiment, revenue)
    END AS correlation
FROM pairs
GROUP BY category, signal_source, lag_days
ORDER BY category, signal_source, lag_days
