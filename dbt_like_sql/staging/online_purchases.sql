/*
materialized: view
description: >
  Every online purchase line, from the app and from the website, in one shape: the day, the
  customer's pseudonymous key (NULL for web buyers who were not logged in), the order, the
  product and the revenue. Consented users only, as both sources are governed tables. A view:
  each row carries the lineage_id and processed_at of the governed row it comes from.
owner: team:analytics
tags: [staging, purchases]
columns:
  channel:
    type: varchar
    description: Where the purchase happened, app or web.
    tests: [not_null, {accepted_values: [app, web]}]
  purchase_date: {type: date, description: "Day of the purchase (UTC).", tests: [not_null]}
  purchased_at: {type: timestamptz, description: "Time of the purchase (UTC)."}
  customer_key: {type: varchar, description: "HMAC pseudonym of the customer id (NULL when unknown)."}
  order_id: {type: varchar, description: "The order, app session key or web transaction id."}
  product_id: {type: varchar, description: "Product bought (web - the order's first item)."}
  category: {type: varchar, description: "Product category."}
  revenue:
    type: double
    description: Revenue of the line in the store currency.
    tests: [{expression: ">= 0"}]
*/
SELECT
    'app' AS channel,
    event_date AS purchase_date,
    event_timestamp AS purchased_at,
    customer_key,
    session_key AS order_id,
    product_id,
    category,
    price AS revenue,
    lineage_id,
    processed_at
FROM governed.app_events
WHERE event_type = 'purchase'

UNION ALL

SELECT
    'web' AS channel,
    event_date AS purchase_date,
    make_timestamp(event_timestamp) AT TIME ZONE 'UTC' AS purchased_at,
    customer_key,
    transaction_id AS order_id,
    item_id AS product_id,
    category,
    purchase_revenue AS revenue,
    lineage_id,
    processed_at
FROM governed.sessions
WHERE event_name = 'purchase'
