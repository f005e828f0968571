//! The grant check for plugin SQL: parse with the backend's dialect, then refuse anything but one
//! plain `SELECT`/`INSERT`/`UPDATE`/`DELETE` on granted tables (DESIGN.md §4 "Database").

use crate::store::Backend;
use sqlparser::ast::{
    AlterTableOperation, ColumnOption, Expr, ObjectName, ObjectType, Query, RenameTableNameKind,
    Statement, TableConstraint, Visit, Visitor,
};
use sqlparser::dialect::{Dialect, PostgreSqlDialect, SQLiteDialect};
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Tokenizer};
use std::collections::BTreeSet;
use std::ops::ControlFlow;

/// How deep expressions and subqueries may nest before a statement is refused.
const MAX_NESTING: usize = 32;

/// Functions a plugin may never call: file, network, extension, session and catalogue access.
const DENIED_FUNCTION_PREFIXES: &[&str] = &[
    "load_extension",
    "readfile",
    "writefile",
    "edit",
    "fts3_tokenizer",
    "sqlite_",
    "pragma_",
    "pg_",
    "lo_",
    "dblink",
    "query_to_xml",
    "query_to_xmlschema",
    "table_to_xml",
    "cursor_to_xml",
    "schema_to_xml",
    "database_to_xml",
    "current_setting",
    "set_config",
    "txid_",
    "inet_server_",
    "inet_client_",
    "version",
];

/// Schemas a plugin may name explicitly: the default one of each backend.
const DEFAULT_SCHEMAS: &[&str] = &["main", "public"];

/// The tables one connector may touch.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    tables: BTreeSet<String>,
}

impl Grants {
    /// Grants exactly `tables` (lowercase identifiers, validated by the manifest).
    pub fn new<I: IntoIterator<Item = S>, S: AsRef<str>>(tables: I) -> Self {
        Grants {
            tables: tables
                .into_iter()
                .map(|t| t.as_ref().to_ascii_lowercase())
                .collect(),
        }
    }

    /// Whether `table` (already normalised) is granted.
    pub fn allows(&self, table: &str) -> bool {
        self.tables.contains(table)
    }
}

/// What kind of statement passed the check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementKind {
    /// `SELECT`, `WITH … SELECT`, `VALUES`.
    Query,
    /// `INSERT`, `UPDATE`, `DELETE` (with or without `RETURNING`).
    Write,
}

/// Why a statement was refused; the text is safe to return to the plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not allowed: a table not granted, a statement or function kind never allowed, or SQL
    /// that does not parse.
    Denied(String),
    /// Allowed, but wrong as written: its placeholders do not match the parameters given.
    Invalid(String),
}

/// Checks `sql` against `grants`, and its placeholders against the `params` parameters given:
/// each of `$1 … $params` must be used and nothing else (SQLite would bind NULL to `$2` with one
/// parameter; PostgreSQL refuses it; here both refuse it).
pub fn check(
    sql: &str,
    backend: Backend,
    grants: &Grants,
    params: usize,
) -> Result<StatementKind, Refusal> {
    let (kind, used) = check_statement(sql, backend, grants).map_err(Refusal::Denied)?;
    if let Some(&n) = used.iter().next_back() {
        if n > params {
            return Err(Refusal::Invalid(format!(
                "the statement uses ${n} but {params} parameter(s) were given"
            )));
        }
    }
    if let Some(unused) = (1..=params).find(|i| !used.contains(i)) {
        return Err(Refusal::Invalid(format!(
            "parameter ${unused} is not used by the statement ({params} parameter(s) were given)"
        )));
    }
    Ok(kind)
}

