/*
materialized: incremental
partition_column: as_of_date
lookback_days: 89
backfill_days: 7          # ~0.7 M rows a day at a million customers
description: >
  Purchase-propensity features per customer as of the end of each day, for every customer
  active in the 30 days up to it: days since the last activity, views, cart additions and
  purchases over the last 1, 7, 14 and 30 days, items left in the cart, a rule-based purchase
  intent score, RFM scores over 90 days and a simple 12-month customer value. Everything is
  computed from days up to and including as_of_date, so a label taken from the next day is
  point-in-time correct.
owner: team:analytics
tags: [users, propensity, marts]
columns:
  as_of_date: {type: date, description: "Features use activity up to the end of this day.", tests: [not_null]}
  customer_key: {type: varchar, description: "HMAC pseudonym of the customer id.", tests: [not_null]}
  days_since_last_activity:
    type: bigint
    description: Days from the last active day to as_of_date (0 = active that day).
    tests: [not_null, {expression: "BETWEEN 0 AND 29"}]
  active_days_30d: {type: bigint, description: "Days with activity in the last 30 days.", tests: [{expression: "BETWEEN 1 AND 30"}]}
  views_1d: {type: bigint, description: "Product views on as_of_date."}
  views_7d: {type: bigint, description: "Product views in the last 7 days.", tests: [{expression: ">= views_1d"}]}
  views_14d: {type: bigint, description: "Product views in the last 14 days.", tests: [{expression: ">= views_7d"}]}
  views_30d: {type: bigint, description: "Product views in the last 30 days.", tests: [{expression: ">= views_14d"}]}
  carts_1d: {type: bigint, description: "Cart additions on as_of_date."}
  carts_7d: {type: bigint, description: "Cart additions in the last 7 days.", tests: [{expression: ">= carts_1d"}]}
  carts_14d: {type: bigint, description: "Cart additions in the last 14 days.", tests: [{expression: ">= carts_7d"}]}
  carts_30d: {type: bigint, description: "Cart additions in the last 30 days.", tests: [{expression: ">= carts_14d"}]}
  purchases_1d: {type: bigint, description: "Purchased lines on as_of_date."}
  purchases_7d: {type: bigint, description: "Purchased lines in the last 7 days.", tests: [{expression: ">= purchases_1d"}]}
  purchases_14d: {type: bigint, description: "Purchased lines in the last 14 days.", tests: [{expression: ">= purchases_7d"}]}
  purchases_30d: {type: bigint, description: "Purchased lines in the last 30 days.", tests: [{expression: ">= purchases_14d"}]}
  cart_count: {type: bigint, description: "Items added to the cart in the last 30 days and not bought (cart additions minus purchases - at least 0).", tests: [{expression: ">= 0"}]}
  purchase_intent_score:
    type: double
    description: >
      Rule-based intent, 1 - exp(-(0.6 carts_1d + 0.05 views_1d + 0.2 carts_7d + 0.01 views_7d)),
      between 0 and 1. A transparent baseline, not a trained model.
    tests: [not_null, {expression: "BETWEEN 0 AND 1"}]
  recency_days: {type: bigint, description: "Days since the last purchase in the last 90 days (NULL if none)."}
  frequency_90d: {type: bigint, description: "Orders in the last 90 days.", tests: [{expression: ">= 0"}]}
  monetary_90d: {type: double, description: "Revenue in the last 90 days.", tests: [{expression: ">= 0"}]}
  r_score: {type: integer, description: "Recency quintile among that day's buyers from the percent rank (1 + floor(5 x rank), 5 = most recent, ties share a score; NULL for non-buyers).", tests: [{expression: "BETWEEN 1 AND 5"}]}
  f_score: {type: integer, description: "Frequency quintile among that day's buyers, as r_score (5 = most orders).", tests: [{expression: "BETWEEN 1 AND 5"}]}
  m_score: {type: integer, description: "Monetary quintile among that day's buyers, as r_score (5 = most revenue).", tests: [{expression: "BETWEEN 1 AND 5"}]}
  rfm_segment: {type: varchar, description: "R, F and M scores as one code such as 545 (NULL for non-buyers)."}
  clv_12m:
    type: double
    description: Simple customer value for the next 12 months - the last 90 days' revenue at the same run rate (monetary_90d x 365 / 90).
    tests: [not_null, {expression: ">= 0"}]
tests:
  - unique: [as_of_date, customer_key]
*/
-- Customers are keyed by a 64-bit hash of their 64-character key inside this query: joining
-- and grouping integers is several times cheaper at a million customers.
WITH days AS (
    SELECT unnest(range({{ start_date }}, {{ end_date }}, INTERVAL 1 DAY))::DATE AS as_of_date
),

activity AS (
    SELECT
        hash(customer_key) AS k,
        activity_date,
        views,
        carts,
        purchases,
        orders,
        revenue
    FROM features.user_daily_activity
    WHERE activity_date >= {{ start_date }} - INTERVAL 89 DAY
      AND activity_date < {{ end_date }}
),

customer_keys AS (
    SELECT DISTINCT hash(customer_key) AS k, customer_key
    FROM features.user_daily_activity
    WHERE activity_date >= {{ start_date }} - INTERVAL 29 DAY
      AND activity_date < {{ end_date }}
),

