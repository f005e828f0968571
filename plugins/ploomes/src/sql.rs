//! Every SQL statement the connector sends, written once for both backends: only portable
//! syntax (`CASE`, `COALESCE`, `CAST … AS DOUBLE PRECISION` / `AS TEXT`, `$n` parameters, `LIMIT`).
//! Date arithmetic differs between SQLite and PostgreSQL, so it is done in the plugin instead.
//!
//! Pure code with no SDK dependency: the benchmark's native baseline includes this file too.

/// The `sales` columns the connector writes, in row order (see `rows::sales_row`).
pub const SALES_COLUMNS: &[&str] = &[
    "id",
    "customer_id",
    "title",
    "amount",
    "status_id",
    "status",
    "pipeline_id",
    "stage_id",
    "owner_id",
    "create_date",
    "finish_date",
    "last_update_date",
    "synced_at",
];

/// The `customer_sales` columns the connector writes, in row order (see `rows::customer_row`).
/// `created_at` comes from the column default on insert and is never overwritten; the product
/// and pricing columns are not sourced from Ploomes deals and are left to their owners.
pub const CUSTOMER_COLUMNS: &[&str] = &[
    "customer_id",
    "customer_name",
    "customer_cnpj",
    "total_sales",
    "total_deals",
    "won_deals",
    "open_deals",
    "lost_deals",
    "total_revenue",
    "average_deal_value",
    "first_purchase_date",
    "last_purchase_date",
    "days_since_last_purchase",
    "last_sync_at",
    "updated_at",
];

/// `$1, $2, …, $n`.
pub fn params(n: usize) -> String {
    params_from(1, n)
}

/// `$first, …, $(first + n - 1)`.
fn params_from(first: usize, n: usize) -> String {
    let mut s = String::with_capacity(n * 5);
    for i in first..first + n {
        if i > first {
            s.push_str(", ");
        }
        s.push('$');
        s.push_str(&i.to_string());
    }
    s
}

/// The customer each of `n` deals (`$1…$n`) is stored under, so a deal that moved to another
/// customer gets both customers recomputed.
pub fn stored_customers(n: usize) -> String {
    format!(
        "SELECT id, customer_id FROM sales WHERE id IN ({}) AND customer_id IS NOT NULL",
        params(n)
    )
}

/// Per-customer aggregates of `sales` for `n` customers (`$1…$n`), as the aggregation this
/// connector replaces defined them: `total_sales` is the number of won deals, and the average
/// deal value is the average amount of the won deals that have one (none without). A purchase
/// is a won deal, dated by its `finish_date` (its `last_update_date` when Ploomes has no finish
/// date). Money is summed in the database and rounded to cents by the plugin.
pub fn aggregates(n: usize) -> String {
    format!(
        "SELECT customer_id, \
         COUNT(*) AS total_deals, \
         SUM(CASE WHEN status = 'won' THEN 1 ELSE 0 END) AS won_deals, \
         SUM(CASE WHEN status = 'open' THEN 1 ELSE 0 END) AS open_deals, \
         SUM(CASE WHEN status = 'lost' THEN 1 ELSE 0 END) AS lost_deals, \
         COUNT(CASE WHEN status = 'won' THEN amount END) AS won_with_amount, \
         CAST(COALESCE(SUM(CASE WHEN status = 'won' THEN amount END), 0) AS DOUBLE PRECISION) AS total_revenue, \
         CAST(MIN(CASE WHEN status = 'won' THEN COALESCE(finish_date, last_update_date) END) AS TEXT) AS first_purchase_date, \
         CAST(MAX(CASE WHEN status = 'won' THEN COALESCE(finish_date, last_update_date) END) AS TEXT) AS last_purchase_date \
         FROM sales WHERE customer_id IN ({}) GROUP BY customer_id",
        params(n)
    )
}

/// The next chunk of customers with deals, after customer `$1`.
pub const CUSTOMERS_IN_SALES: &str = "SELECT DISTINCT customer_id FROM sales \
     WHERE customer_id > $1 ORDER BY customer_id LIMIT 10000";

/// The next chunk of customers with a `customer_sales` row, after customer `$1`.
pub const CUSTOMERS_IN_CUSTOMER_SALES: &str = "SELECT customer_id FROM customer_sales \
     WHERE customer_id > $1 ORDER BY customer_id LIMIT 10000";

/// Removes the rows of `n` customers (`$1…$n`) that no longer have any deal.
pub fn delete_customers(n: usize) -> String {
    format!(
        "DELETE FROM customer_sales WHERE customer_id IN ({})",
        params(n)
    )
}

/// The next chunk of customers with a purchase date, after customer `$1`, for refreshing
/// `days_since_last_purchase`.
pub const PURCHASE_DATES: &str =
    "SELECT customer_id, CAST(last_purchase_date AS TEXT) AS last_purchase_date, \
     days_since_last_purchase FROM customer_sales \
     WHERE customer_id > $1 AND last_purchase_date IS NOT NULL ORDER BY customer_id LIMIT 5000";

/// Sets `days_since_last_purchase` for `n` customers in one statement. Parameters: `$1` is
/// `updated_at`, then (customer id, days) pairs.
pub fn set_days(n: usize) -> String {
    let mut cases = String::with_capacity(n * 24);
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let id = 2 + 2 * i;
        cases.push_str(&format!(" WHEN ${id} THEN ${}", id + 1));
        ids.push(format!("${id}"));
    }
    format!(
        "UPDATE customer_sales SET days_since_last_purchase = CASE customer_id{cases} END, \
         updated_at = $1 WHERE customer_id IN ({})",
        ids.join(", ")
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbered_parameters() {
        assert_eq!(super::params(3), "$1, $2, $3");
        assert_eq!(
            super::set_days(2),
            "UPDATE customer_sales SET days_since_last_purchase = CASE customer_id WHEN $2 THEN $3 \
             WHEN $4 THEN $5 END, updated_at = $1 WHERE customer_id IN ($2, $4)"
        );
    }
}
