//! The banner over the chat while the browser has no network: the footer
//! alone is easy to miss, and the bubbles' "Sending…" would otherwise look
//! like a slow server.

use yew::prelude::*;

/// What the banner says.
pub const OFFLINE_TEXT: &str = "Offline — messages will be sent when you're back";

/// The banner, shown by the root while the browser is offline. A plain view
/// function rather than a `#[component]`: it has no state or hooks, and each
/// component type costs the first download ~1 KB of yew machinery.
pub fn offline_banner() -> Html {
    // `status`, not `alert`: it is news, not an error, and a screen reader
    // should not cut off what it is reading for it.
    html! {
        <div id="offline-banner" class="banner offline-banner" role="status">
            <span class="banner-icon" aria-hidden="true"></span>
            <span class="banner-text">{ OFFLINE_TEXT }</span>
        </div>
    }
}
