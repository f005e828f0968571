//! The OData `$filter` subset the fake Ploomes understands: `and`, `or`, `not`, parentheses,
//! comparisons (`eq ne gt ge lt le`) of a property path with a literal (integer, decimal,
//! `'text'`, unquoted date-time, `null`, `true`, `false`), and `any` lambdas over a collection
//! (`Contact/Tags/any(t: t/TagId eq 40006184)`).

use super::dates;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

/// A literal or a property value.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Null,
    Bool(bool),
    Int(i64),
    Num(f64),
    Str(String),
    /// Unix seconds.
    Date(i64),
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cmp(String, Op, Val),
    /// `path/any(var: body)`.
    Any {
        path: String,
        var: String,
        body: Box<Expr>,
    },
}

/// What a filter is evaluated against: properties by path and collections by path.
pub trait Entity {
    /// The value of property `path` (`Id`, `Contact/Name`), or an error naming it.
    fn property(&self, path: &str) -> Result<Val, String>;
    /// The tag ids of collection `path` (`Tags`, `Contact/Tags`).
    fn tags(&self, path: &str) -> Result<Vec<i64>, String>;
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Lit(Val),
    Open,
    Close,
    Colon,
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '(' {
            out.push(Tok::Open);
            i += 1;
        } else if c == ')' {
            out.push(Tok::Close);
            i += 1;
        } else if c == ':' {
            out.push(Tok::Colon);
            i += 1;
        } else if c == '\'' {
            let mut text = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err("unterminated string literal".into()),
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        text.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(&ch) => {
                        text.push(ch);
                        i += 1;
                    }
                }
            }
            out.push(Tok::Lit(Val::Str(text)));
        } else if c.is_ascii_digit()
            || (c == '-' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            let start = i;
            i += 1;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], ':' | '.' | '+' | '-'))
            {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            let val = if let Ok(n) = text.parse::<i64>() {
                Val::Int(n)
            } else if let Some(t) = dates::parse(&text) {
                Val::Date(t)
            } else if let Ok(f) = text.parse::<f64>() {
                Val::Num(f)
            } else {
                return Err(format!("cannot read literal '{text}'"));
            };
            out.push(Tok::Lit(val));
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '_' | '/'))
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            out.push(match word.as_str() {
                "null" => Tok::Lit(Val::Null),
                "true" => Tok::Lit(Val::Bool(true)),
                "false" => Tok::Lit(Val::Bool(false)),
                _ => Tok::Word(word),
            });
        } else {
            return Err(format!("unexpected character '{c}'"));
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek_word(&self, w: &str) -> bool {
        matches!(self.toks.get(self.pos), Some(Tok::Word(x)) if x == w)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn expect(&mut self, want: &Tok) -> Result<(), String> {
        match self.next() {
            Some(t) if &t == want => Ok(()),
            other => Err(format!("expected {want:?}, found {other:?}")),
        }
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while self.peek_word("or") {
            self.pos += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while self.peek_word("and") {
            self.pos += 1;
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.peek_word("not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        match self.next() {
            Some(Tok::Open) => {
                let e = self.or()?;
                self.expect(&Tok::Close)?;
                Ok(e)
            }
            Some(Tok::Word(path)) => {
                if let Some(collection) = path.strip_suffix("/any") {
                    self.expect(&Tok::Open)?;
                    let Some(Tok::Word(var)) = self.next() else {
                        return Err("expected a lambda variable".into());
                    };
                    self.expect(&Tok::Colon)?;
                    let body = self.or()?;
                    self.expect(&Tok::Close)?;
                    return Ok(Expr::Any {
                        path: collection.to_owned(),
                        var,
                        body: Box::new(body),
                    });
                }
                let op = match self.next() {
                    Some(Tok::Word(w)) => match w.as_str() {
                        "eq" => Op::Eq,
                        "ne" => Op::Ne,
                        "gt" => Op::Gt,
                        "ge" => Op::Ge,
                        "lt" => Op::Lt,
                        "le" => Op::Le,
                        _ => return Err(format!("unknown operator '{w}'")),
                    },
                    other => {
                        return Err(format!(
                            "expected an operator after {path}, found {other:?}"
                        ))
                    }
                };
                match self.next() {
                    Some(Tok::Lit(v)) => Ok(Expr::Cmp(path, op, v)),
                    other => Err(format!("expected a literal after {path}, found {other:?}")),
                }
            }
            other => Err(format!("unexpected {other:?}")),
        }
    }
}

/// Parses a `$filter` value.
pub fn parse(s: &str) -> Result<Expr, String> {
    let mut p = Parser {
        toks: tokenize(s)?,
        pos: 0,
    };
    let e = p.or()?;
    if p.pos < p.toks.len() {
        return Err(format!(
            "unexpected {:?} after the expression",
            p.toks[p.pos]
        ));
    }
    Ok(e)
}

fn compare(a: &Val, op: Op, b: &Val) -> Result<bool, String> {
    use std::cmp::Ordering;
    let ord: Option<Ordering> = match (a, b) {
        (Val::Null, Val::Null) => Some(Ordering::Equal),
        (Val::Null, _) | (_, Val::Null) => None,
        (Val::Int(x), Val::Int(y)) => Some(x.cmp(y)),
        (Val::Int(x), Val::Num(y)) => (*x as f64).partial_cmp(y),
        (Val::Num(x), Val::Int(y)) => x.partial_cmp(&(*y as f64)),
        (Val::Num(x), Val::Num(y)) => x.partial_cmp(y),
        (Val::Str(x), Val::Str(y)) => Some(x.cmp(y)),
        (Val::Date(x), Val::Date(y)) => Some(x.cmp(y)),
        (Val::Bool(x), Val::Bool(y)) => Some(x.cmp(y)),
        _ => return Err(format!("cannot compare {a:?} with {b:?}")),
    };
    Ok(match (ord, op) {
        // Comparisons with null: only eq/ne are meaningful.
        (None, Op::Ne) => true,
        (None, _) => false,
        (Some(o), Op::Eq) => o == Ordering::Equal,
        (Some(o), Op::Ne) => o != Ordering::Equal,
        (Some(o), Op::Gt) => o == Ordering::Greater,
        (Some(o), Op::Ge) => o != Ordering::Less,
        (Some(o), Op::Lt) => o == Ordering::Less,
        (Some(o), Op::Le) => o != Ordering::Greater,
    })
}

/// Whether `e` holds for `entity`.
pub fn eval(e: &Expr, entity: &dyn Entity) -> Result<bool, String> {
    Ok(match e {
        Expr::And(a, b) => eval(a, entity)? && eval(b, entity)?,
        Expr::Or(a, b) => eval(a, entity)? || eval(b, entity)?,
        Expr::Not(a) => !eval(a, entity)?,
        Expr::Cmp(path, op, lit) => compare(&entity.property(path)?, *op, lit)?,
        Expr::Any { path, var, body } => {
            for tag in entity.tags(path)? {
                if eval(body, &TagItem { var, tag })? {
                    return Ok(true);
                }
            }
            false
        }
    })
}

/// One element of a tag collection inside a lambda: `t/TagId`.
struct TagItem<'a> {
    var: &'a str,
    tag: i64,
}

impl Entity for TagItem<'_> {
    fn property(&self, path: &str) -> Result<Val, String> {
        match path
            .strip_prefix(self.var)
            .and_then(|p| p.strip_prefix('/'))
        {
            Some("TagId") => Ok(Val::Int(self.tag)),
            _ => Err(format!(
                "Could not find a property named '{path}' on type 'Tag'."
            )),
        }
    }
    fn tags(&self, path: &str) -> Result<Vec<i64>, String> {
        Err(format!("'{path}' is not a collection of type 'Tag'."))
    }
}

/// The lowest `LastUpdateDate` a matching row can have, when the filter says (for range scans).
pub fn date_lower_bound(e: &Expr, field: &str) -> Option<i64> {
    match e {
        Expr::Cmp(p, Op::Gt | Op::Ge | Op::Eq, Val::Date(t)) if p == field => Some(*t),
        Expr::And(a, b) => match (date_lower_bound(a, field), date_lower_bound(b, field)) {
            (Some(x), Some(y)) => Some(x.max(y)),
            (x, y) => x.or(y),
        },
        Expr::Or(a, b) => Some(date_lower_bound(a, field)?.min(date_lower_bound(b, field)?)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Row;
    impl Entity for Row {
        fn property(&self, path: &str) -> Result<Val, String> {
            match path {
                "Id" => Ok(Val::Int(7)),
                "LastUpdateDate" => Ok(Val::Date(
                    dates::parse("2025-07-10T16:22:31-03:00").unwrap(),
                )),
                "Title" => Ok(Val::Str("O'Brien".into())),
                "FinishDate" => Ok(Val::Null),
                _ => Err(format!("no {path}")),
            }
        }
        fn tags(&self, _: &str) -> Result<Vec<i64>, String> {
            Ok(vec![1, 40006184])
        }
    }

    fn holds(f: &str) -> bool {
        eval(&parse(f).unwrap(), &Row).unwrap()
    }

    #[test]
    fn keyset_filters_evaluate() {
        assert!(holds("LastUpdateDate eq 2025-07-10T19:22:31Z and Id gt 6"));
        assert!(!holds("(LastUpdateDate gt 2025-07-10T16:22:31-03:00 or (LastUpdateDate eq 2025-07-10T16:22:31-03:00 and Id gt 7))"));
        assert!(holds(
            "Contact/Tags/any(t: t/TagId eq 40006184) and not (Id eq 8)"
        ));
        assert!(holds(
            "Title eq 'O''Brien' and FinishDate eq null and Id ge -1"
        ));
        assert!(parse("Id eq").is_err());
        assert!(eval(&parse("Nope eq 1").unwrap(), &Row).is_err());
        let e = parse("Tags/any(t: t/TagId eq 1) and (LastUpdateDate gt 2025-01-01T00:00:00Z or (LastUpdateDate eq 2025-01-01T00:00:00Z and Id gt 3))").unwrap();
        assert_eq!(
            date_lower_bound(&e, "LastUpdateDate"),
            dates::parse("2025-01-01T00:00:00Z")
        );
    }
}
