//! Test helpers shared by the crate's transcript tests.

use alloc::collections::VecDeque;

use phone_sansio::harness::{self, Logged, Reply};
use phone_sansio::{Input, Machine};

/// `Transcript::new` drains before a peer is attached, and `Transcript::run` does not answer
/// the transmits logged then: answer them here (replies in order, each input's own
/// transmits answered in turn), until none is left unanswered.
pub(crate) fn answer_early<M, P>(t: &mut harness::Transcript<M>, peer: &mut P)
where
    M: Machine,
    M::Transmit: Clone + core::fmt::Debug,
    M::Event: core::fmt::Debug,
    P: harness::Peer<M>,
{
    let mut answered = 0;
    let mut replies = VecDeque::new();
    loop {
        while answered < t.log.len() {
            if let Logged::Transmit(at, x) = &t.log[answered] {
                let (at, x) = (*at, x.clone());
                replies.extend(peer.on_transmit(at, &x));
            }
            answered += 1;
        }
        let Some(r) = replies.pop_front() else {
            return;
        };
        let now = t.now;
        match r {
            Reply::Receive { peer, bytes, .. } => t.input(Input::Receive(now, peer, &bytes)),
            Reply::Completed { peer, .. } => t.input(Input::Completed(now, peer)),
            Reply::Closed { peer, .. } => t.input(Input::Closed(now, peer)),
            Reply::Failed { peer, .. } => t.input(Input::TransportFailed(now, peer)),
        };
    }
}
