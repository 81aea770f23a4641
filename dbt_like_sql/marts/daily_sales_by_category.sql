/*
materialized: incremental
partition_column: sales_date
description: >
  Store sales per product category and day: transactions, units and revenue. The series the
  demand forecasts are fitted on.
owner: team:analytics
tags: [sales, marts]
columns:
  sales_date: Day of the sales (UTC).
  category: Product category.
  transactions: Sales lines that day.
  units: Units sold.
  revenue: Revenue in the store currency.
*/
SELECT
    transaction_date AS sales_date,
    category,
    count(*) AS transactions,
    sum(quantity)::BIGINT AS units,
    round(sum(revenue), 2) AS revenue
FROM raw.transactions
WHERE transaction_date >= {{ start_date }}
  AND transaction_date < {{ end_date }}
GROUP BY transaction_date, category
ORDER BY sales_date, category
