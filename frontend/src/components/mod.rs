//! The UI pieces. Each takes plain data and callbacks as props; none of them owns
//! app state or talks to the network.

mod composer;
mod error_banner;
mod message_list;
mod name_prompt;
mod status_bar;

pub use composer::{Composer, ComposerProps};
pub use error_banner::{ErrorBanner, ErrorBannerProps};
pub use message_list::{MessageList, MessageListProps};
pub use name_prompt::{NamePrompt, NamePromptProps};
pub use status_bar::{StatusBar, StatusBarProps};
