/*
materialized: table
description: >
  Per category and complete week (Monday to Sunday): revenue, the change from the week before
  and its direction (up or down), next to the previous week's behavioral signals (review,
  search and social volume and sentiment). Each row pairs a label with features known before
  its week began, the training table of the weekly sales-direction model.
owner: team:analytics
tags: [sales, signals, marts]
columns:
  week_start: {type: date, description: "Monday of the week.", tests: [not_null]}
  category: {type: varchar, description: "Product category.", tests: [not_null]}
  revenue: {type: double, description: "Store revenue that week.", tests: [{expression: ">= 0"}]}
  prev_week_revenue: {type: double, description: "Store revenue the week before."}
  revenue_change: {type: double, description: "Relative change from the week before (0.05 = +5 %)."}
  direction:
    type: varchar
    description: up when revenue grew over the week before, otherwise down (NULL for the first week).
    tests: [{accepted_values: [up, down]}]
  signal_week_start: {type: date, description: "Monday of the week the signal features come from (the week before).", tests: [{expression: "= week_start - INTERVAL 7 DAY"}]}
  review_count_lag1w: {type: bigint, description: "Reviews in the week before."}
  search_volume_lag1w: {type: bigint, description: "Searches in the week before."}
  social_count_lag1w: {type: bigint, description: "Social mentions in the week before."}
  sentiment_mean_lag1w: {type: double, description: "Mean daily sentiment in the week before.", tests: [{expression: "BETWEEN -1 AND 1"}]}
  sentiment_change_lag1w: {type: double, description: "Change of mean sentiment between the two weeks before."}
  search_volume_change_lag1w: {type: double, description: "Relative change of searches between the two weeks before."}
  social_count_change_lag1w: {type: double, description: "Relative change of social mentions between the two weeks before."}
tests:
  - unique: [week_start, category]
*/
WITH sales AS (
    SELECT
        date_trunc('week', sales_date)::DATE AS week_start,
        category,
        sum(revenue) AS revenue,
        count(*) AS days
    FROM features.daily_sales_by_category
    GROUP BY ALL
    HAVING count(*) = 7
),

signals AS (
    SELECT
        date_trunc('week', signal_date)::DATE AS week_start,
        category,
        sum(review_count)::BIGINT AS review_count,
        sum(search_volume)::BIGINT AS search_volume,
        sum(social_count)::BIGINT AS social_count,
        avg(sentiment_mean) AS sentiment_mean
    FROM features.daily_category_signals
    GROUP BY ALL
    HAVING count(*) = 7
),

signal_changes AS (
    SELECT
        *,
        sentiment_mean - lag(sentiment_mean) OVER w AS sentiment_change,
        search_volume / nullif(lag(search_volume) OVER w, 0) - 1 AS search_volume_change,
        social_count / nullif(lag(social_count) OVER w, 0) - 1 AS social_count_change
    FROM signals
    WINDOW w AS (PARTITION BY category ORDER BY week_start)
),

labelled AS (
    SELECT
        week_start,
        category,
        revenue,
        lag(revenue) OVER w AS prev_week_revenue,
        lag(week_start) OVER w AS prev_week_start
    FROM sales
    WINDOW w AS (PARTITION BY category ORDER BY week_start)
)

SELECT
    l.week_start,
    l.category,
    round(l.revenue, 2) AS revenue,
    round(l.prev_week_revenue, 2) AS prev_week_revenue,
    l.revenue / nullif(l.prev_week_revenue, 0) - 1 AS revenue_change,
    CASE
        WHEN l.prev_week_revenue IS NULL THEN NULL
        WHEN l.revenue > l.prev_week_revenue THEN 'up'
        ELSE 'down'
    END AS direction,
    s.week_start AS signal_week_start,
    s.review_count AS review_count_lag1w,
    s.search_volume AS search_volume_lag1w,
    s.social_count AS social_count_lag1w,
    s.sentiment_mean AS sentiment_mean_lag1w,
    s.sentiment_change AS sentiment_change_lag1w,
    s.search_volume_change AS search_volume_change_lag1w,
    s.social_count_change AS social_count_change_lag1w
FROM labelled AS l
JOIN signal_changes AS s
    ON s.category = l.category AND s.week_start = l.week_start - INTERVAL 7 DAY
-- Keep only weeks that follow directly on a complete week.
WHERE l.prev_week_start IS NULL OR l.prev_week_start = l.week_start - INTERVAL 7 DAY
ORDER BY l.week_start, l.category
