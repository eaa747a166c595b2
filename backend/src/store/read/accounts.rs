//! Reads of accounts: a user's stored credentials, for a login.

use parley_common::Username;
use rusqlite::{Connection, OptionalExtension, params};

use super::text;
use crate::store::{StoreError, StoredUser, UserId};

pub fn user_by_name(c: &Connection, key: &str) -> Result<Option<StoredUser>, StoreError> {
    Ok(
        c.prepare_cached("SELECT id, name, password_hash FROM users WHERE name_key = ?1")?
            .query_row(params![key], |r| {
                Ok(StoredUser {
                    id: UserId(r.get(0)?),
                    name: text(r, 1, Username::parse)?,
                    password_hash: r.get(2)?,
                })
            })
            .optional()?,
    )
}
