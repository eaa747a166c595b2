//! Live polls in the reducer: each room's polls by id, their tallies (applied
//! in version order, stale ones ignored, a gap answered with `get_poll`), the
//! user's own vote, and the new-poll form's request.

use std::rc::Rc;

use parley_common::{Channel, ClientMsg, ErrorCode, PollInfo, PollSpec, RoomName, Tally};

use super::AppState;

/// A poll as shown: the server's state of it.
pub type Poll = PollInfo;

/// The new-poll form of the shown room and its request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewPoll {
    /// The form is open.
    pub open: bool,
    /// This tab asked to create this poll (room, question): its `poll` closes
    /// the form, an error is shown in it.
    pub creating: Option<(RoomName, String)>,
    /// Why the last request failed, shown in the form.
    pub error: Option<String>,
}

/// Percent (0–100, rounded) of `count` among `total` votes.
pub fn percent(count: u64, total: u64) -> u64 {
    if total == 0 {
        0
    } else {
        (count.saturating_mul(200) + total) / (total * 2)
    }
}

/// The votes counted in `tally` (the voters; at least the sum of the counts).
pub fn votes(tally: &Tally) -> u64 {
    tally.voters.max(tally.counts.iter().sum())
}

/// The options with the most votes (none when nobody voted).
pub fn leaders(tally: &Tally) -> Vec<usize> {
    let best = tally.counts.iter().copied().max().unwrap_or(0);
    if best == 0 {
        return Vec::new();
    }
    (0..tally.counts.len())
        .filter(|&i| tally.counts[i] == best)
        .collect()
}

/// What to do with a `tally` for a poll whose tally is `have`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TallyFit {
    /// The next version: apply it.
    Next,
    /// Newer, but versions were skipped: apply it (counts are absolute) and ask
    /// for a snapshot.
    Gap,
    /// Not newer than what is shown: ignore it.
    Stale,
}

/// `since` is the version of the tally the server sent before `got`: tallies are
/// coalesced, so skipped versions are expected; only a tally that follows one
/// this tab never saw is a gap.
pub fn tally_fit(have: &Tally, since: u64, got: &Tally) -> TallyFit {
    if got.version <= have.version {
        TallyFit::Stale
    } else if since <= have.version {
        TallyFit::Next
    } else {
        TallyFit::Gap
    }
}

/// `new` (a snapshot) over what was shown (`old`): a tally shown already that is
/// newer than the snapshot's stays, and so does the user's vote (a vote cannot
/// be taken back; a poll's first broadcast carries none).
fn merged(old: Option<&Poll>, mut new: Poll) -> Poll {
    if let Some(old) = old {
        if old.tally.version > new.tally.version {
            new.tally = old.tally.clone();
        }
        if new.my_vote.is_none() {
            new.my_vote = old.my_vote;
        }
    }
    new
}

impl AppState {
    /// The poll `id`, in whichever room has it.
    pub fn poll(&self, id: u64) -> Option<&Poll> {
        self.rooms
            .iter()
            .find_map(|c| c.polls.iter().find(|p| p.id == id))
    }

    fn poll_mut(&mut self, id: u64) -> Option<&mut Poll> {
        let chat = self
            .rooms
            .iter_mut()
            .find(|c| c.polls.iter().any(|p| p.id == id))?;
        Rc::make_mut(&mut chat.polls)
            .iter_mut()
            .find(|p| p.id == id)
    }

    /// Asks for the polls of `channel` (a room) unless they are loaded or coming.
    pub(super) fn request_polls(&mut self, channel: &Channel) {
        let ready = self.ready;
        let Some(chat) = self.chat_mut(channel) else {
            return;
        };
        let Channel::Room(room) = &chat.channel else {
            return;
        };
        if ready && !chat.polls_loaded && !chat.polls_loading {
            chat.polls_loading = true;
            let room = room.clone();
            self.send(ClientMsg::ListPolls { room });
        }
    }

