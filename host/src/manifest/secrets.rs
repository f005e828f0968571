//! Where secret values come from (the process environment and an optional `.env`), the resolved
//! [`Secrets`], and near-miss suggestions for misspelt names.
//!
//! Secret values live only in [`Secrets`]; nothing here formats a value into text.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::Path;

use super::SecretRef;

/// A source of environment variables, so tests can supply a fixed set.
pub trait Env {
    /// The value of variable `name`, if it is set (an empty value is returned as is).
    fn var(&self, name: &str) -> Option<String>;
    /// The names of all variables that are set, for near-miss suggestions.
    fn names(&self) -> Vec<String>;
    /// Problems with the sources themselves (such as a `.env` line that cannot be parsed),
    /// reported by [`super::Manifest::load`] along with the manifest's own. None by default.
    fn problems(&self) -> Vec<String> {
        Vec::new()
    }
}

/// A fixed set of variables: handy in tests and for embedding.
impl Env for BTreeMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }

    fn names(&self) -> Vec<String> {
        self.keys().cloned().collect()
    }
}

/// The real environment of the process, plus the variables of an optional `.env` file.
///
/// [`ProcessEnv::new`] reads `.env` once, from the directory it is given (the manifest's
/// directory), and never copies it into the process environment. A variable set in the
/// process wins over the same name in `.env`; within `.env`, the first definition wins.
/// A `.env` that cannot be read or parsed does not fail construction: its problems are
/// reported with the manifest's by [`Manifest::load`](super::Manifest::load), naming the
/// line but never its text (it may hold a secret). `Default` is the process alone, without
/// any `.env`. `Debug` shows the names read from `.env`, not their values.
#[derive(Default)]
pub struct ProcessEnv {
    dotenv: BTreeMap<String, String>,
    problems: Vec<String>,
}

impl ProcessEnv {
    /// The process environment plus `base_dir/.env`, if that file exists (an empty
    /// `base_dir` means the current directory).
    pub fn new(base_dir: &Path) -> Self {
        let path = base_dir.join(".env");
        let mut env = ProcessEnv::default();
        match std::fs::read_to_string(&path) {
            Ok(text) => env.read_dotenv(&path, &text),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => env
                .problems
                .push(format!("cannot read {}: {e}", path.display())),
        }
        env
    }

    fn read_dotenv(&mut self, path: &Path, text: &str) {
        const MAX_REPORTED: usize = 10;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        for item in dotenvy::from_read_iter(text.as_bytes()) {
            match item {
                Ok((name, value)) => {
                    self.dotenv.entry(name).or_insert(value);
                }
                Err(error) if self.problems.len() < MAX_REPORTED => {
                    self.problems.push(dotenv_problem(path, text, error));
                }
                Err(_) => break,
            }
        }
    }
}

/// Describes a `.env` parse error by its line number, never its contents.
fn dotenv_problem(path: &Path, text: &str, error: dotenvy::Error) -> String {
    let path = path.display();
    match error {
        dotenvy::Error::LineParse(bad, _) => {
            let first = bad.lines().next().unwrap_or("").trim();
            let line = text
                .lines()
                .position(|l| !first.is_empty() && l.trim() == first)
                .map_or(String::new(), |i| format!(" line {}", i + 1));
            format!("{path}{line}: cannot be parsed (the text is not shown, it may hold a secret)")
        }
        other => format!("{path}: {other}"),
    }
}

impl fmt::Debug for ProcessEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessEnv")
            .field("dotenv_names", &self.dotenv.keys().collect::<Vec<_>>())
            .field("problems", &self.problems)
            .finish()
    }
}

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name)
            .ok()
            .or_else(|| self.dotenv.get(name).cloned())
    }

    fn names(&self) -> Vec<String> {
        let process = std::env::vars_os().filter_map(|(name, _)| name.into_string().ok());
        let mut names: Vec<String> = process.chain(self.dotenv.keys().cloned()).collect();
        names.sort();
        names.dedup();
        names
    }

    fn problems(&self) -> Vec<String> {
        self.problems.clone()
    }
}

