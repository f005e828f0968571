//! Row ranges exactly as PostgREST computes them (its `RangeQuery` module): `limit`/`offset`,
//! the `Range: 0-999` header, `max-rows`, then the status (`200`/`206`/`416`) and
//! `Content-Range` of the answer.

use super::error::ApiError;
use axum::http::StatusCode;

/// An inclusive range of row positions; `hi: None` is unbounded. Empty when `hi < lo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Range {
    pub(super) lo: i64,
    pub(super) hi: Option<i64>,
}

impl Range {
    const ALL: Range = Range { lo: 0, hi: None };
    /// `limit=0`: the one empty range PostgREST accepts.
    const LIMIT_ZERO: Range = Range {
        lo: 0,
        hi: Some(-1),
    };

    fn is_empty(self) -> bool {
        self.hi.is_some_and(|hi| hi < self.lo)
    }

    fn intersect(self, other: Range) -> Range {
        let hi = match (self.hi, other.hi) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Range {
            lo: self.lo.max(other.lo),
            hi,
        }
    }

    /// At most `limit` rows from this range's start (PostgREST's `restrictRange`).
    fn restrict(self, limit: Option<i64>) -> Range {
        match limit {
            Some(l) => Range {
                lo: self.lo,
                hi: Some(
                    self.hi
                        .map_or(self.lo + l - 1, |hi| hi.min(self.lo + l - 1)),
                ),
            },
            None => self,
        }
    }

    fn has_limit_zero(self) -> bool {
        self.hi == Some(-1)
    }

    /// How many rows the range allows, `None` when unbounded.
    pub(super) fn limit(self) -> Option<usize> {
        self.hi
            .map(|hi| usize::try_from(hi - self.lo + 1).unwrap_or(0))
    }

    /// The first row position.
    pub(super) fn offset(self) -> usize {
        usize::try_from(self.lo).unwrap_or(0)
    }
}

/// A `limit`/`offset` value as Haskell's `readMaybe` reads an Integer: `None` when it is not one
/// (PostgREST then ignores it).
pub(super) fn read_integer(text: &str) -> Option<i64> {
    let t = text.trim();
    if t.starts_with('+') {
        return None;
    }
    t.parse().ok()
}

