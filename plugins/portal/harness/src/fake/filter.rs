//! PostgREST's filter grammar: `[not.]op.value` expressions and `or`/`and` logic trees, parsed
//! the way its Parsec parser does, down to where it reports a failure (`PGRST100`'s column and
//! `unexpected … expecting …` details).

/// Operators PostgREST knows, longest first where one is a prefix of another (the parser tries
/// them so, and reports failures after the longest that matched).
const OPERATORS: &str =
    "isdistinct imatch ilike in is neq cs cd ov sl sr nxr nxl adj eq gte gt lte lt like match phfts plfts wfts fts";

/// Operators that take a `(any)`/`(all)` quantifier.
const QUANTIFIABLE: &[&str] = &[
    "eq", "gte", "gt", "lte", "lt", "like", "ilike", "match", "imatch",
];
const IS_VALUES: &[&str] = &["null", "not_null", "true", "false", "unknown"];
const OPERATOR_LABEL: &str = "operator (eq, gt, ...)";

/// What follows the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Operand {
    /// One value (`eq.x`, `like.a*`, `isdistinct.x`, …).
    Single(String),
    /// `in.(a,b)`.
    List(Vec<String>),
    /// `is.null` and friends, lowercased.
    Is(String),
}

/// `[not.]op[(modifier)].operand`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct OpExpr {
    pub(super) negated: bool,
    pub(super) op: &'static str,
    /// `any`/`all` for quantified operators, the language for full-text ones.
    pub(super) modifier: Option<String>,
    pub(super) operand: Operand,
}

/// A filter: the column name and its expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Cond {
    pub(super) field: String,
    pub(super) expr: OpExpr,
}

/// An `or=`/`and=` tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Tree {
    Cond(Cond),
    Logic {
        negated: bool,
        and: bool,
        items: Vec<Tree>,
    },
}

/// A parse failure: 1-based column, the unexpected character (`None`: end of input), expectations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ParseFailure {
    pub(super) column: usize,
    pub(super) unexpected: Option<char>,
    pub(super) expecting: Vec<String>,
}

