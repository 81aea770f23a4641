/*
materialized: table
description: >
  How each persona buys online (app and web, consented customers): customers, buyers, orders,
  revenue and its share, average basket, purchase frequency, and how much more a persona
  spends per day on weekends and on festival days than on ordinary weekdays.
owner: team:marketing
tags: [personas, marts]
columns:
  persona:
    type: varchar
    description: Persona from the customer base.
    tests: [not_null, unique]
  customers: {type: bigint, description: "Consented customers with the persona.", tests: [{expression: ">= buyers"}]}
  buyers: {type: bigint, description: "Customers with at least one online order.", tests: [{expression: ">= 0"}]}
  orders: {type: bigint, description: "Online orders.", tests: [{expression: ">= buyers"}]}
  revenue: {type: double, description: "Online revenue.", tests: [{expression: ">= 0"}]}
  revenue_share: {type: double, description: "Share of all personas' online revenue.", tests: [{expression: "BETWEEN 0 AND 1"}]}
  avg_basket: {type: double, description: "Revenue per order."}
  orders_per_buyer_30d: {type: double, description: "Orders per buyer per 30 days over the period (purchase frequency)."}
  weekend_uplift: {type: double, description: "Mean daily revenue on weekend days / on non-festival weekdays (1.2 = +20 %).", tests: [{expression: ">= 0"}]}
  festival_uplift: {type: double, description: "Mean daily revenue on festival days / on non-festival weekdays.", tests: [{expression: ">= 0"}]}
  first_day: {type: date, description: "First day of the period."}
  last_day: {type: date, description: "Last day of the period."}
tests:
  - expression: "abs(revenue_share) <= 1"
*/
WITH purchases AS (
    SELECT p.purchase_date, p.order_id, p.revenue, c.persona
    FROM features.online_purchases AS p
    JOIN governed.customers AS c ON c.customer_key = p.customer_key
),

period AS (
    SELECT min(purchase_date) AS first_day, max(purchase_date) AS last_day FROM purchases
),

base AS (
    SELECT persona, count(*) AS customers FROM governed.customers GROUP BY persona
),

totals AS (
    SELECT
        persona,
        count(DISTINCT order_id) AS orders,
        sum(revenue) AS revenue
    FROM purchases
    GROUP BY persona
),

buyers AS (
    SELECT c.persona, count(DISTINCT p.customer_key) AS buyers
    FROM features.online_purchases AS p
    JOIN governed.customers AS c ON c.customer_key = p.customer_key
    GROUP BY c.persona
),

-- Every day of the period for every persona, so days without sales count as zero.
daily AS (
    SELECT b.persona, cal.date, cal.is_weekend, cal.is_festival, coalesce(sum(p.revenue), 0) AS revenue
    FROM base AS b
    CROSS JOIN period
    JOIN raw.retail_calendar AS cal ON cal.date BETWEEN period.first_day AND period.last_day
    LEFT JOIN purchases AS p ON p.persona = b.persona AND p.purchase_date = cal.date
    GROUP BY b.persona, cal.date, cal.is_weekend, cal.is_festival
),

uplift AS (
    SELECT
        persona,
        avg(revenue) FILTER (WHERE is_weekend)
            / nullif(avg(revenue) FILTER (WHERE NOT is_weekend AND NOT is_festival), 0)
            AS weekend_uplift,
        avg(revenue) FILTER (WHERE is_festival)
            / nullif(avg(revenue) FILTER (WHERE NOT is_weekend AND NOT is_festival), 0)
            AS festival_uplift
    FROM daily
    GROUP BY persona
)

SELECT
    b.persona,
    b.customers,
    coalesce(bu.buyers, 0) AS buyers,
    coalesce(t.orders, 0) AS orders,
    round(coalesce(t.revenue, 0), 2) AS revenue,
    coalesce(t.revenue, 0) / nullif(sum(t.revenue) OVER (), 0) AS revenue_share,
    t.revenue / nullif(t.orders, 0) AS avg_basket,
    t.orders / nullif(bu.buyers, 0) / ((period.last_day - period.first_day + 1) / 30.0)
        AS orders_per_buyer_30d,
    u.weekend_uplift,
    u.festival_uplift,
    period.first_day,
    period.last_day
FROM base AS b
CROSS JOIN period
LEFT JOIN totals AS t ON t.persona = b.persona
LEFT JOIN buyers AS bu ON bu.persona = b.persona
LEFT JOIN uplift AS u ON u.persona = b.persona
ORDER BY revenue DESC
