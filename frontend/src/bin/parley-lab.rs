//! The transport lab's binary (`lab.html`, served at `/lab/`): mounts
//! [`lab_app`] on the page's `<body>`. A separate wasm file, so that the chat's
//! first download does not carry the lab.

use parley_frontend::lab::app::lab_app;

fn main() {
    parley_frontend::ui::mount_body(|| parley_frontend::ui::comp(lab_app, ()));
}
