//! SQLite through sqlx, with the migrations in `migrations/` applied at start.

use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use crate::error::ServerError;

/// Opens (creating when missing) the SQLite database at `url` and applies the migrations.
pub async fn open(url: &str) -> Result<SqlitePool, ServerError> {
    let shown = without_password(url);
    let opts = SqliteConnectOptions::from_str(url)
        .map_err(|source| ServerError::DatabaseUrl { url: shown.clone(), source })?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(std::time::Duration::from_secs(5));
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(opts)
        .await
        .map_err(|source| ServerError::Database { url: shown.clone(), source })?;
    sqlx::migrate!("./migrations")
        .run(&pool)
        .await
        .map_err(|source| ServerError::Migrate { url: shown.clone(), source })?;
    Ok(pool)
}

/// `url` as errors may show it: a password in it (`scheme://user:password@host`) replaced by `***`.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@').and_then(|at| rest[..at].find(':').map(|colon| (colon, at))) {
        Some((colon, at)) => format!("{scheme}://{}:***{}", &rest[..colon], &rest[at..]),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(without_password("sqlite:///var/lib/db.sqlite"), "sqlite:///var/lib/db.sqlite");
        assert_eq!(without_password("sqlite://db.sqlite?mode=rwc"), "sqlite://db.sqlite?mode=rwc");
        assert_eq!(without_password("postgres://u:s3cret@h/db"), "postgres://u:***@h/db");
        assert_eq!(without_password("postgres://u@h/db"), "postgres://u@h/db");
    }
}
