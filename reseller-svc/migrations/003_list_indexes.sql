-- 003_list_indexes: ListCustomers pages newest first by (created_us, customer_id); without this
-- index every page sorted all of a reseller's customers.
CREATE INDEX ix_customers_list ON customers (reseller_id, created_us, customer_id);
