//! The `select` and `order` parameters: which columns come back under which keys, and in
//! which order rows come, parsed like PostgREST (embeddings, aggregates and casts are refused
//! the way PostgREST or the fake refuses them).

use super::error::ApiError;
use super::filter::{self, ParseFailure};
use axum::http::StatusCode;

/// `select` items once parsed.
pub(super) enum SelectItem {
    Star,
    Field { key: String, name: String },
}

/// Splits at top-level commas, with each piece's character offset.
fn split_top(s: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let (mut depth, mut start, mut start_chars) = (0i32, 0, 0);
    for (n, (i, c)) in s.char_indices().enumerate() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push((start_chars, &s[start..i]));
                start = i + 1;
                start_chars = n + 1;
            }
            _ => {}
        }
    }
    out.push((start_chars, &s[start..]));
    out
}

pub(super) fn select_items(text: &str) -> Result<Vec<SelectItem>, ApiError> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let fail = |column: usize, unexpected: Option<char>, expecting: &str| {
        let details = ParseFailure {
            column,
            unexpected,
            expecting: vec![expecting.to_owned()],
        }
        .details();
        ApiError::parse("select parameter", text, column, &details)
    };
    let mut items = Vec::new();
    for (offset, raw) in split_top(text) {
        let item = raw.trim_matches([' ', '\t']);
        let lead = raw.chars().take_while(|c| matches!(c, ' ' | '\t')).count();
        if item == "*" {
            items.push(SelectItem::Star);
            continue;
        }
        if item.contains('(') {
            if item.ends_with("()") {
                return Err(ApiError::pgrst(
                    StatusCode::BAD_REQUEST,
                    "PGRST123",
                    "Use of aggregate functions is not allowed",
                    None,
                    None,
                ));
            }
            let head = item.split('(').next().unwrap_or(item);
            let head = head.rsplit(':').next().unwrap_or(head);
            let relation = head
                .trim_start_matches("...")
                .split('!')
                .next()
                .unwrap_or(head);
            return Err(ApiError::pgrst(
                StatusCode::BAD_REQUEST,
                "PGRST200",
                &format!("Could not find a relationship between 'leads' and '{relation}' in the schema cache"),
                Some(&format!("Searched for a foreign key relationship between 'leads' and '{relation}' in the schema 'public', but no matches were found.")),
                None,
            ));
        }
        let (alias, field) = match item.find(':') {
            Some(i) if !item[i..].starts_with("::") => {
                (Some(item[..i].trim()), item[i + 1..].trim())
            }
            _ => (None, item),
        };
        let at = offset + lead + item.chars().count() - field.chars().count();
        let (name, used) = filter::field_name_prefix(field).map_err(|f| {
            fail(
                at + f.column,
                f.unexpected,
                "field name (* or [a..z0..9_$])",
            )
        })?;
        let rest = &field[field
            .char_indices()
            .nth(used)
            .map_or(field.len(), |(i, _)| i)..];
        if rest.starts_with("::") || rest.starts_with("->") {
            return Err(ApiError::unsupported("Casts and JSON paths in select"));
        }
        if let Some(c) = rest.chars().next() {
            let expecting = "letter, digit, \"-\", \"->>\", \"->\", \"::\", \".\", \")\", \",\" or end of input";
            return Err(fail(at + used + 1, Some(c), expecting));
        }
        let key = alias.filter(|a| !a.is_empty()).unwrap_or(&name).to_owned();
        items.push(SelectItem::Field { key, name });
    }
    Ok(items)
}

