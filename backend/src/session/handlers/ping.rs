//! `ping`: answered with `pong`, before `hello` too.

use parley_common::ServerMsg;

use crate::session::Session;

pub(crate) fn ping(session: &Session) {
    session.reply(&ServerMsg::Pong);
}
