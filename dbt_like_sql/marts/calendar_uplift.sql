/*
materialized: table
description: >
  Store revenue per category on weekends, on each festival and on promotion days, against
  ordinary weekdays (no festival, no promotion): days observed, mean daily revenue and the
  uplift ratio. Shows which calendar moments move which categories.
owner: team:marketing
tags: [calendar, sales, marts]
columns:
  category: {type: varchar, description: "Product category.", tests: [not_null]}
  day_type:
    type: varchar
    description: weekday (the baseline), weekend, promotion, or festival - <name>.
    tests: [not_null]
  days: {type: bigint, description: "Days of that type with sales data.", tests: [{expression: ">= 1"}]}
  mean_daily_revenue: {type: double, description: "Mean store revenue per day of that type.", tests: [{expression: ">= 0"}]}
  uplift: {type: double, description: "mean_daily_revenue / the category's weekday mean (1 for the baseline).", tests: [{expression: ">= 0"}]}
tests:
  - unique: [category, day_type]
*/
WITH days AS (
    SELECT s.category, s.sales_date, s.revenue, c.is_weekend, c.festival, c.promotion
    FROM features.daily_sales_by_category AS s
    JOIN raw.retail_calendar AS c ON c.date = s.sales_date
),

typed AS (
    SELECT category, revenue, 'weekday' AS day_type
    FROM days WHERE NOT is_weekend AND festival IS NULL AND promotion IS NULL
    UNION ALL
    SELECT category, revenue, 'weekend' FROM days WHERE is_weekend AND festival IS NULL
    UNION ALL
    SELECT category, revenue, 'promotion' FROM days WHERE promotion IS NOT NULL
    UNION ALL
    SELECT category, revenue, 'festival - ' || trim(name)
    FROM days, unnest(string_split(festival, ',')) AS f(name)
    WHERE festival IS NOT NULL
),

means AS (
    SELECT category, day_type, count(*) AS days, avg(revenue) AS mean_daily_revenue
    FROM typed
    GROUP BY category, day_type
)

SELECT
    m.category,
    m.day_type,
    m.days,
    round(m.mean_daily_revenue, 2) AS mean_daily_revenue,
    m.mean_daily_revenue / nullif(b.mean_daily_revenue, 0) AS uplift
FROM means AS m
LEFT JOIN means AS b ON b.category = m.category AND b.day_type = 'weekday'
ORDER BY m.category, m.day_type
