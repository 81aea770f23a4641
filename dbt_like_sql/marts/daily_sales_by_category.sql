/*
materialized: incremental
partition_column: sales_date
description: >
  Store sales per product category and day: baskets, sales lines, units and revenue, with the
  U.S. Census context of the month (the category's NAICS retail sales in the same calendar
  month of the latest Census year, its seasonal factor and year-over-year change). The series
  the demand forecasts are fitted on. Census columns stay empty until a Census workbook has
  been ingested (raw/census_retail_sales).
owner: team:analytics
tags: [sales, marts]
columns:
  sales_date: {type: date, description: "Day of the sales (UTC).", tests: [not_null]}
  category:
    type: varchar
    description: Product category.
    tests: [not_null, {relationships: {to: raw.product_catalog, field: category}}]
  baskets: {type: bigint, description: "Distinct baskets (receipts) with the category.", tests: [{expression: ">= 0"}]}
  transactions: {type: bigint, description: "Sales lines that day.", tests: [{expression: ">= baskets"}]}
  units: {type: bigint, description: "Units sold.", tests: [{expression: ">= transactions"}]}
  revenue:
    type: double
    description: Revenue in the store currency.
    tests: [not_null, {expression: ">= 0"}]
  naics_code: {type: varchar, description: "NAICS code the category maps to (product catalog)."}
  census_month: {type: date, description: "Census month used as context (same calendar month)."}
  census_sales_musd: {type: double, description: "Census not-seasonally-adjusted sales that month in millions of USD."}
  census_seasonal_factor:
    type: double
    description: Census not-adjusted / seasonally-adjusted sales that month (above 1 = seasonal high).
    tests: [{expression: "> 0"}]
  census_yoy: {type: double, description: "Census year-over-year change of that month's sales."}
optional: [raw.census_retail_sales]
tests:
  - unique: [sales_date, category]
*/
WITH sales AS (
    SELECT
        transaction_date AS sales_date,
        category,
        count(DISTINCT basket_id) AS baskets,
        count(*) AS transactions,
        sum(quantity)::BIGINT AS units,
        round(sum(revenue), 2) AS revenue
    FROM raw.transactions
    WHERE transaction_date >= {{ start_date }}
      AND transaction_date < {{ end_date }}
    GROUP BY transaction_date, category
),

naics AS (
    SELECT category, any_value(naics_code) AS naics_code
    FROM raw.product_catalog
    GROUP BY category
),

census AS (
    SELECT
        naics_code,
        month,
        max(sales_musd) FILTER (WHERE adjustment = 'NSA') AS nsa,
        max(sales_musd) FILTER (WHERE adjustment = 'SA') AS sa
    FROM raw.census_retail_sales
    WHERE naics_code IS NOT NULL
    GROUP BY naics_code, month
),

census_context AS (
    SELECT
        c.naics_code,
        c.month,
        month(c.month) AS calendar_month,
        c.nsa,
        c.nsa / nullif(c.sa, 0) AS seasonal_factor,
        -- The same month a year earlier, by date: a suppressed month leaves a gap in rows.
        c.nsa / nullif(p.nsa, 0) - 1 AS yoy
    FROM census AS c
    LEFT JOIN census AS p
        ON p.naics_code = c.naics_code AND p.month = (c.month - INTERVAL 1 YEAR)::DATE
    WHERE c.nsa IS NOT NULL
)

SELECT
    s.sales_date,
    s.category,
    s.baskets,
    s.transactions,
    s.units,
    s.revenue,
    n.naics_code,
    c.month AS census_month,
    c.nsa AS census_sales_musd,
    c.seasonal_factor AS census_seasonal_factor,
    c.yoy AS census_yoy
FROM sales AS s
LEFT JOIN naics AS n ON n.category = s.category
-- The latest Census month with the same calendar month, not after the sales day.
ASOF LEFT JOIN census_context AS c
    ON c.naics_code = n.naics_code
    AND c.calendar_month = month(s.sales_date)
    AND s.sales_date >= c.month
ORDER BY s.sales_date, s.category
