//! Parley's browser app: a yew single-page app that chats over one WebSocket.
//!
//! - [`state`]: the app state as a pure reducer (tested natively),
//! - [`connection`]: the task that owns the WebSocket,
//! - [`components`]: the UI pieces, data and callbacks in, HTML out,
//! - [`App`]: the root that wires them together.

mod app;
pub mod components;
pub mod connection;
pub mod ids;
pub mod state;
mod time;

pub use app::App;
