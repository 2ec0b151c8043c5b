//! The connection limits an operator changes at run time (`maxclients`,
//! `timeout`, `tcp-keepalive`, `client-query-buffer-limit`, `hz`), shared
//! by every reactor without a lock: the setter stores the fields, then
//! bumps a version; each reactor compares the version once per loop
//! iteration and copies the fields when it moved.

use std::sync::atomic::{AtomicU64, Ordering};

/// The values a reactor works with, copied out of [`Limits`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LimitValues {
    /// Most connections over all shards (`maxclients`).
    pub maxclients: u64,
    /// Seconds a client may stay idle before it is closed; 0: never
    /// (`timeout`).
    pub timeout_secs: u64,
    /// `SO_KEEPALIVE` idle seconds for accepted TCP connections; 0: off
    /// (`tcp-keepalive`).
    pub keepalive_secs: u32,
    /// Bytes of unparsed input after which a connection is closed
    /// (`client-query-buffer-limit`).
    pub query_buf: usize,
    /// Housekeeping ticks per second (`hz`, 1 to 500).
    pub hz: u32,
    /// Moving connections between shards (`shard-balance`; crate doc,
    /// "Moving connections to the cores that have time").
    pub balance: Balance,
    /// µs a shard serving lone requests polls for the next before it
    /// sleeps; 0: never (`idle-poll-us`; crate doc, "Sleeping and
    /// waking").
    pub idle_poll_us: u32,
}

/// `shard-balance`: whether a shard that does not get its core hands
/// connections to one that does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Balance {
    /// Never.
    No,
    /// When it is starved (the default).
    #[default]
    Yes,
    /// Every sample, whatever the load: a mode for tests.
    Churn,
}

impl Balance {
    fn code(self) -> u64 {
        match self {
            Balance::No => 0,
            Balance::Yes => 1,
            Balance::Churn => 2,
        }
    }

    fn from_code(c: u64) -> Self {
        match c {
            0 => Balance::No,
            2 => Balance::Churn,
            _ => Balance::Yes,
        }
    }
}

impl Default for LimitValues {
    /// Redis's defaults.
    fn default() -> Self {
        LimitValues {
            maxclients: 10_000,
            timeout_secs: 0,
            keepalive_secs: 300,
            query_buf: 1 << 30,
            hz: 10,
            balance: Balance::Yes,
            idle_poll_us: 50,
        }
    }
}

impl LimitValues {
    /// Milliseconds between two housekeeping ticks.
    pub fn tick_ms(&self) -> u64 {
        1000 / u64::from(self.hz.clamp(1, 500))
    }
}

/// The shared limits. Writers are rare (start-up, CONFIG SET); readers
/// look at [`Limits::version`] once per iteration.
#[derive(Debug)]
pub struct Limits {
    version: AtomicU64,
    maxclients: AtomicU64,
    timeout_secs: AtomicU64,
    keepalive_secs: AtomicU64,
    query_buf: AtomicU64,
    hz: AtomicU64,
    balance: AtomicU64,
    idle_poll_us: AtomicU64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits::new(LimitValues::default())
    }
}

impl Limits {
    pub fn new(v: LimitValues) -> Self {
        let l = Limits {
            version: AtomicU64::new(1),
            maxclients: AtomicU64::new(0),
            timeout_secs: AtomicU64::new(0),
            keepalive_secs: AtomicU64::new(0),
            query_buf: AtomicU64::new(0),
            hz: AtomicU64::new(0),
            balance: AtomicU64::new(0),
            idle_poll_us: AtomicU64::new(0),
        };
        l.set(v);
        l
    }

    /// Publishes new values. Concurrent setters may interleave field by
    /// field; each field is valid on its own, and the last version bump
    /// makes every reactor read them all again.
    pub fn set(&self, v: LimitValues) {
        // Relaxed stores: the Release bump below publishes them.
        self.maxclients.store(v.maxclients, Ordering::Relaxed);
        self.timeout_secs.store(v.timeout_secs, Ordering::Relaxed);
        self.keepalive_secs
            .store(u64::from(v.keepalive_secs), Ordering::Relaxed);
        self.query_buf.store(v.query_buf as u64, Ordering::Relaxed);
        self.hz.store(u64::from(v.hz), Ordering::Relaxed);
        self.balance.store(v.balance.code(), Ordering::Relaxed);
        self.idle_poll_us
            .store(u64::from(v.idle_poll_us), Ordering::Relaxed);
        // Release pairs with the Acquire in `version`: a reader that sees
        // the new version sees the fields stored before it.
        self.version.fetch_add(1, Ordering::Release);
    }

    /// Changes some fields, keeping the others.
    pub fn update(&self, f: impl FnOnce(&mut LimitValues)) {
        let mut v = self.get();
        f(&mut v);
        self.set(v);
    }

    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// The current values (call after [`Limits::version`]).
    pub fn get(&self) -> LimitValues {
        LimitValues {
            maxclients: self.maxclients.load(Ordering::Relaxed),
            timeout_secs: self.timeout_secs.load(Ordering::Relaxed),
            keepalive_secs: self.keepalive_secs.load(Ordering::Relaxed) as u32,
            query_buf: self.query_buf.load(Ordering::Relaxed) as usize,
            hz: self.hz.load(Ordering::Relaxed) as u32,
            balance: Balance::from_code(self.balance.load(Ordering::Relaxed)),
            idle_poll_us: self.idle_poll_us.load(Ordering::Relaxed) as u32,
        }
    }
}

/// A reactor's copy of the limits and the version it was taken at.
#[derive(Debug)]
pub(crate) struct LimitsCopy {
    pub v: LimitValues,
    seen: u64,
}

impl LimitsCopy {
    pub fn new(l: &Limits) -> Self {
        let seen = l.version();
        LimitsCopy { v: l.get(), seen }
    }

    /// Takes the shared values again if they changed; true when they did.
    #[inline]
    pub fn refresh(&mut self, l: &Limits) -> bool {
        let now = l.version();
        if now == self.seen {
            return false;
        }
        self.seen = now;
        self.v = l.get();
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_follows_updates_by_version() {
        let shared = Limits::default();
        let mut copy = LimitsCopy::new(&shared);
        assert!(!copy.refresh(&shared));
        shared.update(|v| v.timeout_secs = 5);
        assert!(copy.refresh(&shared));
        assert_eq!(copy.v.timeout_secs, 5);
        assert_eq!(copy.v.maxclients, 10_000);
        assert!(!copy.refresh(&shared));
        assert_eq!(LimitValues { hz: 100, ..copy.v }.tick_ms(), 10);
        assert_eq!(LimitValues { hz: 0, ..copy.v }.tick_ms(), 1000);
    }
}