-- Each as-of day with every active day of its customers in the 90 days up to it.
windows AS (
    SELECT d.as_of_date, a.*, (d.as_of_date - a.activity_date) AS age_days
    FROM days AS d
    JOIN activity AS a
        ON a.activity_date BETWEEN d.as_of_date - INTERVAL 89 DAY AND d.as_of_date
),

per_user AS (
    SELECT
        w.as_of_date,
        c.customer_key,
        w.days_since_last_activity,
        w.active_days_30d,
        w.views_1d,
        w.views_7d,
        w.views_14d,
        w.views_30d,
        w.carts_1d,
        w.carts_7d,
        w.carts_14d,
        w.carts_30d,
        w.purchases_1d,
        w.purchases_7d,
        w.purchases_14d,
        w.purchases_30d,
        w.recency_days,
        w.frequency_90d,
        w.monetary_90d
    FROM (
        SELECT
            as_of_date,
            k,
            min(age_days) AS days_since_last_activity,
            count(*) FILTER (WHERE age_days < 30) AS active_days_30d,
            coalesce(sum(views) FILTER (WHERE age_days < 1), 0) AS views_1d,
            coalesce(sum(views) FILTER (WHERE age_days < 7), 0) AS views_7d,
            coalesce(sum(views) FILTER (WHERE age_days < 14), 0) AS views_14d,
            coalesce(sum(views) FILTER (WHERE age_days < 30), 0) AS views_30d,
            coalesce(sum(carts) FILTER (WHERE age_days < 1), 0) AS carts_1d,
            coalesce(sum(carts) FILTER (WHERE age_days < 7), 0) AS carts_7d,
            coalesce(sum(carts) FILTER (WHERE age_days < 14), 0) AS carts_14d,
            coalesce(sum(carts) FILTER (WHERE age_days < 30), 0) AS carts_30d,
            coalesce(sum(purchases) FILTER (WHERE age_days < 1), 0) AS purchases_1d,
            coalesce(sum(purchases) FILTER (WHERE age_days < 7), 0) AS purchases_7d,
            coalesce(sum(purchases) FILTER (WHERE age_days < 14), 0) AS purchases_14d,
            coalesce(sum(purchases) FILTER (WHERE age_days < 30), 0) AS purchases_30d,
            min(age_days) FILTER (WHERE purchases > 0) AS recency_days,
            coalesce(sum(orders), 0) AS frequency_90d,
            coalesce(sum(revenue), 0) AS monetary_90d
        FROM windows
        GROUP BY as_of_date, k
        HAVING min(age_days) < 30
    ) AS w
    JOIN customer_keys AS c ON c.k = w.k
),

-- Quintile scores among the day's buyers from percent_rank, so ties share a score and the
-- scores do not depend on row order (non-buyers form their own partition and get NULL).
scored AS (
    SELECT
        *,
        CASE WHEN frequency_90d > 0 THEN least(5, 1 + floor(5 * percent_rank() OVER (
            PARTITION BY as_of_date, frequency_90d > 0 ORDER BY recency_days DESC
        ))) END AS r_score,
        CASE WHEN frequency_90d > 0 THEN least(5, 1 + floor(5 * percent_rank() OVER (
            PARTITION BY as_of_date, frequency_90d > 0 ORDER BY frequency_90d
        ))) END AS f_score,
        CASE WHEN frequency_90d > 0 THEN least(5, 1 + floor(5 * percent_rank() OVER (
            PARTITION BY as_of_date, frequency_90d > 0 ORDER BY monetary_90d
        ))) END AS m_score
    FROM per_user
)

SELECT
    as_of_date,
    customer_key,
    days_since_last_activity::BIGINT AS days_since_last_activity,
    active_days_30d,
    views_1d::BIGINT AS views_1d,
    views_7d::BIGINT AS views_7d,
    views_14d::BIGINT AS views_14d,
    views_30d::BIGINT AS views_30d,
    carts_1d::BIGINT AS carts_1d,
    carts_7d::BIGINT AS carts_7d,
    carts_14d::BIGINT AS carts_14d,
    carts_30d::BIGINT AS carts_30d,
    purchases_1d::BIGINT AS purchases_1d,
    purchases_7d::BIGINT AS purchases_7d,
    purchases_14d::BIGINT AS purchases_14d,
    purchases_30d::BIGINT AS purchases_30d,
    greatest(carts_30d - purchases_30d, 0)::BIGINT AS cart_count,
    1 - exp(-(0.6 * carts_1d + 0.05 * views_1d + 0.2 * carts_7d + 0.01 * views_7d))
        AS purchase_intent_score,
    recency_days::BIGINT AS recency_days,
    frequency_90d::BIGINT AS frequency_90d,
    round(monetary_90d, 2) AS monetary_90d,
    r_score::INTEGER AS r_score,
    f_score::INTEGER AS f_score,
    m_score::INTEGER AS m_score,
    CASE
        WHEN r_score IS NOT NULL THEN concat(r_score::INTEGER, f_score::INTEGER, m_score::INTEGER)
    END AS rfm_segment,
    round(monetary_90d * 365 / 90, 2) AS clv_12m
FROM scored
-- Rows in a fixed order, so a re-run writes the same bytes and the same data version.
ORDER BY as_of_date, customer_key