/// The grant check proper: one allowed statement on granted tables, placeholders numbered;
/// returns its kind and the parameter numbers it uses.
fn check_statement(
    sql: &str,
    backend: Backend,
    grants: &Grants,
) -> Result<(StatementKind, BTreeSet<usize>), String> {
    let parsed = match backend {
        Backend::Sqlite => Parser::new(&SQLiteDialect {})
            .with_recursion_limit(MAX_NESTING)
            .try_with_sql(sql)
            .and_then(|mut p| p.parse_statements()),
        Backend::Postgres => Parser::new(&PostgreSqlDialect {})
            .with_recursion_limit(MAX_NESTING)
            .try_with_sql(sql)
            .and_then(|mut p| p.parse_statements()),
    };
    let statements = parsed.map_err(|e| format!("sql does not parse: {e}"))?;
    let [statement] = statements.as_slice() else {
        return Err(format!(
            "exactly one statement is allowed, found {}",
            statements.len()
        ));
    };
    let kind = match statement {
        Statement::Query(_) => StatementKind::Query,
        Statement::Insert(_) | Statement::Update { .. } | Statement::Delete(_) => {
            StatementKind::Write
        }
        other => {
            let head: String = other.to_string().chars().take(24).collect();
            return Err(format!(
                "only SELECT, INSERT, UPDATE and DELETE are allowed, found `{head}…`"
            ));
        }
    };
    let mut checker = Checker {
        backend,
        grants,
        cte_scopes: Vec::new(),
        placeholders: BTreeSet::new(),
    };
    if let ControlFlow::Break(reason) = statement.visit(&mut checker) {
        return Err(reason);
    }
    Ok((kind, checker.placeholders))
}

/// One statement of a connector's migration, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStatement {
    /// The statement as the database runs it (re-assembled from its tokens).
    pub sql: String,
    /// The table it creates or renames to, if any.
    pub creates: Option<String>,
    /// The indexes it drops: the caller checks they belong to the connector's tables.
    pub drops_indexes: Vec<String>,
}

fn dialect(backend: Backend) -> Box<dyn Dialect> {
    match backend {
        Backend::Sqlite => Box::new(SQLiteDialect {}),
        Backend::Postgres => Box::new(PostgreSqlDialect {}),
    }
}

/// Splits a migration into its statements and checks each: `CREATE TABLE`, `CREATE INDEX`,
/// `ALTER TABLE`, `DROP TABLE`, `DROP INDEX` on the connector's tables (`grants`), and data
/// fixes (`INSERT`, `UPDATE`, `DELETE`, no parameters) on them; foreign keys may name only
/// them too. Anything else is refused with the statement and the reason.
pub fn check_migration(
    sql: &str,
    backend: Backend,
    grants: &Grants,
) -> Result<Vec<MigrationStatement>, String> {
    let dialect = dialect(backend);
    let tokens = Tokenizer::new(&*dialect, sql)
        .tokenize()
        .map_err(|e| format!("does not parse: {e}"))?;
    let mut out = Vec::new();
    for group in tokens.split(|t| *t == Token::SemiColon) {
        // Leading comments and blank lines are not part of the statement.
        let start = group
            .iter()
            .position(|t| !matches!(t, Token::Whitespace(_)))
            .unwrap_or(group.len());
        let group = &group[start..];
        if group.iter().all(|t| matches!(t, Token::Whitespace(_))) {
            continue;
        }
        let text: String = group.iter().map(ToString::to_string).collect();
        let text = text.trim().to_owned();
        let head: String = text.chars().take(40).collect();
        let refuse = |why: String| format!("statement `{head}…`: {why}");
        let statements = Parser::new(&*dialect)
            .with_recursion_limit(MAX_NESTING)
            .try_with_sql(&text)
            .and_then(|mut p| p.parse_statements())
            .map_err(|e| refuse(format!("does not parse: {e}")))?;
        let [statement] = statements.as_slice() else {
            return Err(refuse("is not one statement".into()));
        };
        let checked = check_migration_statement(statement, backend, grants).map_err(refuse)?;
        out.push(MigrationStatement {
            sql: text,
            ..checked
        });
    }
    Ok(out)
}

