//! Filters made typed and evaluated: what Postgres does with the SQL PostgREST builds from them.
//!
//! Compiling resolves columns (`42703`), reads literals as the column's type (`22P02` for a bad
//! uuid, `22007` for a bad timestamp) and checks the operator exists for the type (`42883`,
//! `42804`). Evaluation follows SQL's three-valued logic: a comparison with NULL is unknown, and
//! a row is returned only when the whole condition is true (so `neq` and `not.eq` skip NULLs).

use super::columns::{Column, Kind, Val};
use super::error::ApiError;
use super::filter::{Cond, OpExpr, Operand, Tree};
use super::time;
use super::{data, Lead};
use chrono::{DateTime, Utc};
use std::cmp::Ordering;

/// A literal read as its column's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Lit {
    Text(String),
    Ts(DateTime<Utc>),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cmp {
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
}

/// A typed condition on a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Pred {
    Cmp(Column, Cmp, Lit),
    /// `LIKE`/`ILIKE` with the SQL pattern (`*` already turned into `%`).
    Like {
        column: Column,
        pattern: Vec<char>,
        case_insensitive: bool,
    },
    In(Column, Vec<Lit>),
    /// `IS NULL` (false) or `IS NOT NULL` (true).
    IsNull(Column, bool),
    /// `IS DISTINCT FROM`.
    Distinct(Column, Lit),
    Not(Box<Pred>),
    All(Vec<Pred>),
    Any(Vec<Pred>),
}

const NO_OPERATOR_HINT: &str =
    "No operator matches the given name and argument types. You might need to add explicit type casts.";

/// The column `name` refers to, or Postgres' `42703`.
pub(super) fn column(name: &str) -> Result<Column, ApiError> {
    Column::from_name(name).ok_or_else(|| ApiError::undefined_column(name))
}

/// A literal of `kind`, or the error Postgres gives for invalid input.
fn literal(kind: Kind, text: &str) -> Result<Lit, ApiError> {
    let invalid = |code: &str| {
        ApiError::postgres(
            code,
            &format!(
                "invalid input syntax for type {}: \"{text}\"",
                kind.pg_name()
            ),
            None,
        )
    };
    match kind {
        Kind::Text => Ok(Lit::Text(text.to_owned())),
        Kind::Uuid => data::normalize_uuid(text)
            .map(Lit::Text)
            .ok_or_else(|| invalid("22P02")),
        Kind::Timestamptz => time::parse(text)
            .map(Lit::Ts)
            .ok_or_else(|| invalid("22007")),
    }
}

fn no_operator(kind: Kind, sql_op: &str) -> ApiError {
    ApiError::postgres(
        "42883",
        &format!(
            "operator does not exist: {} {sql_op} unknown",
            kind.pg_name()
        ),
        Some(NO_OPERATOR_HINT),
    )
}

/// Compiles a filter on `field`.
pub(super) fn compile_cond(cond: &Cond) -> Result<Pred, ApiError> {
    compile_expr(column(&cond.field)?, &cond.expr)
}

fn compile_expr(col: Column, e: &OpExpr) -> Result<Pred, ApiError> {
    let kind = col.kind();
    if e.modifier.is_some() && !e.op.ends_with("fts") {
        return Err(ApiError::unsupported(&format!(
            "the ({}) quantifier",
            e.modifier.as_deref().unwrap_or("")
        )));
    }
    let single = || match &e.operand {
        Operand::Single(v) => Ok(v.as_str()),
        _ => Err(ApiError::unsupported("this operand")),
    };
    let cmp =
        |c: Cmp| -> Result<Pred, ApiError> { Ok(Pred::Cmp(col, c, literal(kind, single()?)?)) };
    let pred = match e.op {
        "eq" => cmp(Cmp::Eq)?,
        "neq" => cmp(Cmp::Neq)?,
        "gt" => cmp(Cmp::Gt)?,
        "gte" => cmp(Cmp::Gte)?,
        "lt" => cmp(Cmp::Lt)?,
        "lte" => cmp(Cmp::Lte)?,
        "like" | "ilike" => {
            let case_insensitive = e.op == "ilike";
            if kind != Kind::Text {
                return Err(no_operator(
                    kind,
                    if case_insensitive { "~~*" } else { "~~" },
                ));
            }
            Pred::Like {
                column: col,
                pattern: single()?.replace('*', "%").chars().collect(),
                case_insensitive,
            }
        }
        "in" => match &e.operand {
            Operand::List(items) => Pred::In(
                col,
                items
                    .iter()
                    .map(|i| literal(kind, i))
                    .collect::<Result<_, _>>()?,
            ),
            _ => return Err(ApiError::unsupported("this operand")),
        },
        "is" => match &e.operand {
            Operand::Is(v) if v == "null" => Pred::IsNull(col, false),
            Operand::Is(v) if v == "not_null" => Pred::IsNull(col, true),
            Operand::Is(v) => {
                let what = v.to_ascii_uppercase();
                return Err(ApiError::postgres(
                    "42804",
                    &format!(
                        "argument of IS {what} must be type boolean, not type {}",
                        kind.pg_name()
                    ),
                    None,
                ));
            }
            _ => return Err(ApiError::unsupported("this operand")),
        },
        "isdistinct" => Pred::Distinct(col, literal(kind, single()?)?),
        "match" | "imatch" => {
            if kind != Kind::Text {
                return Err(no_operator(kind, if e.op == "imatch" { "~*" } else { "~" }));
            }
            return Err(ApiError::unsupported("the match/imatch (regex) operators"));
        }
        "cs" => return Err(no_operator(kind, "@>")),
        "cd" => return Err(no_operator(kind, "<@")),
        "ov" => return Err(no_operator(kind, "&&")),
        "sl" => return Err(no_operator(kind, "<<")),
        "sr" => return Err(no_operator(kind, ">>")),
        "nxr" => return Err(no_operator(kind, "&<")),
        "nxl" => return Err(no_operator(kind, "&>")),
        "adj" => return Err(no_operator(kind, "-|-")),
        other => return Err(ApiError::unsupported(&format!("the {other} operator"))),
    };
    Ok(if e.negated {
        Pred::Not(Box::new(pred))
    } else {
        pred
    })
}

