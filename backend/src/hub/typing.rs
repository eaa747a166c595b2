//! Typing signals: "`user` is typing" to a channel's other online members,
//! ephemeral (dropped first for a lagging connection, never a kick).

use parley_common::{Channel, ServerMsg};

use super::fanout::Class;
use super::{Hub, encode};
use crate::store::{AuthUser, ChannelKey};

/// A typing signal for a room the user is not in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotInRoom;

impl Hub {
    /// Forwards "`user` is typing" to the channel's other online members, as an
    /// ephemeral frame. Typing to an offline (or unknown) user goes nowhere.
    pub fn typing(&self, user: &AuthUser, channel: &Channel) -> Result<(), NotInRoom> {
        self.forward_typing(user, channel, true)
    }

    /// A typing signal another node accepted (it checked the membership).
    pub fn typing_from_node(&self, user: &AuthUser, channel: &Channel) {
        let _ = self.forward_typing(user, channel, false);
    }

    fn forward_typing(
        &self,
        user: &AuthUser,
        channel: &Channel,
        check: bool,
    ) -> Result<(), NotInRoom> {
        let mut state = self.state();
        let key = match channel {
            Channel::Room(room) => ChannelKey::Room(room.clone()),
            Channel::Dm(peer) => match state.by_name.get(&peer.key()) {
                Some(peer) if *peer != user.id => ChannelKey::dm(user.id, *peer),
                _ => return Ok(()),
            },
        };
        let members = state.members(&key);
        if check && matches!(key, ChannelKey::Room(_)) && !members.contains(&user.id) {
            return Err(NotInRoom);
        }
        let shown_as = match &key {
            ChannelKey::Room(room) => Channel::Room(room.clone()),
            ChannelKey::Dm(..) => Channel::Dm(user.name.clone()),
        };
        let Some(frame) = encode(&ServerMsg::Typing {
            channel: shown_as,
            user: user.name.clone(),
        }) else {
            return Ok(());
        };
        for other in members.into_iter().filter(|u| *u != user.id) {
            state.queue_for(other, &frame, Class::Ephemeral);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use parley_common::RoomName;

    use super::*;
    use crate::hub::testing::{frames, of_type, online, room, user};
    use crate::outbox::Frame;

    #[test]
    fn typing_reaches_the_others_and_is_refused_outside_the_room() {
        let hub = Hub::new();
        let (_, mut a) = online(&hub, 1, &["lobby"], 16);
        let (_, mut b) = online(&hub, 2, &["lobby"], 16);
        frames(&mut a);
        let lobby = Channel::Room(RoomName::parse("lobby").unwrap());
        hub.typing(&user(1), &lobby).unwrap();
        assert_eq!(of_type(&mut b, "typing").len(), 1);
        assert!(frames(&mut a).is_empty(), "not echoed to the typist");
        let rust = Channel::Room(RoomName::parse("rust").unwrap());
        assert_eq!(hub.typing(&user(1), &rust), Err(NotInRoom));
    }

    #[test]
    fn typing_is_dropped_for_a_lagging_connection_without_kicking_it() {
        let hub = Hub::new();
        let (_, _a) = online(&hub, 1, &["lobby"], 16);
        let (_, mut b) = online(&hub, 2, &["lobby"], 4);
        frames(&mut b);
        hub.broadcast(&room("lobby"), &Frame::from("m1"));
        hub.broadcast(&room("lobby"), &Frame::from("m2"));
        let lobby = Channel::Room(RoomName::parse("lobby").unwrap());
        hub.typing(&user(1), &lobby).unwrap();
        assert!(!b.kick.is_kicked());
        assert_eq!(frames(&mut b), ["m1", "m2"]);
    }
}