fn check_migration_statement(
    statement: &Statement,
    backend: Backend,
    grants: &Grants,
) -> Result<MigrationStatement, String> {
    let mut checker = Checker {
        backend,
        grants,
        cte_scopes: Vec::new(),
        placeholders: BTreeSet::new(),
    };
    let granted = |checker: &Checker, name: &ObjectName| -> Result<String, String> {
        let (schema, table) = checker.table_name(name)?;
        if schema.is_some_and(|s| !DEFAULT_SCHEMAS.contains(&s.as_str())) {
            return Err(format!("`{name}` is outside the default schema"));
        }
        if grants.allows(&table) {
            Ok(table)
        } else {
            Err(format!(
                "table `{table}` is not one of the connector's tables"
            ))
        }
    };
    let mut checked = MigrationStatement {
        sql: String::new(),
        creates: None,
        drops_indexes: Vec::new(),
    };
    match statement {
        Statement::CreateTable(create) => {
            if create.query.is_some() || create.like.is_some() || create.clone.is_some() {
                return Err("CREATE TABLE … AS, LIKE or CLONE is not allowed".into());
            }
            checked.creates = Some(granted(&checker, &create.name)?);
            for column in &create.columns {
                for option in &column.options {
                    if let ColumnOption::ForeignKey { foreign_table, .. } = &option.option {
                        granted(&checker, foreign_table)?;
                    }
                }
            }
            for constraint in &create.constraints {
                if let TableConstraint::ForeignKey { foreign_table, .. } = constraint {
                    granted(&checker, foreign_table)?;
                }
            }
        }
        Statement::CreateIndex(_) => {}
        Statement::AlterTable { operations, .. } => {
            for op in operations {
                match op {
                    AlterTableOperation::RenameTable { table_name } => {
                        let (RenameTableNameKind::As(name) | RenameTableNameKind::To(name)) =
                            table_name;
                        checked.creates = Some(granted(&checker, name)?);
                    }
                    AlterTableOperation::AddConstraint {
                        constraint: TableConstraint::ForeignKey { foreign_table, .. },
                        ..
                    } => {
                        granted(&checker, foreign_table)?;
                    }
                    AlterTableOperation::AddColumn { column_def, .. } => {
                        for option in &column_def.options {
                            if let ColumnOption::ForeignKey { foreign_table, .. } = &option.option {
                                granted(&checker, foreign_table)?;
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        Statement::Drop {
            object_type, names, ..
        } => match object_type {
            ObjectType::Table => {
                for name in names {
                    granted(&checker, name)?;
                }
            }
            ObjectType::Index => {
                for name in names {
                    let (_, index) = checker.table_name(name)?;
                    checked.drops_indexes.push(index);
                }
            }
            other => return Err(format!("DROP {other} is not allowed")),
        },
        Statement::Insert(_) | Statement::Update { .. } | Statement::Delete(_) => {}
        _ => {
            return Err(
                "only CREATE TABLE, CREATE INDEX, ALTER TABLE, DROP TABLE, DROP INDEX and \
                 INSERT, UPDATE, DELETE on the connector's own tables are allowed in a migration"
                    .into(),
            )
        }
    }
    // Every table it names (index targets, altered tables, data fixes, subqueries) and every
    // function it calls pass the same check as the plugin's own SQL.
    if let ControlFlow::Break(reason) = statement.visit(&mut checker) {
        return Err(reason);
    }
    if !checker.placeholders.is_empty() {
        return Err("a migration takes no parameters".into());
    }
    Ok(checked)
}

struct Checker<'a> {
    backend: Backend,
    grants: &'a Grants,
    /// The CTE names visible at each query nesting level.
    cte_scopes: Vec<Vec<String>>,
    /// The parameter numbers the statement uses.
    placeholders: BTreeSet<usize>,
}

impl Checker<'_> {
    fn normalise(&self, ident: &sqlparser::ast::Ident) -> String {
        match (self.backend, ident.quote_style) {
            // PostgreSQL folds unquoted names to lower case and keeps quoted ones as written.
            (Backend::Postgres, Some(_)) => ident.value.clone(),
            _ => ident.value.to_ascii_lowercase(),
        }
    }

    fn table_name(&self, name: &ObjectName) -> Result<(Option<String>, String), String> {
        let parts: Vec<String> = name
            .0
            .iter()
            .map(|p| match p.as_ident() {
                Some(ident) => Ok(self.normalise(ident)),
                None => Err(format!("table expression `{name}` is not allowed")),
            })
            .collect::<Result<_, _>>()?;
        match parts.as_slice() {
            [table] => Ok((None, table.clone())),
            [schema, table] => Ok((Some(schema.clone()), table.clone())),
            _ => Err(format!("table name `{name}` has too many parts")),
        }
    }
}

impl Visitor for Checker<'_> {
    type Break = String;

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<String> {
        let mut names = Vec::new();
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                let name = self.normalise(&cte.alias.name);
                if !with.recursive {
                    // A non-recursive CTE that names itself reads the real table of that name;
                    // refuse the ambiguity rather than resolve scopes by hand.
                    let mut self_ref = false;
                    let _ = sqlparser::ast::visit_relations(&*cte.query, |rel| {
                        if let Ok((_, t)) = self.table_name(rel) {
                            self_ref |= t == name;
                        }
                        ControlFlow::<()>::Continue(())
                    });
                    if self_ref {
                        return ControlFlow::Break(format!(
                            "common table expression `{name}` shadows a table of the same name"
                        ));
                    }
                }
                names.push(name);
            }
        }
        self.cte_scopes.push(names);
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _query: &Query) -> ControlFlow<String> {
        self.cte_scopes.pop();
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<String> {
        let (schema, table) = match self.table_name(relation) {
            Ok(parts) => parts,
            Err(e) => return ControlFlow::Break(e),
        };
        if let Some(schema) = &schema {
            if !DEFAULT_SCHEMAS.contains(&schema.as_str()) {
                return ControlFlow::Break(format!("schema `{schema}` is not granted"));
            }
        } else if self.cte_scopes.iter().any(|s| s.contains(&table)) {
            return ControlFlow::Continue(());
        }
        if self.grants.allows(&table) {
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break(format!("table `{table}` is not granted to this connector"))
        }
    }

    fn pre_visit_value(&mut self, value: &sqlparser::ast::Value) -> ControlFlow<String> {
        if let sqlparser::ast::Value::Placeholder(p) = value {
            match p.strip_prefix('$').and_then(|n| n.parse::<usize>().ok()) {
                Some(n) if n >= 1 => {
                    self.placeholders.insert(n);
                }
                _ => {
                    return ControlFlow::Break(format!(
                        "placeholder `{p}` is not allowed; number parameters $1, $2, …"
                    ))
                }
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<String> {
        if let Expr::Function(f) = expr {
            let name = f
                .name
                .0
                .last()
                .and_then(|p| p.as_ident())
                .map(|i| i.value.to_ascii_lowercase())
                .unwrap_or_default();
            if f.name.0.len() > 1 || DENIED_FUNCTION_PREFIXES.iter().any(|p| name.starts_with(p)) {
                return ControlFlow::Break(format!("function `{}` is not allowed", f.name));
            }
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants() -> Grants {
        Grants::new(["kit_items", "sample_events"])
    }

    #[test]
    fn plain_statements_on_granted_tables_pass() {
        for b in [Backend::Sqlite, Backend::Postgres] {
            for sql in [
                "SELECT * FROM kit_items WHERE id = $1 OR n = $1",
                "INSERT INTO kit_items (id, n) VALUES ($1, $1) RETURNING id",
                "UPDATE kit_items SET n = n + 1 WHERE id IN (SELECT id FROM kit_items WHERE n > $1)",
                "DELETE FROM sample_events WHERE seq < $1",
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5) SELECT count(*) FROM c",
                "WITH recent AS (SELECT * FROM kit_items) SELECT k.id FROM recent k JOIN sample_events s ON s.seq = k.n",
            ] {
                let params = usize::from(sql.contains("$1"));
                assert!(check(sql, b, &grants(), params).is_ok(), "{b:?}: {sql}");
            }
        }
    }

    #[test]
    fn anything_else_is_refused() {
        for b in [Backend::Sqlite, Backend::Postgres] {
            for sql in [
                "SELECT * FROM runs",
                "SELECT * FROM kit_items JOIN runs ON true",
                "SELECT * FROM kit_items WHERE id IN (SELECT connector FROM connector_state)",
                "INSERT INTO kit_items SELECT * FROM runs",
                "WITH runs AS (SELECT * FROM runs) SELECT * FROM runs",
                "SELECT 1; SELECT 2",
                "DROP TABLE kit_items",
                "CREATE TABLE x (a int)",
                "BEGIN",
                "COMMIT",
                "SELECT * FROM other.kit_items",
                "SELECT load_extension('x')",
                "not sql at all",
            ] {
                assert!(check(sql, b, &grants(), 0).is_err(), "{b:?}: {sql}");
            }
        }
        assert!(check("PRAGMA table_info(runs)", Backend::Sqlite, &grants(), 0).is_err());
        assert!(check(
            "SELECT * FROM pragma_table_info('runs')",
            Backend::Sqlite,
            &grants(),
            0
        )
        .is_err());
        assert!(check(
            "SELECT pg_read_file('/etc/passwd')",
            Backend::Postgres,
            &grants(),
            0
        )
        .is_err());
        assert!(check(
            "SELECT * FROM \"KIT_ITEMS\"",
            Backend::Postgres,
            &grants(),
            0
        )
        .is_err());
    }

    #[test]
    fn migrations_may_shape_only_the_connectors_own_tables() {
        let grants = Grants::new(["sales", "customer_sales"]);
        for b in [Backend::Sqlite, Backend::Postgres] {
            let ok = "CREATE TABLE IF NOT EXISTS sales (id INTEGER PRIMARY KEY, customer_id INTEGER, \
                      note TEXT DEFAULT 'a;b', CHECK (customer_id > 0)); \
                      -- a comment; with a semicolon\n\
                      CREATE INDEX IF NOT EXISTS sales_customer ON sales (customer_id);\n\
                      ALTER TABLE customer_sales ADD COLUMN won INTEGER NOT NULL DEFAULT 0;\n\
                      UPDATE customer_sales SET won = 1 WHERE customer_id IN (SELECT customer_id FROM sales);\n\
                      DROP INDEX sales_customer;";
            let checked = check_migration(ok, b, &grants).unwrap();
            assert_eq!(checked.len(), 5, "{b:?}: {checked:#?}");
            assert_eq!(checked[0].creates.as_deref(), Some("sales"));
            assert!(checked[0].sql.contains("'a;b'"), "{}", checked[0].sql);
            assert_eq!(checked[4].drops_indexes, ["sales_customer"]);
            for (bad, why) in [
                (
                    "CREATE TABLE runs (id INTEGER)",
                    "not one of the connector's tables",
                ),
                (
                    "CREATE TABLE other (id INTEGER)",
                    "not one of the connector's tables",
                ),
                ("CREATE INDEX i ON runs (id)", "not granted"),
                (
                    "ALTER TABLE sales RENAME TO runs",
                    "not one of the connector's tables",
                ),
                ("DROP TABLE queue_jobs", "not one of the connector's tables"),
                (
                    "CREATE TABLE sales (id INTEGER REFERENCES runs (id))",
                    "not one of the connector's tables",
                ),
                (
                    "CREATE TABLE sales AS SELECT * FROM runs",
                    "AS, LIKE or CLONE",
                ),
                ("CREATE VIEW v AS SELECT 1", "only CREATE TABLE"),
                (
                    "UPDATE sales SET id = (SELECT id FROM runs LIMIT 1)",
                    "not granted",
                ),
                ("DELETE FROM sales WHERE id = $1", "takes no parameters"),
            ] {
                let e = check_migration(bad, b, &grants).unwrap_err();
                assert!(e.contains(why), "{b:?}: {bad}: {e}");
            }
        }
        let e = check_migration(
            "CREATE TRIGGER t AFTER INSERT ON sales BEGIN DELETE FROM runs; END",
            Backend::Sqlite,
            &grants,
        )
        .unwrap_err();
        assert!(e.starts_with("statement `CREATE TRIGGER"), "{e}");
    }

    #[test]
    fn placeholders_must_match_the_parameters_given() {
        for b in [Backend::Sqlite, Backend::Postgres] {
            let one = "SELECT * FROM kit_items WHERE id = $1";
            assert!(check(one, b, &grants(), 1).is_ok());
            let two = "SELECT * FROM kit_items WHERE id = $1 AND n = $2";
            let e = check(two, b, &grants(), 1).unwrap_err();
            assert_eq!(
                e,
                Refusal::Invalid("the statement uses $2 but 1 parameter(s) were given".into())
            );
            let e = check(one, b, &grants(), 2).unwrap_err();
            assert!(matches!(e, Refusal::Invalid(m) if m.starts_with("parameter $2 is not used")));
            let e = check("SELECT * FROM kit_items WHERE id = $0", b, &grants(), 0).unwrap_err();
            assert!(matches!(e, Refusal::Denied(m) if m.contains("`$0` is not allowed")));
        }
        let e = check(
            "SELECT * FROM kit_items WHERE id = ?",
            Backend::Sqlite,
            &grants(),
            1,
        );
        assert!(matches!(e, Err(Refusal::Denied(m)) if m.contains("`?` is not allowed")));
    }
}
