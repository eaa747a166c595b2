//! One handler per client message (or per family of alike ones): each checks
//! its input and sends its own reply; [`Session`](super::Session) only dispatches.
//!
//! Async handlers take `&mut Session` even when they only read it: a `&Session`
//! held across an `.await` would need `Session: Sync`, which its in-flight
//! acks are not, and the transports spawn the session's future on other threads.

pub(crate) mod hello;
pub(crate) mod history;
pub(crate) mod mark_read;
pub(crate) mod ping;
pub(crate) mod polls;
pub(crate) mod rooms;
pub(crate) mod send;
pub(crate) mod typing;
