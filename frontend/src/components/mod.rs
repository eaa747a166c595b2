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
