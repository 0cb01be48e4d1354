//! The answer cache: at most a configured number of names, each kept until its TTL ends.

use alloc::vec::Vec;
use core::net::Ipv4Addr;

use phone_sansio::Instant;

use crate::name::Name;

#[derive(Clone, Debug)]
struct Entry {
    name: Name,
    addrs: Vec<Ipv4Addr>,
    expires: Instant,
}

/// Names to addresses, bounded in entries; an entry is gone once `now` reaches its expiry.
#[derive(Clone, Debug, Default)]
pub(crate) struct Cache {
    entries: Vec<Entry>,
    capacity: usize,
}

impl Cache {
    pub(crate) fn new(capacity: usize) -> Cache {
        Cache {
            entries: Vec::new(),
            capacity,
        }
    }

    /// The addresses of `name` and their expiry, when cached and not expired at `now`.
    pub(crate) fn get(&self, name: &Name, now: Instant) -> Option<(&[Ipv4Addr], Instant)> {
        self.entries
            .iter()
            .find(|e| e.name == *name && e.expires > now)
            .map(|e| (e.addrs.as_slice(), e.expires))
    }

    /// Keeps `addrs` for `name` until `expires`; when full, drops expired entries first, then
    /// the one that expires soonest.
    pub(crate) fn insert(
        &mut self,
        name: Name,
        addrs: Vec<Ipv4Addr>,
        expires: Instant,
        now: Instant,
    ) {
        if self.capacity == 0 || expires <= now {
            return;
        }
        self.entries.retain(|e| e.name != name && e.expires > now);
        if self.entries.len() >= self.capacity
            && let Some(i) = self
                .entries
                .iter()
                .enumerate()
                .min_by_key(|(_, e)| e.expires)
                .map(|(i, _)| i)
        {
            self.entries.swap_remove(i);
        }
        self.entries.push(Entry {
            name,
            addrs,
            expires,
        });
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}
