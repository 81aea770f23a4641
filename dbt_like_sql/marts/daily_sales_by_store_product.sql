/*
materialized: incremental
partition_column: sales_date
description: >
  Store sales per store, product and day: baskets, units, revenue and the average price paid.
  The grain at which promotions, stock and store-level demand are read.
owner: team:analytics
tags: [sales, marts]
columns:
  sales_date: {type: date, description: "Day of the sales (UTC).", tests: [not_null]}
  store_id: {type: varchar, description: "Store.", tests: [not_null]}
  product_id:
    type: varchar
    description: Product.
    tests: [not_null, {relationships: {to: raw.product_catalog, field: product_id}}]
  category: {type: varchar, description: "Product category.", tests: [not_null]}
  baskets: {type: bigint, description: "Baskets (receipts) with the product.", tests: [{expression: ">= 1"}]}
  units: {type: bigint, description: "Units sold.", tests: [{expression: ">= baskets"}]}
  revenue: {type: double, description: "Revenue in the store currency.", tests: [not_null, {expression: ">= 0"}]}
  avg_unit_price: {type: double, description: "Revenue per unit.", tests: [{expression: "> 0"}]}
tests:
  - unique: [sales_date, store_id, product_id]
*/
SELECT
    transaction_date AS sales_date,
    store_id,
    product_id,
    any_value(category) AS category,
    count(DISTINCT basket_id) AS baskets,
    sum(quantity)::BIGINT AS units,
    round(sum(revenue), 2) AS revenue,
    round(sum(revenue) / sum(quantity), 2) AS avg_unit_price
FROM raw.transactions
WHERE transaction_date >= {{ start_date }}
  AND transaction_date < {{ end_date }}
GROUP BY transaction_date, store_id, product_id
-- Rows in a fixed order, so a re-run writes the same bytes and the same data version.
ORDER BY sales_date, store_id, product_id