/// Parses `order`: `column[.asc|.desc][.nullsfirst|.nullslast]`, comma-separated.
pub(super) fn order_terms(text: &str) -> Result<Vec<(String, bool, Option<bool>)>, ApiError> {
    let fail = |column: usize, unexpected: Option<char>, expecting: &[&str]| {
        let f = ParseFailure {
            column,
            unexpected,
            expecting: expecting.iter().map(|s| (*s).to_owned()).collect(),
        };
        ApiError::from_parse("order", text, &f)
    };
    let dirs = ["\"asc\"", "\"desc\"", "\"nullsfirst\"", "\"nullslast\""];
    let mut terms = Vec::new();
    for (offset, raw) in split_top(text) {
        let lead = raw.chars().take_while(|c| matches!(c, ' ' | '\t')).count();
        let term = raw.trim_matches([' ', '\t']);
        let base = offset + lead;
        let (name, used) = filter::field_name_prefix(term).map_err(|f| {
            fail(
                base + f.column,
                f.unexpected,
                &["field name (* or [a..z0..9_$])"],
            )
        })?;
        let chars: Vec<char> = term.chars().collect();
        let mut pos = used;
        if chars.get(pos) == Some(&'(') {
            return Err(ApiError::not_embedded(&name));
        }
        let keyword_at = |p: usize, words: &[&'static str]| {
            words.iter().copied().find(|w| {
                w.chars()
                    .enumerate()
                    .all(|(i, c)| chars.get(p + i) == Some(&c))
            })
        };
        let mut desc = false;
        let mut nulls = None;
        // What may follow: 0 after the field, 1 after a direction, 2 after the nulls order.
        let mut stage = 0;
        while pos < chars.len() {
            if chars[pos] != '.' || stage == 2 {
                let expecting = match stage {
                    0 => "letter, digit, \"-\", \"->>\", \"->\", delimiter (.), \",\" or end of input",
                    1 => "delimiter (.), \",\" or end of input",
                    _ => "\",\" or end of input",
                };
                return Err(fail(base + pos + 1, Some(chars[pos]), &[expecting]));
            }
            let allowed: &[&str] = if stage == 0 {
                &["asc", "desc", "nullsfirst", "nullslast"]
            } else {
                &["nullsfirst", "nullslast"]
            };
            let Some(word) = keyword_at(pos + 1, allowed) else {
                // Parsec reports where the input leaves the first alternative.
                let n = allowed[0]
                    .chars()
                    .zip(&chars[pos + 1..])
                    .take_while(|(a, b)| a == *b)
                    .count();
                let expecting = &dirs[4 - allowed.len()..];
                return Err(fail(
                    base + pos + 2,
                    chars.get(pos + 1 + n).copied(),
                    expecting,
                ));
            };
            if matches!(word, "asc" | "desc") {
                desc = word == "desc";
                stage = 1;
            } else {
                nulls = Some(word == "nullsfirst");
                stage = 2;
            }
            pos += 1 + word.len();
        }
        terms.push((name, desc, nulls));
    }
    Ok(terms)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The message's column and the details of an `order` PostgREST refuses.
    fn order_failure(text: &str) -> (String, String) {
        let Err(e) = order_terms(text) else {
            panic!("{text} should not parse")
        };
        let body: serde_json::Value = serde_json::from_str(&e.body).expect("a JSON body");
        let message = body["message"].as_str().unwrap_or("").to_owned();
        let column = message
            .rsplit("column ")
            .next()
            .unwrap_or("")
            .trim_end_matches(')');
        (
            column.to_owned(),
            body["details"].as_str().unwrap_or("").to_owned(),
        )
    }

    #[test]
    fn order_failures_match_postgrest_doctests() {
        let dirs = "expecting \"asc\", \"desc\", \"nullsfirst\" or \"nullslast\"";
        assert_eq!(
            order_failure("id.ac"),
            ("4".into(), format!("unexpected \"c\" {dirs}"))
        );
        assert_eq!(
            order_failure("id.smth34"),
            ("4".into(), format!("unexpected \"s\" {dirs}"))
        );
        assert_eq!(
            order_failure("id.descc"),
            (
                "8".into(),
                "unexpected 'c' expecting delimiter (.), \",\" or end of input".into()
            )
        );
        assert_eq!(
            order_failure("id.nullslasttt"),
            (
                "13".into(),
                "unexpected 't' expecting \",\" or end of input".into()
            )
        );
        assert_eq!(
            order_failure("id.asc.nlsfst"),
            (
                "8".into(),
                "unexpected \"l\" expecting \"nullsfirst\" or \"nullslast\"".into()
            )
        );
        let ok = order_terms("created_at.desc.nullslast, id").expect("valid");
        assert_eq!(
            ok,
            vec![
                ("created_at".into(), true, Some(false)),
                ("id".into(), false, None)
            ]
        );
    }
}
