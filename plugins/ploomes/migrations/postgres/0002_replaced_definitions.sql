-- customer_sales.total_sales and average_deal_value mean what they meant in the aggregation this
-- connector replaces: total_sales is the number of won deals (COUNT(*) FILTER (WHERE won)), and
-- average_deal_value the average amount of the won deals that have one (AVG(amount) FILTER
-- (WHERE won)), NULL without them. Version 1 stored the sum of every deal's amount and 0.
ALTER TABLE customer_sales ALTER COLUMN total_sales DROP DEFAULT;
ALTER TABLE customer_sales ALTER COLUMN total_sales TYPE BIGINT USING won_deals;
ALTER TABLE customer_sales ALTER COLUMN total_sales SET DEFAULT 0;
ALTER TABLE customer_sales ALTER COLUMN average_deal_value DROP NOT NULL;
ALTER TABLE customer_sales ALTER COLUMN average_deal_value DROP DEFAULT;
UPDATE customer_sales SET average_deal_value = (
    SELECT ROUND(ROUND(CAST(SUM(s.amount) AS NUMERIC) * 100) / NULLIF(COUNT(s.amount), 0)) / 100
    FROM sales s WHERE s.customer_id = customer_sales.customer_id AND s.status = 'won'
);
