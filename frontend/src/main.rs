//! The binary trunk builds: mounts [`App`] in `#parley`, the element holding
//! index.html's static shell (the log-in card's frame, "Loading Parley…").
//! yew empties its root as it mounts and renders the app in a microtask, so the
//! app replaces the shell before the browser paints again: no blank frame.

use parley_frontend::App;

fn main() {
    let root = web_sys::window()
        .and_then(|window| window.document())
        .and_then(|document| document.get_element_by_id("parley"));
    match root {
        Some(root) => yew::Renderer::<App>::with_root(root).render(),
        // A page without the shell (an older index.html): the whole body.
        None => yew::Renderer::<App>::new().render(),
    };
}
