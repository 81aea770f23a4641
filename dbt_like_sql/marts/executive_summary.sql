/*
materialized: incremental
partition_column: summary_date
description: >
  The day's KPIs, per category and for the whole business (category "All"): store revenue,
  units and baskets; online (app and web) orders and revenue; app product views, cart
  additions and purchases with the funnel rates; review and social sentiment. For the whole
  business also web sessions and their conversion rate.
owner: team:marketing
tags: [kpi, marts]
columns:
  summary_date: {type: date, description: "Day (UTC).", tests: [not_null]}
  category: {type: varchar, description: "Product category, or All for the whole business.", tests: [not_null]}
  store_revenue: {type: double, description: "Store revenue.", tests: [{expression: ">= 0"}]}
  store_units: {type: bigint, description: "Units sold in stores."}
  store_baskets: {type: bigint, description: "Store baskets (receipts) with the category."}
  online_orders: {type: bigint, description: "Online orders (app and web)."}
  online_revenue: {type: double, description: "Online revenue (app and web).", tests: [{expression: ">= 0"}]}
  total_revenue: {type: double, description: "Store plus online revenue.", tests: [{expression: ">= store_revenue"}]}
  app_views: {type: bigint, description: "App product views."}
  app_carts: {type: bigint, description: "App cart additions."}
  app_purchases: {type: bigint, description: "App purchases."}
  view_to_cart: {type: double, description: "App cart additions per view.", tests: [{expression: "BETWEEN 0 AND 1"}]}
  cart_to_purchase: {type: double, description: "App purchases per cart addition."}
  web_sessions: {type: bigint, description: "Web sessions (All only; sessions span categories)."}
  web_conversion_rate: {type: double, description: "Share of web sessions with a purchase (All only).", tests: [{expression: "BETWEEN 0 AND 1"}]}
  sentiment_mean: {type: double, description: "Mean sentiment of the day's reviews and mentions.", tests: [{expression: "BETWEEN -1 AND 1"}]}
  review_count: {type: bigint, description: "Reviews posted."}
tests:
  - unique: [summary_date, category]
*/
WITH store AS (
    SELECT
        transaction_date AS d,
        category,
        sum(revenue) AS revenue,
        sum(quantity) AS units,
        count(DISTINCT basket_id) AS baskets
    FROM raw.transactions
    WHERE transaction_date >= {{ start_date }} AND transaction_date < {{ end_date }}
    GROUP BY GROUPING SETS ((transaction_date, category), (transaction_date))
    -- The total row and the categories, not a group of rows without a category.
    HAVING grouping(category) = 1 OR category IS NOT NULL
),

online AS (
    SELECT
        purchase_date AS d,
        category,
        count(DISTINCT channel || order_id) AS orders,
        sum(revenue) AS revenue
    FROM features.online_purchases
    WHERE purchase_date >= {{ start_date }} AND purchase_date < {{ end_date }}
    GROUP BY GROUPING SETS ((purchase_date, category), (purchase_date))
    -- The total row and the categories, not a group of rows without a category.
    HAVING grouping(category) = 1 OR category IS NOT NULL
),

app AS (
    SELECT
        event_date AS d,
        category,
        count(*) FILTER (WHERE event_type = 'view') AS views,
        count(*) FILTER (WHERE event_type = 'add_to_cart') AS carts,
        count(*) FILTER (WHERE event_type = 'purchase') AS purchases
    FROM governed.app_events
    WHERE event_date >= {{ start_date }} AND event_date < {{ end_date }}
    GROUP BY GROUPING SETS ((event_date, category), (event_date))
    -- The total row and the categories, not a group of rows without a category.
    HAVING grouping(category) = 1 OR category IS NOT NULL
),

web AS (
    SELECT
        event_date AS d,
        count(DISTINCT (user_key, ga_session_id)) AS sessions,
        count(DISTINCT (user_key, ga_session_id)) FILTER (WHERE event_name = 'purchase')
            AS converting_sessions
    FROM governed.sessions
    WHERE event_date >= {{ start_date }} AND event_date < {{ end_date }}
    GROUP BY event_date
),

signals AS (
    SELECT
        signal_date AS d,
        category,
        avg(sentiment) FILTER (WHERE source <> 'search') AS sentiment_mean,
        count(*) FILTER (WHERE source = 'review') AS review_count
    FROM raw.signals
    WHERE signal_date >= {{ start_date }} AND signal_date < {{ end_date }}
    GROUP BY GROUPING SETS ((signal_date, category), (signal_date))
    -- The total row and the categories, not a group of rows without a category.
    HAVING grouping(category) = 1 OR category IS NOT NULL
),

keys AS (
    SELECT d, coalesce(category, 'All') AS category FROM store
    UNION
    SELECT d, coalesce(category, 'All') FROM online
    UNION
    SELECT d, coalesce(category, 'All') FROM app
    UNION
    SELECT d, 'All' FROM web
)

SELECT
    k.d AS summary_date,
    k.category,
    round(coalesce(s.revenue, 0), 2) AS store_revenue,
    coalesce(s.units, 0)::BIGINT AS store_units,
    coalesce(s.baskets, 0) AS store_baskets,
    coalesce(o.orders, 0) AS online_orders,
    round(coalesce(o.revenue, 0), 2) AS online_revenue,
    round(coalesce(s.revenue, 0) + coalesce(o.revenue, 0), 2) AS total_revenue,
    coalesce(a.views, 0) AS app_views,
    coalesce(a.carts, 0) AS app_carts,
    coalesce(a.purchases, 0) AS app_purchases,
    a.carts / nullif(a.views, 0) AS view_to_cart,
    a.purchases / nullif(a.carts, 0) AS cart_to_purchase,
    CASE WHEN k.category = 'All' THEN w.sessions END AS web_sessions,
    CASE WHEN k.category = 'All' THEN w.converting_sessions / nullif(w.sessions, 0) END
        AS web_conversion_rate,
    g.sentiment_mean,
    coalesce(g.review_count, 0) AS review_count
FROM keys AS k
LEFT JOIN store AS s ON s.d = k.d AND coalesce(s.category, 'All') = k.category
LEFT JOIN online AS o ON o.d = k.d AND coalesce(o.category, 'All') = k.category
LEFT JOIN app AS a ON a.d = k.d AND coalesce(a.category, 'All') = k.category
LEFT JOIN signals AS g ON g.d = k.d AND coalesce(g.category, 'All') = k.category
LEFT JOIN web AS w ON w.d = k.d
ORDER BY summary_date, k.category
