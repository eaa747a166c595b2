//! The UI pieces. Each takes plain data and callbacks as props; none of them owns
//! app state or talks to the network.

mod auth_page;
mod composer;
mod directory;
mod error_banner;
mod message_list;
mod polls;
mod presence;
mod sidebar;
mod status_bar;

pub use auth_page::{AuthPageProps, auth_page, splash};
pub use composer::{ComposerProps, composer};
pub use directory::{DirectoryProps, directory, room_name_error_text};
pub use error_banner::{ErrorBannerProps, error_banner};
pub use message_list::{MessageListProps, message_list};
pub use polls::{
    MAX_POLL_MINUTES, NewPollFormProps, PollCardProps, PollField, PollsPanelProps, new_poll_form,
    new_poll_from, poll_card, poll_problem_text, polls_panel,
};
pub use presence::{
    OnlineUsersProps, TypingIndicatorProps, hue, initial, online_users, typing_indicator,
    typing_text,
};
pub use sidebar::{DmEntry, RoomEntry, SidebarProps, new_dm_target, sidebar};
pub use status_bar::{StatusBarProps, status_bar};

use crate::ui::{El, h};

/// An icon: a square `<svg>` of `size` CSS pixels over `view_box`, hidden from
/// screen readers (the control it sits in carries the words).
pub(crate) fn icon(view_box: &'static str, size: &'static str) -> Box<El> {
    h("svg")
        .attr("viewBox", view_box)
        .attr("width", size)
        .attr("height", size)
        .attr("aria-hidden", "true")
}

/// An icon's line: the path `d` drawn in the text's colour, `width` thick,
/// with round ends.
pub(crate) fn stroke_path(d: &'static str, width: &'static str) -> Box<El> {
    h("path")
        .attr("d", d)
        .attr("stroke", "currentColor")
        .attr("stroke-width", width)
        .attr("stroke-linecap", "round")
}