    /// Asks for poll `id`'s full state, unless that is on its way already.
    fn request_snapshot(&mut self, id: u64) {
        if self.ready && !self.snapshots.contains(&id) {
            self.snapshots.push(id);
            self.send(ClientMsg::GetPoll { poll: id });
        }
    }

    /// `poll` (created, or a snapshot) replaces what was shown of it.
    pub(super) fn apply_poll(&mut self, poll: Poll) {
        self.snapshots.retain(|&id| id != poll.id);
        if self.new_poll.creating.as_ref().is_some_and(|(room, q)| {
            *room == poll.room && *q == poll.question && self.is_me(&poll.creator)
        }) {
            self.new_poll = NewPoll::default();
        }
        let Some(chat) = self.chat_mut(&Channel::Room(poll.room.clone())) else {
            return;
        };
        let polls = Rc::make_mut(&mut chat.polls);
        match polls.iter().position(|p| p.id == poll.id) {
            Some(at) => polls[at] = merged(Some(&polls[at]), poll),
            None => {
                let at = polls.partition_point(|p| p.id > poll.id);
                polls.insert(at, poll);
            }
        }
    }

    /// A room's poll list replaces what was shown of them.
    pub(super) fn apply_polls(&mut self, room: &RoomName, list: Vec<Poll>) {
        let Some(chat) = self.chat_mut(&Channel::Room(room.clone())) else {
            return;
        };
        let mut list: Vec<Poll> = list
            .into_iter()
            .map(|p| {
                let old = chat.polls.iter().find(|o| o.id == p.id);
                merged(old, p)
            })
            .collect();
        super::sort_by(&mut list, |a, b| a.id > b.id);
        chat.polls = Rc::new(list);
        chat.polls_loaded = true;
        chat.polls_loading = false;
    }

    pub(super) fn apply_tally(&mut self, id: u64, since: u64, tally: Tally) {
        let Some(fit) = self.poll(id).map(|p| tally_fit(&p.tally, since, &tally)) else {
            // A poll this tab has not seen (created while its room's list was
            // on its way, or in a room not opened yet): ask for it.
            return self.request_snapshot(id);
        };
        if fit == TallyFit::Stale {
            return;
        }
        if let Some(poll) = self.poll_mut(id) {
            poll.tally = tally;
        }
        if fit == TallyFit::Gap {
            self.request_snapshot(id);
        }
    }

    pub(super) fn apply_my_vote(&mut self, id: u64, option: u32) {
        match self.poll_mut(id) {
            Some(poll) => poll.my_vote = Some(option),
            None => self.request_snapshot(id),
        }
    }

    /// The user asked to create a poll in `room`.
    pub(super) fn create_poll(&mut self, room: RoomName, spec: &PollSpec, closes_at: Option<u64>) {
        if !self.ready {
            self.new_poll.error = Some("You are offline: try again once connected.".into());
            return;
        }
        self.new_poll.error = None;
        self.new_poll.creating = Some((room.clone(), spec.question().to_owned()));
        self.send(ClientMsg::CreatePoll {
            room,
            question: spec.question().to_owned(),
            options: spec.options().to_vec(),
            closes_at,
        });
    }

    pub(super) fn vote(&mut self, poll: u64, option: u32) {
        if self.ready && self.poll(poll).is_some_and(|p| !p.tally.closed) {
            self.send(ClientMsg::Vote { poll, option });
        }
    }

    pub(super) fn close_poll(&mut self, poll: u64) {
        if self.ready && self.poll(poll).is_some_and(|p| !p.tally.closed) {
            self.send(ClientMsg::ClosePoll { poll });
        }
    }

    /// The server refused this tab's new poll (`text` says why in the form's
    /// words), or, when no request of this tab is waiting, someone else's: the
    /// server's `message` goes to the banner.
    pub(super) fn poll_form_error(&mut self, code: ErrorCode, text: &str, message: String) {
        if self.new_poll.creating.take().is_some() {
            self.new_poll.error = Some(text.to_owned());
        } else {
            self.show_error(Some(code), message);
        }
    }
}
