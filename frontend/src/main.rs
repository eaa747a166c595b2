//! The binary trunk builds: renders [`app`] into the page's `<body>`.

use parley_frontend::app;
use parley_frontend::ui;

fn main() {
    ui::mount_body(|| ui::comp(app, ()));
}
