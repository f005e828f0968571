//! The Ploomes URLs the connector requests: OData `$select`, `$filter`, `$orderby` and `$top` for
//! `/Deals` (keyset paging on `LastUpdateDate`, then `Id`) and `/Contacts` (by id, or a scan on
//! `Id`). Values are percent-encoded here; nothing else builds a query string.
//!
//! Pure code with no SDK dependency: the benchmark's native baseline includes this file too.

/// The deal fields the connector reads.
pub const DEAL_FIELDS: &str =
    "Id,Title,ContactId,Amount,StatusId,PipelineId,StageId,OwnerId,CreateDate,FinishDate,LastUpdateDate";

/// The contact fields the connector reads.
pub const CONTACT_FIELDS: &str = "Id,Name,CNPJ";

/// The largest page Ploomes serves (its documented per-page limit for Deals and Contacts).
pub const MAX_PAGE: u32 = 300;

/// Where a page of deals starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// The first page of a full sync.
    Beginning,
    /// Every deal updated at or after this date (an OData date-time literal, e.g. RFC 3339).
    Since(String),
    /// Strictly after this (LastUpdateDate, Id) key: the next page of a keyset walk.
    After {
        /// The last deal's `LastUpdateDate`, exactly as Ploomes wrote it.
        date: String,
        /// The last deal's `Id`.
        id: i64,
    },
}

/// `/Deals` ordered by (LastUpdateDate, Id) from `start`, at most `top` rows, optionally only the
/// deals of contacts carrying tag `tag`.
pub fn deals_url(base: &str, start: &Start, tag: Option<i64>, top: u32) -> String {
    let keyset = match start {
        Start::Beginning => None,
        Start::Since(date) => Some(format!("LastUpdateDate ge {date}")),
        Start::After { date, id } => Some(format!(
            "(LastUpdateDate gt {date} or (LastUpdateDate eq {date} and Id gt {id}))"
        )),
    };
    let tag = tag.map(|t| format!("Contact/Tags/any(t: t/TagId eq {t})"));
    let filter = match (tag, keyset) {
        (None, None) => None,
        (Some(f), None) | (None, Some(f)) => Some(f),
        (Some(t), Some(k)) => Some(format!("{t} and {k}")),
    };
    let mut url = format!("{base}/Deals?$select={DEAL_FIELDS}");
    if let Some(f) = filter {
        url.push_str("&$filter=");
        url.push_str(&encode(&f));
    }
    url.push_str(&format!("&$orderby=LastUpdateDate,Id&$top={top}"));
    url
}

/// `/Contacts` whose `Id` is one of `ids` (an `or` chain: the widely supported OData form).
pub fn contacts_by_id_url(base: &str, ids: &[i64]) -> String {
    let filter: Vec<String> = ids.iter().map(|id| format!("Id eq {id}")).collect();
    format!(
        "{base}/Contacts?$select={CONTACT_FIELDS}&$filter={}&$top={MAX_PAGE}",
        encode(&filter.join(" or "))
    )
}

/// The next page of a walk over every contact by `Id` (optionally only those tagged `tag`).
pub fn contacts_scan_url(base: &str, after_id: i64, tag: Option<i64>, top: u32) -> String {
    let mut filter = format!("Id gt {after_id}");
    if let Some(t) = tag {
        filter.push_str(&format!(" and Tags/any(t: t/TagId eq {t})"));
    }
    format!(
        "{base}/Contacts?$select={CONTACT_FIELDS}&$filter={}&$orderby=Id&$top={top}",
        encode(&filter)
    )
}

/// Percent-encodes a query value: everything but unreserved characters and the few OData
/// punctuation marks that are safe in a query (`+` is encoded: servers read it as a space).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 4);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'.'
            | b'_'
            | b'~'
            | b'('
            | b')'
            | b','
            | b':'
            | b'/'
            | b'\'' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyset_filters_are_encoded() {
        let url = deals_url(
            "https://x",
            &Start::After {
                date: "2025-07-10T16:22:31+01:00".into(),
                id: 7,
            },
            Some(40),
            300,
        );
        assert_eq!(
            url,
            "https://x/Deals?$select=Id,Title,ContactId,Amount,StatusId,PipelineId,StageId,OwnerId,CreateDate,FinishDate,LastUpdateDate\
             &$filter=Contact/Tags/any(t:%20t/TagId%20eq%2040)%20and%20(LastUpdateDate%20gt%202025-07-10T16:22:31%2B01:00%20or%20(LastUpdateDate%20eq%202025-07-10T16:22:31%2B01:00%20and%20Id%20gt%207))\
             &$orderby=LastUpdateDate,Id&$top=300"
        );
        assert!(deals_url("b", &Start::Beginning, None, 5)
            .ends_with("LastUpdateDate&$orderby=LastUpdateDate,Id&$top=5"));
    }
}
