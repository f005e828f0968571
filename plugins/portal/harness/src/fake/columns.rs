//! The `leads` table's columns, their Postgres types, and a row's values as filters and ordering see them.

use super::Lead;
use chrono::{DateTime, Utc};

/// A column of `public.leads`, in table order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Column {
    Id,
    Name,
    Email,
    Phone,
    Source,
    Status,
    ZohoLeadId,
    CreatedAt,
    UpdatedAt,
}

/// A column's Postgres type: it decides how literals are read and how values compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Uuid,
    Text,
    Timestamptz,
}

impl Kind {
    /// The type name Postgres uses in its error messages.
    pub(super) fn pg_name(self) -> &'static str {
        match self {
            Kind::Uuid => "uuid",
            Kind::Text => "text",
            Kind::Timestamptz => "timestamp with time zone",
        }
    }
}

/// A row's value in one column. Uuids are their canonical lowercase text, whose byte order is
/// the uuid order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Val<'a> {
    Null,
    Text(&'a str),
    Ts(DateTime<Utc>),
}

impl Column {
    /// Every column in table order (what `select=*` returns).
    pub(super) const ALL: [Column; 9] = [
        Column::Id,
        Column::Name,
        Column::Email,
        Column::Phone,
        Column::Source,
        Column::Status,
        Column::ZohoLeadId,
        Column::CreatedAt,
        Column::UpdatedAt,
    ];

    /// The column's SQL name.
    pub(super) fn name(self) -> &'static str {
        match self {
            Column::Id => "id",
            Column::Name => "name",
            Column::Email => "email",
            Column::Phone => "phone",
            Column::Source => "source",
            Column::Status => "status",
            Column::ZohoLeadId => "zoho_lead_id",
            Column::CreatedAt => "created_at",
            Column::UpdatedAt => "updated_at",
        }
    }

    /// The column named `name` (exact, as an unquoted identifier already lowercased would be).
    pub(super) fn from_name(name: &str) -> Option<Column> {
        Column::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The column's type.
    pub(super) fn kind(self) -> Kind {
        match self {
            Column::Id => Kind::Uuid,
            Column::CreatedAt | Column::UpdatedAt => Kind::Timestamptz,
            _ => Kind::Text,
        }
    }

    /// `lead`'s value in this column.
    pub(super) fn value(self, lead: &Lead) -> Val<'_> {
        fn text(s: &Option<String>) -> Val<'_> {
            s.as_deref().map_or(Val::Null, Val::Text)
        }
        match self {
            Column::Id => Val::Text(&lead.id),
            Column::Name => Val::Text(&lead.name),
            Column::Email => text(&lead.email),
            Column::Phone => text(&lead.phone),
            Column::Source => Val::Text(&lead.source),
            Column::Status => Val::Text(&lead.status),
            Column::ZohoLeadId => text(&lead.zoho_lead_id),
            Column::CreatedAt => Val::Ts(lead.created_at),
            Column::UpdatedAt => Val::Ts(lead.updated_at),
        }
    }
}
