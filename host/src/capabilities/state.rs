//! The `state` capability: the connector's own key/value state (cursors, bookmarks) in the
//! host's `connector_state` table, read and written inside the call's run transaction so a
//! cursor never gets ahead of its data; and `checkpoint`, which makes the transaction durable.
//!
//! Bounded in size and in volume: a key and a value have a cap each, and so do the number of
//! keys and the bytes a connector keeps altogether (`limits`).

use super::tx::{Access, RunTx};
use super::CapResult;
use crate::bindings::connector::host::state as wit;
use crate::bindings::WitError;
use crate::limits;
use crate::on_conn;
use chrono::Utc;
use std::sync::Arc;

/// One call's state access.
pub struct StateCap {
    connector: Arc<str>,
}

impl StateCap {
    /// The state of `connector`.
    pub fn new(connector: Arc<str>) -> Self {
        StateCap { connector }
    }
}

/// The `state` interface's view of a call.
pub struct StateView<'a> {
    /// Whose state.
    pub cap: &'a mut StateCap,
    /// The run transaction.
    pub tx: &'a mut RunTx,
}

/// Links the `state` interface to a [`StateView`].
pub struct StateData;

impl wasmtime::component::HasData for StateData {
    type Data<'a> = StateView<'a>;
}

fn check_key(key: &str) -> Result<(), WitError> {
    if key.len() > limits::STATE_KEY_BYTES {
        return Err(WitError::TooLarge);
    }
    if key.contains('\0') {
        return Err(WitError::Invalid(
            "a state key cannot contain a NUL character".into(),
        ));
    }
    Ok(())
}

impl StateView<'_> {
    async fn get(&mut self, key: &str) -> Result<Option<String>, WitError> {
        check_key(key)?;
        let sql = "SELECT value FROM connector_state WHERE connector = $1 AND key = $2";
        let connector = self.cap.connector.clone();
        let conn = self.tx.conn(Access::HostRead).await?;
        let got: Result<Option<String>, sqlx::Error> = on_conn!(conn, c => sqlx::query_scalar(sql)
            .bind(&*connector)
            .bind(key)
            .fetch_optional(c)
            .await);
        match got {
            Ok(v) => Ok(v),
            Err(e) => Err(self.tx.statement_failed(Access::HostRead, e).await),
        }
    }

    async fn set(&mut self, key: &str, value: &str) -> Result<(), WitError> {
        check_key(key)?;
        if value.len() > limits::STATE_VALUE_BYTES {
            return Err(WitError::TooLarge);
        }
        if value.contains('\0') {
            return Err(WitError::Invalid(
                "a state value cannot contain a NUL character".into(),
            ));
        }
        let connector = self.cap.connector.clone();
        // What the connector keeps besides this key: the volume caps apply to the total.
        let others = "SELECT COUNT(*), CAST(COALESCE(SUM(OCTET_LENGTH(key) + \
            OCTET_LENGTH(value)), 0) AS BIGINT) FROM connector_state \
            WHERE connector = $1 AND key <> $2";
        let conn = self.tx.conn(Access::HostWrite).await?;
        let totals: Result<(i64, i64), sqlx::Error> = on_conn!(conn, c => sqlx::query_as(others)
            .bind(&*connector)
            .bind(key)
            .fetch_one(c)
            .await);
        let (keys, bytes) = match totals {
            Ok(t) => t,
            Err(e) => return Err(self.tx.statement_failed(Access::HostWrite, e).await),
        };
        let keys = usize::try_from(keys).unwrap_or(usize::MAX);
        let bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
        if keys >= limits::STATE_KEYS_PER_CONNECTOR
            || bytes + key.len() + value.len() > limits::STATE_BYTES_PER_CONNECTOR
        {
            return Err(WitError::TooLarge);
        }
        let sql = "INSERT INTO connector_state (connector, key, value, updated_at) \
                   VALUES ($1, $2, $3, $4) ON CONFLICT (connector, key) \
                   DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at";
        let now = Utc::now();
        let conn = self.tx.conn(Access::HostWrite).await?;
        let done: Result<_, sqlx::Error> = on_conn!(conn, c => sqlx::query(sql)
            .bind(&*connector)
            .bind(key)
            .bind(value)
            .bind(now)
            .execute(c)
            .await
            .map(drop));
        match done {
            Ok(_) => Ok(()),
            Err(e) => Err(self.tx.statement_failed(Access::HostWrite, e).await),
        }
    }

    async fn delete(&mut self, key: &str) -> Result<(), WitError> {
        check_key(key)?;
        let connector = self.cap.connector.clone();
        let sql = "DELETE FROM connector_state WHERE connector = $1 AND key = $2";
        let conn = self.tx.conn(Access::HostWrite).await?;
        let done: Result<_, sqlx::Error> = on_conn!(conn, c => sqlx::query(sql)
            .bind(&*connector)
            .bind(key)
            .execute(c)
            .await
            .map(drop));
        match done {
            Ok(_) => Ok(()),
            Err(e) => Err(self.tx.statement_failed(Access::HostWrite, e).await),
        }
    }
}

impl wit::Host for StateView<'_> {
    async fn get(&mut self, key: String) -> CapResult<Option<String>> {
        Ok(StateView::get(self, &key).await)
    }

    async fn set(&mut self, key: String, value: String) -> CapResult<()> {
        Ok(StateView::set(self, &key, &value).await)
    }

    async fn delete(&mut self, key: String) -> CapResult<()> {
        Ok(StateView::delete(self, &key).await)
    }

    async fn checkpoint(&mut self) -> CapResult<()> {
        Ok(self.tx.checkpoint().await)
    }
}

/// Links the `state` interface, over the call's run transaction.
pub fn link<T: super::HasCaps>(
    linker: &mut wasmtime::component::Linker<T>,
) -> wasmtime::Result<()> {
    wit::add_to_linker::<_, StateData>(linker, |d| {
        let caps = d.caps();
        StateView {
            cap: &mut caps.state,
            tx: &mut caps.tx,
        }
    })
}
