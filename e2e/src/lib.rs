//! Browser end-to-end tests live in `tests/`; see `tests/chat.rs`.