/// Compiles an `or`/`and` tree.
pub(super) fn compile_tree(tree: &Tree) -> Result<Pred, ApiError> {
    match tree {
        Tree::Cond(c) => compile_cond(c),
        Tree::Logic {
            negated,
            and,
            items,
        } => {
            let items = items
                .iter()
                .map(compile_tree)
                .collect::<Result<Vec<_>, _>>()?;
            let node = if *and {
                Pred::All(items)
            } else {
                Pred::Any(items)
            };
            Ok(if *negated {
                Pred::Not(Box::new(node))
            } else {
                node
            })
        }
    }
}

fn compare(v: Val<'_>, lit: &Lit) -> Option<Ordering> {
    match (v, lit) {
        (Val::Text(a), Lit::Text(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
        (Val::Ts(a), Lit::Ts(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

/// The condition's SQL truth value for `lead` (`None`: unknown).
pub(super) fn eval(p: &Pred, lead: &Lead) -> Option<bool> {
    match p {
        Pred::Cmp(col, c, lit) => {
            let o = compare(col.value(lead), lit)?;
            Some(match c {
                Cmp::Eq => o == Ordering::Equal,
                Cmp::Neq => o != Ordering::Equal,
                Cmp::Gt => o == Ordering::Greater,
                Cmp::Gte => o != Ordering::Less,
                Cmp::Lt => o == Ordering::Less,
                Cmp::Lte => o != Ordering::Greater,
            })
        }
        Pred::Like {
            column,
            pattern,
            case_insensitive,
        } => match column.value(lead) {
            Val::Text(s) if *case_insensitive => {
                let lower = |cs: &[char]| -> Vec<char> {
                    cs.iter().flat_map(|c| c.to_lowercase()).collect()
                };
                let text: Vec<char> = s.chars().collect();
                Some(like(&lower(&text), &lower(pattern)))
            }
            Val::Text(s) => Some(like(&s.chars().collect::<Vec<_>>(), pattern)),
            _ => None,
        },
        Pred::In(col, lits) => {
            let v = col.value(lead);
            if v == Val::Null {
                return None;
            }
            let hit = lits.iter().any(|l| compare(v, l) == Some(Ordering::Equal));
            Some(hit)
        }
        Pred::IsNull(col, not_null) => Some((col.value(lead) == Val::Null) != *not_null),
        Pred::Distinct(col, lit) => Some(compare(col.value(lead), lit) != Some(Ordering::Equal)),
        Pred::Not(inner) => eval(inner, lead).map(|b| !b),
        Pred::All(items) => {
            let mut unknown = false;
            for i in items {
                match eval(i, lead) {
                    Some(false) => return Some(false),
                    None => unknown = true,
                    Some(true) => {}
                }
            }
            (!unknown).then_some(true)
        }
        Pred::Any(items) => {
            let mut unknown = false;
            for i in items {
                match eval(i, lead) {
                    Some(true) => return Some(true),
                    None => unknown = true,
                    Some(false) => {}
                }
            }
            (!unknown).then_some(false)
        }
    }
}

/// SQL `LIKE`: `%` any run, `_` one character, `\` escapes the next one.
fn like(text: &[char], pattern: &[char]) -> bool {
    // Iterative matching with backtracking to the last `%`.
    let (mut t, mut p) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('%') => {
                star = Some((p, t));
                p += 1;
                continue;
            }
            Some('\\') if pattern.get(p + 1) == Some(&text[t]) => {
                p += 2;
                t += 1;
                continue;
            }
            Some('_') => {
                p += 1;
                t += 1;
                continue;
            }
            Some(&c) if c != '\\' && c == text[t] => {
                p += 1;
                t += 1;
                continue;
            }
            _ => {}
        }
        match star {
            Some((sp, st)) => {
                p = sp + 1;
                t = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == '%')
}

#[cfg(test)]
mod tests {
    use super::like;

    fn m(t: &str, p: &str) -> bool {
        like(
            &t.chars().collect::<Vec<_>>(),
            &p.chars().collect::<Vec<_>>(),
        )
    }

    #[test]
    fn like_matches_sql_patterns() {
        assert!(m("ana@gmail.com", "%@gmail.com"));
        assert!(m("ana", "a_a"));
        assert!(!m("ana", "a_"));
        assert!(m("50% off", "50\\% %"));
        assert!(!m("50x off", "50\\% %"));
        assert!(m("", "%"));
        assert!(m("abcabc", "%bc%c"));
    }
}
