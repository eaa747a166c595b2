//! Writes of accounts and sessions: a new user (put in the lobby), a session
//! stored at login and deleted at logout.

use parley_common::Username;
use rusqlite::params;

use super::{Done, Reply, Tables};
use crate::clock::now_ms;
use crate::store::{StoreError, TokenHash, UserId};

impl Tables {
    pub(super) fn create_user(
        &mut self,
        name: &Username,
        hash: &str,
        reply: Reply<UserId>,
    ) -> Result<Done, StoreError> {
        let key = name.key();
        let exists = self
            .conn
            .prepare_cached("SELECT 1 FROM users WHERE name_key = ?1")?
            .exists(params![key])?;
        if exists {
            return Ok(Done::new(reply, Err(StoreError::NameTaken)));
        }
        self.conn
            .prepare_cached(
                "INSERT INTO users (name, name_key, password_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![name.as_str(), key, hash, now_ms()])?;
        let id = UserId(self.conn.last_insert_rowid());
        if let Some(lobby) = self.room(parley_common::LOBBY)? {
            self.add_member(lobby, id)?;
        }
        Ok(Done::new(reply, Ok(id)))
    }

    pub(super) fn create_session(
        &mut self,
        token: TokenHash,
        user: UserId,
        expires_at: u64,
        reply: Reply<()>,
    ) -> Result<Done, StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO sessions (token_hash, user_id, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![&token.0[..], user.0, now_ms(), expires_at])?;
        Ok(Done::new(reply, Ok(())))
    }

    pub(super) fn delete_session(
        &mut self,
        token: TokenHash,
        reply: Reply<()>,
    ) -> Result<Done, StoreError> {
        self.conn
            .prepare_cached("DELETE FROM sessions WHERE token_hash = ?1")?
            .execute(params![&token.0[..]])?;
        Ok(Done::new(reply, Ok(())))
    }
}
