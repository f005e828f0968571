-- customer_sales.total_sales and average_deal_value mean what they meant in the aggregation this
-- connector replaces: total_sales is the number of won deals (COUNT(*) FILTER (WHERE won)), and
-- average_deal_value the average amount of the won deals that have one (AVG(amount) FILTER
-- (WHERE won)), NULL without them. Version 1 stored the sum of every deal's amount and 0.
-- SQLite cannot change a column's type or nullability in place: each column is dropped and added
-- again (it moves to the end of the row), then filled from the rows already synced.
ALTER TABLE customer_sales DROP COLUMN total_sales;
ALTER TABLE customer_sales ADD COLUMN total_sales INTEGER NOT NULL DEFAULT 0;
UPDATE customer_sales SET total_sales = won_deals;
ALTER TABLE customer_sales DROP COLUMN average_deal_value;
ALTER TABLE customer_sales ADD COLUMN average_deal_value REAL;
UPDATE customer_sales SET average_deal_value = (
    SELECT ROUND(ROUND(SUM(s.amount) * 100) / NULLIF(COUNT(s.amount), 0)) / 100
    FROM sales s WHERE s.customer_id = customer_sales.customer_id AND s.status = 'won'
);
