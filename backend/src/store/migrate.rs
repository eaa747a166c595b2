//! Schema migrations, applied automatically at start.
//!
//! Each migration is a SQL file in `backend/migrations/`; `PRAGMA user_version`
//! records how many have been applied. A migration and its version bump commit
//! together, so a crash mid-migration leaves the previous version intact.

use rusqlite::Connection;

/// In order; never edit or reorder a released one, add a new file instead.
const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_init", include_str!("../../migrations/0001_init.sql")),
    (
        "0002_dms_and_read_markers",
        include_str!("../../migrations/0002_dms_and_read_markers.sql"),
    ),
    (
        "0003_polls",
        include_str!("../../migrations/0003_polls.sql"),
    ),
];

pub fn apply(conn: &mut Connection) -> rusqlite::Result<()> {
    let current: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    for (version, (name, sql)) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", version + 1)?;
        tx.commit()?;
        tracing::info!(migration = name, "applied database migration");
    }
    Ok(())
}
