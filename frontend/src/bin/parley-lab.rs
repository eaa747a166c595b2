//! The transport lab's binary (`lab.html`, served at `/lab/`): mounts
//! [`LabApp`] on the page's `<body>`. A separate wasm file, so that the chat's
//! first download does not carry the lab.

use parley_frontend::lab::app::LabApp;

fn main() {
    yew::Renderer::<LabApp>::new().render();
}