/// The `Range` header: `^([0-9]+)-([0-9]*)$`, anything else means all rows (ignored).
pub(super) fn parse_header(value: &str) -> Range {
    let Some((lo, hi)) = value.split_once('-') else {
        return Range::ALL;
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if lo.is_empty() || !digits(lo) || !digits(hi) {
        return Range::ALL;
    }
    let Ok(lo) = lo.parse::<i64>() else {
        return Range::ALL;
    };
    let hi = if hi.is_empty() { None } else { hi.parse().ok() };
    Range { lo, hi }
}

/// The range the request asks for: the header's intersected with `limit`/`offset` (each `None`
/// when absent, `Some(None)` when unreadable), or `416 PGRST103` when that is empty.
pub(super) fn top_level(
    header: Option<Range>,
    limit: Option<Option<i64>>,
    offset: Option<Option<i64>>,
) -> Result<Range, ApiError> {
    let limit_range = Range::ALL.restrict(limit.flatten());
    let offset_range = Range {
        lo: offset.flatten().unwrap_or(0),
        hi: None,
    };
    let param_range = match (limit, offset) {
        (Some(_), Some(_)) => {
            // PostgREST's unionWith: an unreadable limit counts as 0 rows.
            let l = limit.flatten().unwrap_or(0);
            Range {
                lo: offset_range.lo,
                hi: Some(offset_range.lo + l - 1),
            }
        }
        (Some(_), None) => limit_range,
        (None, Some(_)) => offset_range,
        (None, None) => Range::ALL,
    };
    let header = header.unwrap_or(Range::ALL);
    let top = if param_range.has_limit_zero() {
        Range::LIMIT_ZERO
    } else {
        header.intersect(param_range)
    };
    if top.is_empty() && !param_range.has_limit_zero() {
        return Err(ApiError::range(if header.is_empty() {
            "The lower boundary must be lower than or equal to the upper boundary in the Range header."
        } else {
            "Limit should be greater than or equal to zero."
        }));
    }
    Ok(top)
}

/// The range actually read: `top` cut to `max_rows` (`limit=0` stays empty).
pub(super) fn with_max_rows(top: Range, max_rows: Option<usize>) -> Range {
    if top.has_limit_zero() {
        return top;
    }
    top.restrict(max_rows.map(|m| i64::try_from(m).unwrap_or(i64::MAX)))
}

/// The status and `Content-Range` for `rows` rows read from `top`, with the `total` if counted;
/// a `416` answer's error when the offset lies beyond the total.
pub(super) fn status_and_header(
    top: Range,
    rows: usize,
    total: Option<usize>,
) -> (StatusCode, String, Option<ApiError>) {
    let lower = top.lo;
    let upper = lower + rows as i64 - 1;
    let total_i = total.map(|t| t as i64);
    let range_text = if total_i != Some(0) && lower <= upper {
        format!("{lower}-{upper}")
    } else {
        "*".to_owned()
    };
    let header = format!(
        "{range_text}/{}",
        total.map_or("*".to_owned(), |t| t.to_string())
    );
    let status = match total_i {
        None => StatusCode::OK,
        Some(t) if lower > t => StatusCode::RANGE_NOT_SATISFIABLE,
        Some(t) if 1 + upper - lower < t => StatusCode::PARTIAL_CONTENT,
        Some(_) => StatusCode::OK,
    };
    let error = (status == StatusCode::RANGE_NOT_SATISFIABLE).then(|| {
        ApiError::range(&format!(
            "An offset of {lower} was requested, but there are only {} rows.",
            total.unwrap_or(0)
        ))
    });
    (status, header, error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_postgrest() {
        let r = top_level(None, Some(Some(10)), Some(Some(20))).expect("a range");
        assert_eq!(
            r,
            Range {
                lo: 20,
                hi: Some(29)
            }
        );
        let r = top_level(Some(parse_header("0-999")), Some(Some(50)), None).expect("a range");
        assert_eq!(
            r,
            Range {
                lo: 0,
                hi: Some(49)
            }
        );
        assert_eq!(parse_header("items=0-9"), Range::ALL);
        assert_eq!(
            top_level(None, Some(Some(0)), None).ok(),
            Some(Range::LIMIT_ZERO)
        );
        assert!(top_level(None, Some(Some(-1)), None).is_err());
        assert!(top_level(Some(parse_header("10-5")), None, None).is_err());
        assert_eq!(top_level(None, Some(None), None).ok(), Some(Range::ALL));
        assert_eq!(
            with_max_rows(Range::ALL, Some(1000)),
            Range {
                lo: 0,
                hi: Some(999)
            }
        );
    }

    #[test]
    fn statuses_and_headers() {
        let top = Range {
            lo: 0,
            hi: Some(14),
        };
        let (s, h, _) = status_and_header(top, 15, Some(3573));
        assert_eq!((s, h.as_str()), (StatusCode::PARTIAL_CONTENT, "0-14/3573"));
        let (s, h, _) = status_and_header(top, 15, None);
        assert_eq!((s, h.as_str()), (StatusCode::OK, "0-14/*"));
        let (s, h, _) = status_and_header(Range::ALL, 0, None);
        assert_eq!((s, h.as_str()), (StatusCode::OK, "*/*"));
        let (s, h, _) = status_and_header(Range::ALL, 0, Some(0));
        assert_eq!((s, h.as_str()), (StatusCode::OK, "*/0"));
        let far = Range { lo: 60, hi: None };
        let (s, h, e) = status_and_header(far, 0, Some(57));
        assert_eq!((s, h.as_str()), (StatusCode::RANGE_NOT_SATISFIABLE, "*/57"));
        assert!(e.is_some());
        // The last page of several is still partial content.
        let last = Range {
            lo: 50,
            hi: Some(59),
        };
        let (s, h, _) = status_and_header(last, 7, Some(57));
        assert_eq!((s, h.as_str()), (StatusCode::PARTIAL_CONTENT, "50-56/57"));
    }
}
