//! A key's access clock: the 24 bits Redis keeps in every object's `lru`
//! field, which `maxmemory-policy` reads one of two ways. Under an LRU
//! (or any non-LFU) policy they are the seconds clock at the last access,
//! modulo 2^24 (wrapping every 194 days); under an LFU policy the top 16
//! bits are the minutes clock at the last decrement and the low 8 bits a
//! logarithmic access counter, which halves nothing but decays by one
//! every `lfu-decay-time` minutes. Reimplemented from the description in
//! Redis's evict.c (S. Sanfilippo): the counter grows with probability
//! `1 / ((counter - 5) * lfu-log-factor + 1)`, so a factor of 10 reaches
//! 255 after about a million accesses.
//!
//! Lookups stamp the clock (reads and writes alike); lookups Redis makes
//! with `LOOKUP_NOTOUCH` (TTL, TYPE, EXISTS, OBJECT) leave it alone.

/// The largest value of the 24-bit seconds clock (Redis's `LRU_CLOCK_MAX`).
pub const LRU_CLOCK_MAX: u32 = (1 << 24) - 1;
/// The counter a new key starts with under LFU (Redis's `LFU_INIT_VAL`),
/// so that a key just written is not the first one evicted.
pub const LFU_INIT_VAL: u8 = 5;

/// How this shard stamps and reads access clocks: set by the server from
/// `maxmemory-policy`, `lfu-log-factor` and `lfu-decay-time`, and the
/// cached clock, set once per reactor iteration with the store's clock.
#[derive(Clone, Copy, Debug)]
pub struct AccessClock {
    /// The policy is an LFU one: the field holds minutes and a counter.
    lfu: bool,
    /// Lookups leave fields alone (CLIENT NO-TOUCH's commands).
    frozen: bool,
    /// A stamp takes the cold path: `lfu` or `frozen`, so the common case
    /// (LRU, touching) pays one test.
    slow: bool,
    pub lfu_log_factor: u32,
    /// Minutes per decrement of the counter; 0: the counter never decays.
    pub lfu_decay_time: u32,
    /// Seconds clock, modulo 2^24.
    secs: u32,
    /// Minutes clock, modulo 2^16.
    mins: u16,
}

impl Default for AccessClock {
    fn default() -> Self {
        AccessClock {
            lfu: false,
            frozen: false,
            slow: false,
            lfu_log_factor: 10,
            lfu_decay_time: 1,
            secs: 0,
            mins: 0,
        }
    }
}

impl AccessClock {
    /// Whether the fields hold LFU counters (an LFU `maxmemory-policy`).
    #[inline]
    pub fn lfu(&self) -> bool {
        self.lfu
    }

    /// Follows `maxmemory-policy`: LFU counters or LRU seconds.
    pub fn set_lfu(&mut self, lfu: bool) {
        self.lfu = lfu;
        self.slow = self.lfu || self.frozen;
    }

    /// Whether lookups leave fields alone now.
    pub fn frozen(&self) -> bool {
        self.frozen
    }

    /// Freezes or thaws the fields for the lookups that follow.
    pub fn freeze(&mut self, frozen: bool) {
        self.frozen = frozen;
        self.slow = self.lfu || self.frozen;
    }

    /// Follows the store's clock (unix ms).
    #[inline]
    pub fn set_now(&mut self, unix_ms: u64) {
        let secs = unix_ms / 1000;
        self.secs = (secs & u64::from(LRU_CLOCK_MAX)) as u32;
        self.mins = (secs / 60) as u16;
    }

    /// The field of a key created now.
    #[inline]
    pub fn fresh(&self) -> u32 {
        if self.lfu {
            (u32::from(self.mins) << 8) | u32::from(LFU_INIT_VAL)
        } else {
            self.secs
        }
    }

    /// Stamps an access on `field` (Redis's `lookupKey` touch).
    #[inline(always)]
    pub fn stamp(&self, field: &mut u32) {
        if self.slow {
            *field = self.stamp_slow(*field);
        } else {
            *field = self.secs;
        }
    }

    /// A stamp while frozen (the field as it is) or under LFU.
    #[cold]
    #[inline(never)]
    fn stamp_slow(&self, field: u32) -> u32 {
        match (self.frozen, self.lfu) {
            (true, _) => field,
            (false, true) => self.lfu_accessed(field),
            (false, false) => self.secs,
        }
    }

    /// `field` after one more access under LFU: decayed, then maybe
    /// incremented, with the minutes clock of now.
    fn lfu_accessed(&self, field: u32) -> u32 {
        let counter = self.lfu_log_incr(self.lfu_counter(field));
        (u32::from(self.mins) << 8) | u32::from(counter)
    }

