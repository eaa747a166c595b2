//! A connection's state-frame slots (poll tallies): the latest frame per key.

use std::sync::Mutex;

use tokio::sync::Notify;

use super::Frame;

/// State frames (poll tallies): one slot per key holding only the latest frame,
/// so under backpressure an old tally is replaced by the newer one instead of
/// queueing behind it (DESIGN.md rule 4: tallies are state, keep the latest).
#[derive(Debug, Default)]
pub struct States {
    /// A few slots at most (the polls on screen): a vector, emptied and released
    /// once sent, so an idle connection holds nothing here.
    latest: Mutex<Vec<(u64, Frame)>>,
    /// Signalled when a slot is filled; a permit is kept if nobody waits.
    pub ready: Notify,
}

impl States {
    /// Takes every pending state frame.
    pub fn take(&self) -> Vec<Frame> {
        let mut latest = self
            .latest
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        std::mem::take(&mut *latest)
            .into_iter()
            .map(|(_, frame)| frame)
            .collect()
    }

    /// Fills `key`'s slot; true if it replaced a frame not yet sent.
    pub(super) fn put(&self, key: u64, frame: Frame) -> bool {
        let mut latest = self
            .latest
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match latest.iter_mut().find(|(k, _)| *k == key) {
            Some((_, older)) => {
                *older = frame;
                true
            }
            None => {
                latest.push((key, frame));
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::outbox::{Frame, Outbox};

    #[test]
    fn a_newer_state_replaces_the_unsent_older_one() {
        let (outbox, rx) = Outbox::new(4);
        outbox.push_state(7, Frame::from("tally v1"));
        outbox.push_state(7, Frame::from("tally v2"));
        outbox.push_state(8, Frame::from("other poll"));
        let mut sent: Vec<String> = rx
            .states
            .take()
            .iter()
            .map(|f| f.as_str().to_owned())
            .collect();
        sent.sort();
        assert_eq!(sent, ["other poll", "tally v2"]);
        assert!(rx.states.take().is_empty());
    }
}
