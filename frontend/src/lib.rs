//! Parley's browser app: a yew single-page app that talks to the server over HTTP
//! (accounts) and one connection for everything else: a WebSocket, or HTTP
//! long-polling where WebSockets do not get through.
//!
//! - [`state`]: the app state as a pure reducer (tested natively),
//! - [`auth`]: the log-in form's rules and error mapping (tested natively),
//! - [`api`]: the account API over `fetch`,
//! - [`connection`]: the task that owns the connection (WebSocket or polling),
//! - [`transport`]: which transport, and the connection's timing rules (tested
//!   natively),
//! - [`context`]: what the signed-in app shares (who is logged in, and the
//!   way to ask the app for anything), through one yew `ContextProvider`,
//! - [`components`]: the UI pieces: data in as props, HTML out,
//! - [`lab`]: the transport lab page (`/lab`), its arithmetic tested natively,
//! - [`App`]: the root that wires them together.

pub mod api;
mod app;
pub mod auth;
pub mod components;
pub mod connection;
pub mod context;
pub mod ids;
pub mod lab;
pub mod lower;
pub mod state;
pub mod time;
pub mod transport;

pub use app::App;