    /// Redis's `LFULogIncr`: the counter grows with a probability that
    /// falls as it gets higher; 255 stays.
    fn lfu_log_incr(&self, counter: u8) -> u8 {
        if counter == u8::MAX {
            return counter;
        }
        let r = (crate::rng::next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let base = f64::from(counter.saturating_sub(LFU_INIT_VAL));
        let p = 1.0 / (base * f64::from(self.lfu_log_factor) + 1.0);
        if r < p {
            counter + 1
        } else {
            counter
        }
    }

    /// Redis's `LFUDecrAndReturn`: the counter less one per
    /// `lfu-decay-time` minutes since the field's minutes clock (what
    /// OBJECT FREQ reports; the field itself is not changed).
    pub fn lfu_counter(&self, field: u32) -> u8 {
        let counter = (field & 0xff) as u8;
        let then = (field >> 8) as u16;
        let elapsed = if self.mins >= then {
            u32::from(self.mins - then)
        } else {
            u32::from(u16::MAX - then) + u32::from(self.mins)
        };
        let periods = elapsed.checked_div(self.lfu_decay_time).unwrap_or(0);
        counter.saturating_sub(periods.min(255) as u8)
    }

    /// Redis's `estimateObjectIdleTime`, in milliseconds: the time since
    /// the field's seconds clock, taking one wrap of the clock into
    /// account.
    pub fn idle_ms(&self, field: u32) -> u64 {
        let field = field & LRU_CLOCK_MAX;
        let secs = if self.secs >= field {
            self.secs - field
        } else {
            self.secs + (LRU_CLOCK_MAX - field)
        };
        u64::from(secs) * 1000
    }

    /// The field that makes a key look idle for `secs` seconds (RESTORE
    /// IDLETIME), as Redis's `objectSetLRUOrLFU` sets it.
    pub fn idle_field(&self, secs: u64) -> u32 {
        let secs = (secs % u64::from(LRU_CLOCK_MAX + 1)) as u32;
        if secs <= self.secs {
            self.secs - secs
        } else {
            LRU_CLOCK_MAX - (secs - self.secs)
        }
    }

    /// The field of a key with access counter `freq` as of now (RESTORE
    /// FREQ).
    pub fn freq_field(&self, freq: u8) -> u32 {
        (u32::from(self.mins) << 8) | u32::from(freq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lru_field_is_the_seconds_clock_and_idle_time_wraps() {
        let mut c = AccessClock::default();
        c.set_now(100_000);
        let mut f = 0;
        c.stamp(&mut f);
        assert_eq!(f, 100);
        c.set_now(107_500);
        assert_eq!(c.idle_ms(f), 7_000);
        // A field from before the clock wrapped.
        c.set_now(3_000);
        assert_eq!(c.idle_ms(LRU_CLOCK_MAX - 2), 5_000);
        assert_eq!(c.idle_ms(c.idle_field(42)), 42_000);
        c.set_now(1_000_000);
        assert_eq!(c.idle_ms(c.idle_field(42)), 42_000);
    }

    #[test]
    fn a_frozen_clock_stamps_nothing_and_thaws_to_its_policy() {
        let mut c = AccessClock::default();
        for lfu in [false, true] {
            c.set_lfu(lfu);
            c.set_now(1_000_000);
            let mut f = c.fresh();
            let created = f;
            c.set_now(5_000_000);
            c.freeze(true);
            assert!(c.frozen());
            for _ in 0..10 {
                c.stamp(&mut f);
            }
            assert_eq!(f, created, "lfu {lfu}");
            // A key made while frozen still gets its creation stamp.
            assert_eq!(
                c.fresh() & 0xff,
                if lfu {
                    u32::from(LFU_INIT_VAL)
                } else {
                    5000 & 0xff
                }
            );
            c.freeze(false);
            c.stamp(&mut f);
            assert_ne!(f, created, "lfu {lfu}");
        }
    }

    #[test]
    fn lfu_counter_starts_at_five_grows_logarithmically_and_decays() {
        let mut c = AccessClock::default();
        c.set_lfu(true);
        c.set_now(60_000 * 10);
        assert_eq!(c.lfu_counter(c.fresh()), LFU_INIT_VAL);
        // With factor 10, a thousand hits give a counter around 18-20
        // (Redis's table: 100 hits -> 10, 1000 -> 18, 100K -> 142). One
        // counter is a random walk that lands anywhere from about 14 to
        // 26, so the test bounds the mean of many: its spread is a tenth
        // of a level (19.1-19.5 over twenty runs).
        let keys = 400;
        let mut fields = vec![c.fresh(); keys];
        for f in &mut fields {
            for _ in 0..1000 {
                c.stamp(f);
            }
        }
        let mean = fields
            .iter()
            .map(|&f| f64::from(c.lfu_counter(f)))
            .sum::<f64>()
            / keys as f64;
        assert!((18.0..=20.5).contains(&mean), "{mean}");
        let f = fields[0];
        let n = c.lfu_counter(f);
        // Three minutes later, three decrements.
        c.set_now(60_000 * 13);
        assert_eq!(c.lfu_counter(f), n - 3);
        c.lfu_decay_time = 0;
        assert_eq!(c.lfu_counter(f), n);
        // Long idle: down to zero.
        c.lfu_decay_time = 1;
        c.set_now(60_000 * 1000);
        assert_eq!(c.lfu_counter(f), 0);
        assert_eq!(c.lfu_counter(c.freq_field(200)), 200);
    }
}
