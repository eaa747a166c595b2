//! The UI pieces. Each takes plain data and callbacks as props; none of them owns
//! app state or talks to the network.

mod auth_page;
mod composer;
mod directory;
mod error_banner;
mod message_list;
mod offline_banner;
mod polls;
mod presence;
mod sidebar;
mod status_bar;

pub use auth_page::{AuthPage, AuthPageProps, loading_card, splash};
pub use composer::{Composer, ComposerProps};
pub use directory::{Directory, DirectoryProps, room_name_error_text};
pub use error_banner::{ErrorBanner, ErrorBannerProps};
pub use message_list::{MessageList, MessageListProps};
pub use offline_banner::{OFFLINE_TEXT, offline_banner};
pub use polls::{
    MAX_POLL_MINUTES, NewPollForm, NewPollFormProps, PollCard, PollCardProps, PollField,
    PollsPanel, PollsPanelProps, new_poll_from, poll_problem_text,
};
pub use presence::{
    OnlineUsers, OnlineUsersProps, TypingIndicator, TypingIndicatorProps, hue, initial, typing_text,
};
pub use sidebar::{DmEntry, RoomEntry, Sidebar, SidebarProps, new_dm_target};
pub use status_bar::{StatusBar, StatusBarProps};
