//! A dismissable banner for the last error (from the server or the connection).

use yew::prelude::*;

use crate::state::Notice;

#[derive(Properties, PartialEq)]
pub struct ErrorBannerProps {
    pub notice: Option<Notice>,
    pub on_dismiss: Callback<()>,
}

#[component]
pub fn ErrorBanner(props: &ErrorBannerProps) -> Html {
    let Some(notice) = &props.notice else {
        return html! {};
    };
    let on_dismiss = props.on_dismiss.reform(|_: MouseEvent| ());
    html! {
        <div id="error-banner" class="banner" role="alert">
            <span class="banner-icon" aria-hidden="true"></span>
            <span class="banner-text">{ &notice.text }</span>
            <button type="button" class="banner-close" aria-label="Dismiss" title="Dismiss" onclick={on_dismiss}>
                <svg viewBox="0 0 16 16" width="14" height="14" aria-hidden="true">
                    <path d="M3 3l10 10M13 3L3 13" stroke="currentColor" stroke-width="2" stroke-linecap="round" />
                </svg>
            </button>
        </div>
    }
}
