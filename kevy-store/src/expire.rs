//! Expiry: the arithmetic that turns EXPIRE-style arguments into absolute
//! times, and the active cycle that reclaims keys nobody reads any more.
//!
//! Lazy expiry (every lookup deletes a key whose time has passed) lives in
//! `db.rs`; it alone keeps expired keys invisible. The active cycle only
//! bounds the memory they hold: like Redis's `activeExpireCycle`, it walks
//! each database's TTL index 20 keys at a time, deletes the expired ones,
//! and keeps going on a database while more than 10% of a sample had
//! expired, until a time budget runs out.

use crate::error::{OpError, OpResult};
use crate::Store;
use std::time::Instant;

/// Keys looked at per sampling round (Redis's
/// `ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP`).
const KEYS_PER_LOOP: usize = 20;
/// A database gets another round while more than this percentage of the
/// last sample had expired (Redis's `ACTIVE_EXPIRE_CYCLE_ACCEPTABLE_STALE`).
const ACCEPTABLE_STALE_PERCENT: usize = 10;
/// Hash fields one sampling round deletes at most, so that one hash with
/// many fields expiring together cannot hold the cycle past its budget
/// check for long.
const FIELDS_PER_LOOP: usize = 1000;
/// Buckets an incremental-rehash step moves between clock checks.
const REHASH_BATCH: usize = 100;

/// The unit of an expire argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Seconds,
    Millis,
}

/// SET/GETEX/SETEX expire arguments (Redis's
/// `getExpireMillisecondsOrReply`): `n` must be positive; relative times
/// are added to `now`. Returns the absolute unix time in ms.
pub fn set_expire_at(
    n: i64,
    unit: Unit,
    relative: bool,
    now: u64,
    cmd: &'static str,
) -> OpResult<u64> {
    let bad = OpError::InvalidExpireTime(cmd);
    if n <= 0 {
        return Err(bad);
    }
    let ms = match unit {
        Unit::Seconds => n.checked_mul(1000).ok_or(bad)?,
        Unit::Millis => n,
    };
    let at = if relative {
        ms.checked_add(now as i64).ok_or(bad)?
    } else {
        ms
    };
    Ok(at as u64)
}

/// EXPIRE-family arguments (Redis's `expireGenericCommand`): any `i64`,
/// relative to `base` (now, or 0 for the -AT forms); overflow is an
/// error. Returns the absolute time in ms, possibly in the past or
/// negative.
pub fn expire_command_at(n: i64, unit: Unit, base: u64, cmd: &'static str) -> OpResult<i64> {
    let bad = OpError::InvalidExpireTime(cmd);
    let ms = match unit {
        Unit::Seconds => n.checked_mul(1000).ok_or(bad)?,
        Unit::Millis => n,
    };
    ms.checked_add(base as i64).ok_or(bad)
}

/// TTL's answer from an absolute time: remaining ms, never negative.
pub fn remaining_ms(at: u64, now: u64) -> i64 {
    at.saturating_sub(now) as i64
}

/// Milliseconds (never negative) to seconds as TTL and EXPIRETIME round
/// them. Redis's `(ms + 500) / 1000` overflows near `i64::MAX` and its
/// build then divides the wrapped sum as unsigned; so does this.
pub fn ms_to_s_rounded(ms: i64) -> i64 {
    ((ms as u64).wrapping_add(500) / 1000) as i64
}

