//! Which database the store uses, as `--database` names it: a PostgreSQL URL
//! (`postgres://…` or `postgresql://…`) or else a SQLite file path.

use std::path::PathBuf;

#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    /// A SQLite file, created (with its directory) on first start.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL.
    Postgres(String),
}

impl Database {
    pub fn is_postgres(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }
}

impl From<PathBuf> for Database {
    fn from(path: PathBuf) -> Self {
        Self::Sqlite(path)
    }
}

impl std::str::FromStr for Database {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.get(..13).unwrap_or(s).to_ascii_lowercase();
        Ok(
            if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
                Self::Postgres(s.to_owned())
            } else {
                Self::Sqlite(PathBuf::from(s))
            },
        )
    }
}

/// Shown in logs and errors: a URL's password is replaced by `***`.
impl std::fmt::Display for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "{}", path.display()),
            Self::Postgres(url) => f.write_str(&redact(url)),
        }
    }
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            Self::Postgres(_) => f.debug_tuple("Postgres").field(&self.to_string()).finish(),
        }
    }
}

/// `url` without its password: the one in `user:password@` and any
/// `password=` parameter.
fn redact(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme_end) = out.find("://") {
        let rest = scheme_end + 3;
        let authority_end = out[rest..].find(['/', '?']).map_or(out.len(), |i| rest + i);
        if let Some(at) = out[rest..authority_end].rfind('@').map(|i| rest + i) {
            if let Some(colon) = out[rest..at].find(':').map(|i| rest + i) {
                out.replace_range(colon + 1..at, "***");
            }
        }
    }
    if let Some(p) = out.find("password=") {
        let start = p + "password=".len();
        let end = out[start..].find('&').map_or(out.len(), |i| start + i);
        out.replace_range(start..end, "***");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_postgres_and_anything_else_a_path() {
        let pg: Database = "postgres://u@h:5432/db".parse().unwrap();
        assert!(pg.is_postgres());
        let pg: Database = "postgresql://u@h/db".parse().unwrap();
        assert!(pg.is_postgres());
        let file: Database = "data/parley.db".parse().unwrap();
        assert_eq!(file, Database::Sqlite("data/parley.db".into()));
    }

    #[test]
    fn passwords_are_not_shown() {
        let pg: Database = "postgres://user:secret@host:5432/db?password=other&x=1"
            .parse()
            .unwrap();
        let shown = format!("{pg} {pg:?}");
        assert!(
            !shown.contains("secret") && !shown.contains("other"),
            "{shown}"
        );
        assert!(
            shown.contains("postgres://user:***@host:5432/db"),
            "{shown}"
        );
    }
}