/// The secret values the manifest refers to, resolved at load time.
///
/// `Debug` shows the variable names only.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secrets {
    by_env: BTreeMap<String, String>,
}

impl Secrets {
    /// The value of the variable `secret` names, if the manifest referred to it.
    pub fn get(&self, secret: &SecretRef) -> Option<&str> {
        self.by_env.get(&secret.env).map(String::as_str)
    }

    /// Every secret value, so that outputs (responses, logs) can be redacted.
    pub fn values(&self) -> impl Iterator<Item = &str> {
        self.by_env.values().map(String::as_str)
    }

    pub(crate) fn insert(&mut self, env: &str, value: String) {
        self.by_env.insert(env.to_string(), value);
    }
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets")
            .field("names", &self.by_env.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_debug_shows_names_not_values() {
        let mut secrets = Secrets::default();
        secrets.insert("PLOOMES_API_KEY", "s3cr3t-value".into());
        let shown = format!("{secrets:?}");
        assert!(shown.contains("PLOOMES_API_KEY"), "{shown}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        let key = SecretRef {
            env: "PLOOMES_API_KEY".into(),
        };
        assert_eq!(secrets.get(&key), Some("s3cr3t-value"));
        assert_eq!(secrets.values().collect::<Vec<_>>(), ["s3cr3t-value"]);
    }

    fn scratch_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("manifest-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn dotenv_fills_in_but_the_process_wins() {
        let dir = scratch_dir("dotenv");
        let only_here = "CONNECTOR_HOST_TEST_ONLY_IN_DOTENV";
        let (real, value) = std::env::vars()
            .find(|(name, _)| name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
            .expect("the test process has some environment variable");
        let text = format!("\u{feff}{only_here}=from-file\n{only_here}=later\n{real}=not-real\n");
        std::fs::write(dir.join(".env"), text).unwrap();
        let env = ProcessEnv::new(&dir);
        assert_eq!(env.var(only_here).as_deref(), Some("from-file"));
        assert_eq!(env.var(&real), Some(value));
        assert!(env.names().iter().any(|n| n == only_here));
        assert!(env.problems().is_empty());
        let shown = format!("{env:?}");
        assert!(
            shown.contains(only_here) && !shown.contains("from-file"),
            "{shown}"
        );
        assert_eq!(
            std::env::var(only_here).ok(),
            None,
            "the process environment changed"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn dotenv_errors_name_the_line_but_not_its_text() {
        let dir = scratch_dir("dotenv-bad");
        let text = "# comment\nGOOD=1\nBAD KEY=hunter2\nLATER=2\n";
        std::fs::write(dir.join(".env"), text).unwrap();
        let env = ProcessEnv::new(&dir);
        let problems = env.problems();
        let expected = format!("{}/.env line 3: cannot be parsed", dir.display());
        assert!(
            problems.len() == 1 && problems[0].starts_with(&expected),
            "{problems:?}"
        );
        assert!(!format!("{problems:?} {env:?}").contains("hunter2"));
        assert_eq!(env.var("GOOD").as_deref(), Some("1"));
        assert_eq!(env.var("LATER").as_deref(), Some("2"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn dotenv_problems_fail_the_load() {
        let dir = scratch_dir("dotenv-load");
        std::fs::write(dir.join(".env"), "NOT VALID\n").unwrap();
        let env = ProcessEnv::new(&dir);
        let error = super::super::Manifest::parse("", &dir.join("connectors.toml"), &env);
        let shown = error.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(shown.contains(".env line 1: cannot be parsed"), "{shown}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_missing_dotenv_is_fine() {
        let dir = scratch_dir("dotenv-none");
        let env = ProcessEnv::new(&dir);
        assert_eq!(env.var("CONNECTOR_HOST_TEST_ONLY_IN_DOTENV"), None);
        assert!(env.problems().is_empty());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
