/*
materialized: incremental
partition_column: activity_date
description: >
  One row per customer and day with any app or logged-in web activity or order: product views,
  cart additions, purchases, orders and revenue. Small enough to roll up over 30 or 90 days, so
  the user features read this instead of raw events. Each input is optional: a retailer with
  orders only (no events) gets purchases, orders and revenue from governed.orders, and views
  and carts of 0.
owner: team:analytics
tags: [staging, users]
columns:
  activity_date: {type: date, description: "Day of the activity (UTC).", tests: [not_null]}
  customer_key: {type: varchar, description: "HMAC pseudonym of the customer id.", tests: [not_null]}
  views: {type: bigint, description: "Product views (app view and web view_item).", tests: [{expression: ">= 0"}]}
  carts: {type: bigint, description: "Cart additions.", tests: [{expression: ">= 0"}]}
  purchases: {type: bigint, description: "Purchased lines.", tests: [{expression: ">= 0"}]}
  orders: {type: bigint, description: "Distinct orders (app sessions with a purchase and web transactions).", tests: [{expression: "<= purchases"}]}
  revenue: {type: double, description: "Revenue of the purchases.", tests: [not_null, {expression: ">= 0"}]}
  sessions: {type: bigint, description: "Distinct app and web sessions.", tests: [{expression: ">= 1"}]}
  last_event_at: {type: timestamptz, description: "Time of the day's last event (UTC)."}
optional: [governed.app_events, governed.sessions, governed.orders]
tests:
  - unique: [activity_date, customer_key]
*/
WITH events AS (
    SELECT
        event_date AS activity_date,
        customer_key,
        event_type,
        session_key AS session_id,
        CASE WHEN event_type = 'purchase' THEN session_key END AS order_id,
        CASE WHEN event_type = 'purchase' THEN coalesce(price, 0) ELSE 0 END AS revenue,
        event_timestamp AS event_at
    FROM governed.app_events
    WHERE event_date >= {{ start_date }} AND event_date < {{ end_date }}

    UNION ALL

    SELECT
        event_date AS activity_date,
        customer_key,
        CASE event_name WHEN 'view_item' THEN 'view' ELSE event_name END AS event_type,
        'web-' || ga_session_id AS session_id,
        CASE WHEN event_name = 'purchase' THEN transaction_id END AS order_id,
        CASE WHEN event_name = 'purchase' THEN coalesce(purchase_revenue, 0) ELSE 0 END,
        make_timestamp(event_timestamp) AT TIME ZONE 'UTC'
    FROM governed.sessions
    WHERE event_date >= {{ start_date }} AND event_date < {{ end_date }}
      AND customer_key IS NOT NULL

    UNION ALL

    -- A retailer's own orders (netted sales lines); empty in the simulated world.
    SELECT
        order_date,
        customer_key,
        'purchase',
        'order-' || order_id,
        order_id,
        revenue,
        order_ts
    FROM governed.orders
    WHERE order_date >= {{ start_date }} AND order_date < {{ end_date }}
)

SELECT
    activity_date,
    customer_key,
    count(*) FILTER (WHERE event_type = 'view') AS views,
    count(*) FILTER (WHERE event_type = 'add_to_cart') AS carts,
    count(*) FILTER (WHERE event_type = 'purchase') AS purchases,
    count(DISTINCT order_id) AS orders,
    round(sum(revenue), 2) AS revenue,
    count(DISTINCT session_id) AS sessions,
    max(event_at) AS last_event_at
FROM events
GROUP BY activity_date, customer_key
-- Rows in a fixed order, so a re-run writes the same bytes and the same data version.
ORDER BY activity_date, customer_key
