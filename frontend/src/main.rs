//! The binary trunk builds: mounts [`App`] on the page's `<body>`.

use parley_frontend::App;

fn main() {
    yew::Renderer::<App>::new().render();
}