impl Store {
    /// One active expiry cycle: samples keys with a TTL in each database
    /// (starting where the previous cycle stopped) and deletes expired ones,
    /// until every database's last sample had at most 10% expired keys or
    /// `deadline` passes. Then uses what time is left to advance any
    /// incremental rehash (as Redis's `databasesCron`). Returns the number
    /// of keys deleted.
    pub fn active_expire_cycle(&mut self, deadline: Instant) -> usize {
        let n = self.dbs.len();
        let mut total = 0;
        for _ in 0..n {
            let i = self.expire_db % n;
            self.expire_db = (i + 1) % n;
            loop {
                let mut db = self.db(i);
                if db.expires_len() == 0 {
                    break;
                }
                let (sampled, expired) = db.expire_sample(KEYS_PER_LOOP);
                total += expired;
                if Instant::now() >= deadline {
                    return total;
                }
                if sampled == 0 || expired * 100 <= sampled * ACCEPTABLE_STALE_PERCENT {
                    break;
                }
            }
            // Hash fields: hashes with field TTLs, a sample at a time, while
            // the last sample expired something and the scan has not come
            // round (Redis's `hashTypeDbActiveExpire` within the cycle).
            loop {
                let mut db = self.db(i);
                if db.field_expires_len() == 0 {
                    break;
                }
                let (sampled, expired, wrapped) =
                    db.field_expire_sample(KEYS_PER_LOOP, FIELDS_PER_LOOP);
                if Instant::now() >= deadline {
                    return total;
                }
                if sampled == 0 || expired == 0 || wrapped {
                    break;
                }
            }
        }
        for ks in &mut self.dbs {
            while ks.rehash(REHASH_BATCH) {
                if Instant::now() >= deadline {
                    return total;
                }
            }
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::SetTtl;
    use crate::value::Value;
    use std::time::Duration;

    #[test]
    fn set_expire_arguments() {
        assert_eq!(
            set_expire_at(10, Unit::Seconds, true, 1000, "set"),
            Ok(11_000)
        );
        assert_eq!(set_expire_at(10, Unit::Millis, false, 1000, "set"), Ok(10));
        for bad in [0, -1] {
            assert_eq!(
                set_expire_at(bad, Unit::Millis, true, 0, "set"),
                Err(OpError::InvalidExpireTime("set"))
            );
        }
        assert!(set_expire_at(i64::MAX, Unit::Seconds, true, 0, "x").is_err());
        assert!(set_expire_at(i64::MAX, Unit::Millis, true, 1, "x").is_err());
        assert_eq!(
            set_expire_at(i64::MAX, Unit::Millis, false, 1, "x"),
            Ok(i64::MAX as u64)
        );
    }

    #[test]
    fn expire_command_arguments() {
        assert_eq!(
            expire_command_at(-5, Unit::Seconds, 10_000, "expire"),
            Ok(5_000)
        );
        assert!(expire_command_at(i64::MAX / 1000 + 1, Unit::Seconds, 0, "expire").is_err());
        assert!(expire_command_at(i64::MAX, Unit::Millis, 1, "pexpire").is_err());
        assert_eq!(ms_to_s_rounded(1499), 1);
        assert_eq!(ms_to_s_rounded(1500), 2);
        assert_eq!(ms_to_s_rounded(i64::MAX), 9_223_372_036_854_776);
        assert_eq!(remaining_ms(5, 10), 0);
    }

    #[test]
    fn active_cycle_reclaims_expired_keys() {
        let mut st = Store::new(2);
        st.set_now(1_000);
        for db in 0..2 {
            let mut d = st.db(db);
            for i in 0..1000u32 {
                let k = format!("k{i}");
                let ttl = if i % 4 == 0 {
                    SetTtl::Clear
                } else {
                    SetTtl::At(2_000 + i as u64 % 3)
                };
                d.set(k.as_bytes(), Value::string(b"v"), ttl);
            }
        }
        assert_eq!(st.db_counts(0), (1000, 750));
        st.set_now(10_000);
        let far = Instant::now() + Duration::from_secs(60);
        let mut removed = 0;
        for _ in 0..100 {
            removed += st.active_expire_cycle(far);
        }
        assert_eq!(removed, 1500);
        assert_eq!(st.stats.expired_keys, 1500);
        assert_eq!(st.db_counts(0), (250, 0));
        assert_eq!(st.db_counts(1), (250, 0));
    }

    #[test]
    fn active_cycle_respects_the_deadline() {
        let mut st = Store::new(1);
        st.set_now(1);
        let mut d = st.db(0);
        for i in 0..10_000u32 {
            d.set(
                format!("k{i}").as_bytes(),
                Value::string(b"v"),
                SetTtl::At(2),
            );
        }
        st.set_now(100);
        // An already-passed deadline still allows one sampling round.
        let n = st.active_expire_cycle(Instant::now());
        assert!(n <= KEYS_PER_LOOP * 2, "{n}");
    }
}
