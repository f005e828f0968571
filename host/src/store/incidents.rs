//! Incidents: alerts raised, resolved and notified, shared by every host on the database.

use super::Store;
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use sqlx::Row;

/// One incident.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Incident {
    pub id: i64,
    /// `failures`, `missed`, `freshness`, `dead_letter` or `credentials`.
    pub kind: String,
    pub connector: String,
    /// The schedule it is about, or "".
    pub subject: String,
    /// What is wrong, in a sentence.
    pub summary: String,
    pub opened_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, kind, connector, subject, summary, opened_at, resolved_at";

macro_rules! read_incident {
    ($r:expr) => {{
        let r = &$r;
        Ok::<_, sqlx::Error>(Incident {
            id: r.try_get(0)?,
            kind: r.try_get(1)?,
            connector: r.try_get(2)?,
            subject: r.try_get(3)?,
            summary: r.try_get(4)?,
            opened_at: r.try_get(5)?,
            resolved_at: r.try_get(6)?,
        })
    }};
}

impl Store {
    /// Opens an incident unless one of the same kind, connector and subject is open; returns
    /// whether this call opened it.
    pub async fn open_incident(
        &self,
        kind: &str,
        connector: &str,
        subject: &str,
        summary: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let sql = "INSERT INTO incidents (kind, connector, subject, summary, opened_at) \
                   VALUES ($1, $2, $3, $4, $5) \
                   ON CONFLICT (kind, connector, subject) WHERE resolved_at IS NULL DO NOTHING";
        on_writer!(self, pool => sqlx::query(sql)
            .bind(kind)
            .bind(connector)
            .bind(subject)
            .bind(summary)
            .bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected() == 1))
        .context("cannot record an incident")
    }

    /// Resolves open incident `id`; returns whether this call resolved it.
    pub async fn resolve_incident(&self, id: i64, now: DateTime<Utc>) -> Result<bool> {
        let sql = "UPDATE incidents SET resolved_at = $2 WHERE id = $1 AND resolved_at IS NULL";
        on_writer!(self, pool => sqlx::query(sql)
            .bind(id)
            .bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected() == 1))
        .context("cannot resolve an incident")
    }

    /// The open incidents, oldest first.
    pub async fn open_incidents(&self) -> Result<Vec<Incident>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM incidents WHERE resolved_at IS NULL ORDER BY opened_at, id"
        );
        on_pool!(self, pool => {
            let rows = sqlx::query(&sql).fetch_all(pool).await.context("cannot read incidents")?;
            rows.iter()
                .map(|r| read_incident!(r))
                .collect::<Result<Vec<_>, _>>()
                .context("cannot read incidents")
        })
    }

    /// The newest `limit` incidents, open or not.
    pub async fn recent_incidents(&self, limit: u32) -> Result<Vec<Incident>> {
        let sql = format!("SELECT {COLUMNS} FROM incidents ORDER BY id DESC LIMIT $1");
        on_pool!(self, pool => {
            let rows = sqlx::query(&sql)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await
                .context("cannot read incidents")?;
            rows.iter()
                .map(|r| read_incident!(r))
                .collect::<Result<Vec<_>, _>>()
                .context("cannot read incidents")
        })
    }

    /// Incidents whose notice (`raised`: opened; `resolved`: resolved) is not sent yet.
    pub async fn unsent_incidents(&self, resolved: bool) -> Result<Vec<Incident>> {
        let sql = if resolved {
            format!(
                "SELECT {COLUMNS} FROM incidents WHERE resolved_at IS NOT NULL \
                 AND resolved_sent_at IS NULL ORDER BY id"
            )
        } else {
            format!("SELECT {COLUMNS} FROM incidents WHERE open_sent_at IS NULL ORDER BY id")
        };
        on_pool!(self, pool => {
            let rows = sqlx::query(&sql).fetch_all(pool).await.context("cannot read incidents")?;
            rows.iter()
                .map(|r| read_incident!(r))
                .collect::<Result<Vec<_>, _>>()
                .context("cannot read incidents")
        })
    }

    /// Claims the sending of incident `id`'s notice (`resolved` or raised) for this host;
    /// returns whether this host got it (exactly one host does).
    pub async fn claim_notice(&self, id: i64, resolved: bool, now: DateTime<Utc>) -> Result<bool> {
        let sql = if resolved {
            "UPDATE incidents SET resolved_sent_at = $2 WHERE id = $1 AND resolved_sent_at IS NULL \
             AND resolved_at IS NOT NULL"
        } else {
            "UPDATE incidents SET open_sent_at = $2 WHERE id = $1 AND open_sent_at IS NULL"
        };
        on_writer!(self, pool => sqlx::query(sql)
            .bind(id)
            .bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected() == 1))
        .context("cannot claim an incident's notice")
    }

    /// Gives a notice back (sending failed): another check, on any host, sends it again.
    pub async fn release_notice(&self, id: i64, resolved: bool) -> Result<()> {
        let sql = if resolved {
            "UPDATE incidents SET resolved_sent_at = NULL WHERE id = $1"
        } else {
            "UPDATE incidents SET open_sent_at = NULL WHERE id = $1"
        };
        on_writer!(self, pool => sqlx::query(sql).bind(id).execute(pool).await.map(drop))
            .context("cannot release an incident's notice")
    }
}