impl ParseFailure {
    fn at(pos: usize, unexpected: Option<char>, expecting: &[&str]) -> Self {
        ParseFailure {
            column: pos + 1,
            unexpected,
            expecting: expecting.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    /// Parsec's `unexpected "x" expecting a, b or c`.
    pub(super) fn details(&self) -> String {
        // Where `end of input` was possible, the failure came from `eof`, which shows the
        // character Haskell-style, in single quotes; elsewhere a string was shown.
        let quote = if self.expecting.iter().any(|e| e.ends_with("end of input")) {
            '\''
        } else {
            '"'
        };
        let unexpected = match self.unexpected {
            Some(c) => format!("unexpected {quote}{c}{quote}"),
            None => "unexpected end of input".to_owned(),
        };
        match self.expecting.split_last() {
            None => unexpected,
            Some((last, [])) => format!("{unexpected} expecting {last}"),
            Some((last, rest)) => format!("{unexpected} expecting {} or {last}", rest.join(", ")),
        }
    }

    /// Parsec's merge: the failure further in wins; at the same place expectations add up.
    fn merge(self, other: ParseFailure) -> ParseFailure {
        match self.column.cmp(&other.column) {
            std::cmp::Ordering::Greater => self,
            std::cmp::Ordering::Less => other,
            std::cmp::Ordering::Equal => {
                let mut merged = self;
                for e in other.expecting {
                    if !merged.expecting.contains(&e) {
                        merged.expecting.push(e);
                    }
                }
                merged
            }
        }
    }
}

type Parsed<T> = Result<T, ParseFailure>;

struct Cursor {
    chars: Vec<char>,
    pos: usize,
}

impl Cursor {
    fn new(s: &str) -> Self {
        Cursor {
            chars: s.chars().collect(),
            pos: 0,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn at(&self, i: usize) -> Option<char> {
        self.chars.get(i).copied()
    }

    fn starts_with(&self, s: &str) -> bool {
        s.chars()
            .enumerate()
            .all(|(i, c)| self.at(self.pos + i) == Some(c))
    }

    /// Where input and `s` first differ (Parsec's `string` reports that character).
    fn mismatch(&self, s: &str) -> Option<char> {
        let n = s
            .chars()
            .zip(&self.chars[self.pos..])
            .take_while(|(a, b)| a == *b)
            .count();
        self.at(self.pos + n)
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> Parsed<()> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(ParseFailure::at(
                self.pos,
                self.peek(),
                &[&format!("\"{c}\"")],
            ))
        }
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.pos += 1;
        }
    }

    fn rest(&self) -> String {
        self.chars[self.pos..].iter().collect()
    }
}

/// Parses a filter's value, e.g. `gt.2025-07-01T00:00:00Z` or `not.in.(a,b)`; the rest of the
/// value after a complete expression is ignored, as PostgREST ignores it.
pub(super) fn parse_filter_value(value: &str) -> Parsed<OpExpr> {
    let mut c = Cursor::new(value);
    op_expr(&mut c, false)
}

/// Parses a logic parameter: `op` is `or`, `and`, `not.or` or `not.and`, `value` like `(a.eq.1,…)`.
/// Columns count in the text PostgREST parses, `or(a.eq.1,…)`.
pub(super) fn parse_logic(op: &str, value: &str) -> Parsed<Tree> {
    let mut c = Cursor::new(&format!("{op}{value}"));
    tree(&mut c)
}

fn op_expr(c: &mut Cursor, in_logic: bool) -> Parsed<OpExpr> {
    let negated = if c.starts_with("not") {
        if c.at(c.pos + 3) != Some('.') {
            return Err(ParseFailure::at(
                c.pos + 3,
                c.at(c.pos + 3),
                &["delimiter (.)"],
            ));
        }
        c.pos += 4;
        true
    } else {
        false
    };
    let start = c.pos;
    let Some(op) = OPERATORS.split(' ').find(|op| c.starts_with(op)) else {
        // Nothing matched: the first alternative's mismatch is what Parsec reports.
        let (first, expecting): (&str, &[&str]) = if negated {
            ("in", &[OPERATOR_LABEL])
        } else {
            ("not", &["\"not\"", OPERATOR_LABEL])
        };
        return Err(ParseFailure::at(start, c.mismatch(first), expecting));
    };
    c.pos += op.chars().count();
    let after_op = |c: &Cursor| ParseFailure::at(c.pos, c.peek(), &[OPERATOR_LABEL]);
    let takes_modifier = QUANTIFIABLE.contains(&op) || op.ends_with("fts");
    let mut modifier = None;
    if takes_modifier && c.peek() == Some('(') {
        let close = c.chars[c.pos..].iter().position(|&ch| ch == ')');
        let inner: Option<String> = close.map(|n| c.chars[c.pos + 1..c.pos + n].iter().collect());
        let ok = match &inner {
            Some(m) if QUANTIFIABLE.contains(&op) => m == "any" || m == "all",
            Some(m) => !m.is_empty() && m.chars().all(|ch| ch.is_alphanumeric() || ch == '_'),
            None => false,
        };
        if !ok {
            return Err(ParseFailure::at(
                c.pos + 1,
                c.at(c.pos + 1),
                &[OPERATOR_LABEL],
            ));
        }
        c.pos += inner.as_ref().map_or(0, |m| m.chars().count()) + 2;
        modifier = inner;
    }
    if !c.eat('.') {
        return Err(after_op(c));
    }
    let operand = match op {
        "in" => Operand::List(list(c)?),
        "is" => {
            let Some(v) = IS_VALUES.iter().find(|v| {
                v.chars()
                    .enumerate()
                    .all(|(i, ch)| c.at(c.pos + i).map(|x| x.to_ascii_lowercase()) == Some(ch))
            }) else {
                return Err(ParseFailure::at(
                    c.pos,
                    c.mismatch("null"),
                    &["isVal: (null, not_null, true, false, unknown)"],
                ));
            };
            c.pos += v.len();
            Operand::Is((*v).to_owned())
        }
        _ if in_logic => Operand::Single(logic_value(c)),
        _ => {
            let v = c.rest();
            c.pos = c.chars.len();
            Operand::Single(v)
        }
    };
    Ok(OpExpr {
        negated,
        op,
        modifier,
        operand,
    })
}

/// `(a,"b,c",d)`: elements up to `,` or `)`, or double-quoted with backslash escapes.
fn list(c: &mut Cursor) -> Parsed<Vec<String>> {
    c.skip_ws();
    c.expect('(')?;
    c.skip_ws();
    let mut items = Vec::new();
    loop {
        items.push(quoted(c).unwrap_or_else(|| take_until(c, &[',', ')'])));
        if !c.eat(',') {
            break;
        }
    }
    c.skip_ws();
    if !c.eat(')') {
        return Err(ParseFailure::at(c.pos, c.peek(), &["\",\"", "\")\""]));
    }
    c.skip_ws();
    Ok(items)
}

/// A double-quoted value followed by `,`, `)` or the end; `None` (nothing consumed) otherwise.
fn quoted(c: &mut Cursor) -> Option<String> {
    if c.peek() != Some('"') {
        return None;
    }
    let mut i = c.pos + 1;
    let mut out = String::new();
    loop {
        match c.at(i)? {
            '"' => break,
            '\\' => {
                out.push(c.at(i + 1)?);
                i += 2;
            }
            ch => {
                out.push(ch);
                i += 1;
            }
        }
    }
    matches!(c.at(i + 1), None | Some(',' | ')')).then(|| {
        c.pos = i + 1;
        out
    })
}

fn take_until(c: &mut Cursor, stops: &[char]) -> String {
    let start = c.pos;
    while c.peek().is_some_and(|ch| !stops.contains(&ch)) {
        c.pos += 1;
    }
    c.chars[start..c.pos].iter().collect()
}

/// A value inside a logic tree: quoted, a `{…}` array literal, or up to `,`/`)`.
fn logic_value(c: &mut Cursor) -> String {
    if let Some(q) = quoted(c) {
        return q;
    }
    if c.peek() == Some('{') {
        if let Some(n) = c.chars[c.pos..].iter().position(|&ch| ch == '}') {
            if !c.chars[c.pos + 1..c.pos + n].contains(&'{') {
                let v: String = c.chars[c.pos..=c.pos + n].iter().collect();
                c.pos += n + 1;
                return v;
            }
        }
    }
    take_until(c, &[',', ')'])
}

/// `field.opexpr`, or `[not.]and|or(tree,…)`.
fn tree(c: &mut Cursor) -> Parsed<Tree> {
    let start = c.pos;
    let as_filter = logic_filter(c);
    let filter_failure = match as_filter {
        Ok(cond) => return Ok(Tree::Cond(cond)),
        Err(e) => e,
    };
    c.pos = start;
    let negated = c.starts_with("not.");
    if negated {
        c.pos += 4;
    }
    let and = if c.starts_with("and") {
        true
    } else if c.starts_with("or") {
        false
    } else {
        let e = ParseFailure::at(c.pos, c.mismatch("and"), &["logic operator (and, or)"]);
        return Err(filter_failure.merge(e));
    };
    c.pos += if and { 3 } else { 2 };
    c.skip_ws();
    if let Err(e) = c.expect('(') {
        return Err(filter_failure.merge(e));
    }
    c.skip_ws();
    let mut items = vec![tree(c)?];
    loop {
        c.skip_ws();
        if !c.eat(',') {
            break;
        }
        c.skip_ws();
        items.push(tree(c)?);
    }
    if !c.eat(')') {
        return Err(ParseFailure::at(c.pos, c.peek(), &["\",\"", "\")\""]));
    }
    c.skip_ws();
    Ok(Tree::Logic {
        negated,
        and,
        items,
    })
}

fn logic_filter(c: &mut Cursor) -> Parsed<Cond> {
    c.skip_ws();
    let field = field_name(c)?;
    c.skip_ws();
    if !c.eat('.') {
        return Err(ParseFailure::at(c.pos, c.peek(), &["delimiter (.)"]));
    }
    let expr = op_expr(c, true)?;
    Ok(Cond { field, expr })
}

/// A field name: `"quoted"`, or identifier characters (letters, digits, `_`, `$`, spaces) with
/// single dashes between them; trimmed.
pub(super) fn field_name_prefix(s: &str) -> Parsed<(String, usize)> {
    let mut c = Cursor::new(s);
    let name = field_name(&mut c)?;
    Ok((name, c.pos))
}

fn field_name(c: &mut Cursor) -> Parsed<String> {
    if let Some(q) = quoted_field(c) {
        return Ok(q);
    }
    let start = c.pos;
    let ident = |ch: char| ch.is_alphanumeric() || ch == '_' || ch == '$' || ch == ' ';
    loop {
        while c.peek().is_some_and(ident) {
            c.pos += 1;
        }
        let dash = c.peek() == Some('-') && c.at(c.pos + 1) != Some('>');
        if dash && c.at(c.pos + 1).is_some_and(ident) && c.pos > start {
            c.pos += 1;
        } else {
            break;
        }
    }
    let name: String = c.chars[start..c.pos].iter().collect();
    if name.is_empty() {
        return Err(ParseFailure::at(
            start,
            c.peek(),
            &["field name (* or [a..z0..9_$])"],
        ));
    }
    Ok(name.trim().to_owned())
}

fn quoted_field(c: &mut Cursor) -> Option<String> {
    if c.peek() != Some('"') {
        return None;
    }
    let close = c.chars[c.pos + 1..].iter().position(|&ch| ch == '"')?;
    let name: String = c.chars[c.pos + 1..c.pos + 1 + close].iter().collect();
    c.pos += close + 2;
    Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn details(v: &str) -> (usize, String) {
        let e = parse_filter_value(v).expect_err("a parse failure");
        (e.column, e.details())
    }

    #[test]
    fn reports_failures_where_postgrest_does() {
        assert_eq!(
            details("noop.0"),
            (
                1,
                "unexpected \"o\" expecting \"not\" or operator (eq, gt, ...)".into()
            )
        );
        assert_eq!(
            details("val"),
            (
                1,
                "unexpected \"v\" expecting \"not\" or operator (eq, gt, ...)".into()
            )
        );
        assert_eq!(
            details("in.1,2"),
            (4, "unexpected \"1\" expecting \"(\"".into())
        );
        assert_eq!(
            details("is.maybe").1,
            "unexpected \"m\" expecting isVal: (null, not_null, true, false, unknown)"
        );
    }

    #[test]
    fn parses_nested_logic_with_quotes_and_lists() {
        let t = parse_logic(
            "or",
            "(created_at.gt.2025-07-01T00:00:00+00:00,and(created_at.eq.X,id.gt.5),name.in.(\"a,b\",c))",
        )
        .expect("a tree");
        let Tree::Logic { and, items, .. } = t else {
            panic!("a logic node")
        };
        assert!(!and);
        assert_eq!(items.len(), 3);
        assert!(matches!(&items[1], Tree::Logic { and: true, items, .. } if items.len() == 2));
        assert!(
            matches!(&items[2], Tree::Cond(c) if c.expr.operand == Operand::List(vec!["a,b".into(), "c".into()]))
        );
        assert!(parse_logic("or", "(a.zz.1)").is_err());
        assert!(parse_logic("or", "(a.eq.1").is_err());
    }
}
