//! Accounts for the Parley runs, prepared once per benchmark run.
//!
//! Parley only upgrades a WebSocket that presents a valid session cookie, and
//! every account's password is hashed with argon2id (deliberately slow: tens of
//! milliseconds per hash). Registering 18,000 users over HTTP would take many
//! minutes of argon2, so accounts and sessions are written straight through the
//! store (one precomputed hash shared by all) into a template database, which
//! each Parley run copies. The sessions are real: every upgrade still looks its
//! cookie up in SQLite, as in production.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parley_backend::auth;
use parley_backend::store::{AuthUser, UserId};
use parley_backend::{Hub, Store};
use parley_common::{Password, PollSpec, RoomName, Username};
use tokio::task::JoinSet;

use crate::procs::fresh_dir;
use anyhow::{Context, Result};

const DB_FILE: &str = "parley.db";

/// One prepared account: its session token (the cookie value) and who it is.
#[derive(Debug, Clone)]
pub struct Account {
    pub token: String,
    pub user: AuthUser,
}

#[derive(Debug)]
pub struct Accounts {
    template: PathBuf,
    /// Users in the lobby only: `b0`, `b1`, …
    pub lobby: Vec<Account>,
    /// Rooms `room-0`, `room-1`, … with their members, who are not in the lobby.
    pub rooms: Vec<(String, Vec<Account>)>,
}

pub async fn new_account(store: Store, name: String, hash: String) -> Result<Account> {
    let name = Username::parse(&name).context("user name")?;
    let id: UserId = store
        .create_user(name.clone(), hash)
        .await
        .context("create user")?;
    let (token, token_hash) = auth::new_token().context("token")?;
    // Valid for a year: longer than any run.
    let expires = crate::worker::now_us() / 1000 + 365 * 86_400_000;
    let user = AuthUser { id, name };
    store
        .create_session(token_hash, &user, expires)
        .await
        .context("create session")?;
    Ok(Account { token, user })
}

/// Creates `lobby_users` accounts in the lobby, and `rooms` rooms of `per_room`
/// members each (who leave the lobby), in a template database under `dir`.
pub async fn prepare(
    dir: &Path,
    lobby_users: usize,
    rooms: usize,
    per_room: usize,
) -> Result<Accounts> {
    let dir = fresh_dir(dir)?;
    let path = dir.join(DB_FILE);
    let store = Store::open(&path, Arc::new(Hub::new())).context("open the template database")?;
    let password =
        Password::parse("benchmark password").map_err(|e| anyhow::anyhow!("password: {e}"))?;
    let hash = auth::hash_password(&password).map_err(|e| anyhow::anyhow!("argon2: {e}"))?;

    let mut set = JoinSet::new();
    for i in 0..lobby_users {
        let (store, hash) = (store.clone(), hash.clone());
        set.spawn(async move { (i, new_account(store, format!("b{i}"), hash).await) });
    }
    let mut lobby: Vec<Option<Account>> = vec![None; lobby_users];
    while let Some(joined) = set.join_next().await {
        let (i, account) = joined.context("account task")?;
        lobby[i] = Some(account?);
    }
    let lobby: Vec<Account> = lobby.into_iter().flatten().collect();

    let mut set = JoinSet::new();
    for r in 0..rooms {
        let (store, hash) = (store.clone(), hash.clone());
        set.spawn(async move {
            let result: Result<(String, Vec<Account>)> = async {
                let room_name = format!("room-{r}");
                let room = RoomName::parse(&room_name).context("room name")?;
                let mut members = Vec::with_capacity(per_room);
                for m in 0..per_room {
                    members
                        .push(new_account(store.clone(), format!("r{r}m{m}"), hash.clone()).await?);
                }
                for (m, account) in members.iter().enumerate() {
                    if m == 0 {
                        store
                            .create_room(room.clone(), account.user.id)
                            .await
                            .context("create room")?;
                    } else {
                        store
                            .join(room.clone(), account.user.id)
                            .await
                            .context("join room")?;
                    }
                    store
                        .leave(RoomName::lobby(), account.user.id)
                        .await
                        .context("leave the lobby")?;
                }
                Ok((room_name, members))
            }
            .await;
            (r, result)
        });
    }
    let mut by_room: Vec<Option<(String, Vec<Account>)>> = vec![None; rooms];
    while let Some(joined) = set.join_next().await {
        let (r, room) = joined.context("room task")?;
        by_room[r] = Some(room?);
    }
    store.close().await;
    Ok(Accounts {
        template: dir,
        lobby,
        rooms: by_room.into_iter().flatten().collect(),
    })
}

impl Accounts {
    /// A copy of the template database in `dir` (emptied first); returns the
    /// database file to give the server.
    pub fn fresh_copy(&self, dir: &Path) -> Result<PathBuf> {
        let dir = fresh_dir(dir)?;
        for entry in std::fs::read_dir(&self.template)? {
            let entry = entry?;
            let name = entry.file_name();
            if name.to_string_lossy().starts_with(DB_FILE) {
                std::fs::copy(entry.path(), dir.join(&name))
                    .with_context(|| format!("copying {}", entry.path().display()))?;
            }
        }
        Ok(dir.join(DB_FILE))
    }
}

/// Adds a poll to the lobby of the database at `db` (before its server starts),
/// created by `creator`; returns its id.
pub async fn add_poll(db: &Path, creator: AuthUser, options: &[String]) -> Result<u64> {
    let store = Store::open(db, Arc::new(Hub::new())).context("open the database")?;
    let spec =
        PollSpec::parse("Best transport?", options).map_err(|e| anyhow::anyhow!("poll: {e}"))?;
    let poll = store
        .create_poll(RoomName::lobby(), creator, spec, None)
        .await
        .context("create poll")?;
    store.close().await;
    Ok(poll.id)
}
