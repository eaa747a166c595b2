//! A dismissable banner for the last error (from the server or the connection).

use web_sys::MouseEvent;

use super::{icon, stroke_path};
use crate::state::Notice;
use crate::ui::{Callback, Html, Node, h};

#[derive(Clone, PartialEq)]
pub struct ErrorBannerProps {
    pub notice: Option<Notice>,
    pub on_dismiss: Callback<()>,
}

pub fn error_banner(props: &ErrorBannerProps) -> Html {
    let Some(notice) = &props.notice else {
        return Node::Empty;
    };
    let on_dismiss = props.on_dismiss.reform(|_: MouseEvent| ());
    h("div")
        .id("error-banner")
        .class("banner")
        .attr("role", "alert")
        .child(h("span").class("banner-icon").attr("aria-hidden", "true"))
        .child(h("span").class("banner-text").text(notice.text.clone()))
        .child(
            h("button")
                .attr("type", "button")
                .class("banner-close")
                .attr("aria-label", "Dismiss")
                .attr("title", "Dismiss")
                .onclick(on_dismiss)
                .child(icon("0 0 16 16", "14").child(stroke_path("M3 3l10 10M13 3L3 13", "2"))),
        )
        .into()
}
