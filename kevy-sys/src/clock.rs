//! Clocks: monotonic time for timeouts and intervals, wall-clock time for Redis TTLs.
//!
//! Both read `clock_gettime`, which the vDSO serves without entering the kernel, so calling it
//! per command is cheap.

/// Microseconds on `CLOCK_MONOTONIC`: never jumps backwards, meaningless across boots.
pub fn monotonic_us() -> u64 {
    to_us(now(libc::CLOCK_MONOTONIC))
}

/// Milliseconds on `CLOCK_MONOTONIC`.
pub fn monotonic_ms() -> u64 {
    monotonic_us() / 1_000
}

/// Milliseconds since the Unix epoch on `CLOCK_REALTIME`: what Redis stores TTLs against.
pub fn unix_ms() -> u64 {
    unix_us() / 1_000
}

/// Microseconds since the Unix epoch on `CLOCK_REALTIME`.
pub fn unix_us() -> u64 {
    to_us(now(libc::CLOCK_REALTIME))
}

/// Clock ticks per second (`_SC_CLK_TCK`): the unit of the CPU times in
/// `/proc/stat` and `/proc/PID/stat`; 100 where the system does not say.
pub fn ticks_per_sec() -> u64 {
    // SAFETY: sysconf reads a constant of the system; no memory is passed.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

/// A cycle counter for timing one command: the CPU's time-stamp counter,
/// which costs one instruction (no vDSO call), so every command can be
/// timed for INFO commandstats and latencystats. Convert differences with
/// [`cycles_to_ns`]. Elsewhere than x86_64 it is nanoseconds of
/// `CLOCK_MONOTONIC`.
#[inline(always)]
pub fn cycles() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: RDTSC reads a counter; it has no memory operands and every
        // x86_64 CPU has it (it is part of the base instruction set).
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let ts = now(libc::CLOCK_MONOTONIC);
        u64::try_from(ts.tv_sec).unwrap_or(0) * 1_000_000_000 + ts.tv_nsec as u64
    }
}

/// Nanoseconds in `c` cycles of [`cycles`]. The counter's rate is measured
/// once, over 20 ms of `CLOCK_MONOTONIC`, the first time this is called
/// (modern x86 time-stamp counters tick at a constant rate whatever the
/// core's frequency).
pub fn cycles_to_ns(c: u64) -> u64 {
    static PER_NS_X1024: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let rate = *PER_NS_X1024.get_or_init(|| {
        if cfg!(not(target_arch = "x86_64")) {
            return 1024;
        }
        let (t0, c0) = (monotonic_ns(), cycles());
        std::thread::sleep(std::time::Duration::from_millis(20));
        let (t1, c1) = (monotonic_ns(), cycles());
        ((c1 - c0) * 1024 / (t1 - t0).max(1)).max(1)
    });
    ((c as u128 * 1024) / rate as u128) as u64
}

fn monotonic_ns() -> u64 {
    let ts = now(libc::CLOCK_MONOTONIC);
    u64::try_from(ts.tv_sec).unwrap_or(0) * 1_000_000_000 + ts.tv_nsec as u64
}

fn now(clock: libc::clockid_t) -> libc::timespec {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a live, writable timespec owned by this frame.
    let res = syscall!(unsafe { libc::clock_gettime(clock, &mut ts) });
    // Only an invalid clock id or pointer can fail, and both are fixed here.
    res.expect("clock_gettime on a built-in clock cannot fail");
    ts
}

/// Times before the epoch (a badly set wall clock) clamp to zero rather than wrapping.
fn to_us(ts: libc::timespec) -> u64 {
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let micros = u64::try_from(ts.tv_nsec).unwrap_or(0) / 1_000;
    secs * 1_000_000 + micros
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{SystemTime, UNIX_EPOCH};

    #[test]
    fn cycles_measure_a_sleep() {
        let c0 = cycles();
        std::thread::sleep(std::time::Duration::from_millis(30));
        let ns = cycles_to_ns(cycles() - c0);
        // A sleep lasts at least what was asked; a loaded machine may add a
        // lot, never make it shorter.
        assert!(ns >= 25_000_000, "{ns} ns");
        assert!(ns < 30_000_000_000, "{ns} ns");
    }

    #[test]
    fn monotonic_never_goes_backwards() {
        let mut prev = monotonic_us();
        for _ in 0..1_000 {
            let now = monotonic_us();
            assert!(now >= prev);
            prev = now;
        }
        let before = monotonic_ms();
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert!(monotonic_ms() >= before + 5);
    }

    #[test]
    fn unix_time_matches_std() {
        let std_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let ours = unix_ms();
        assert!(ours.abs_diff(std_ms) < 1_000, "{ours} vs {std_ms}");
        assert!(unix_us() / 1_000 >= ours);
    }

    #[test]
    fn timespec_conversion() {
        let ts = libc::timespec {
            tv_sec: 2,
            tv_nsec: 345_678_999,
        };
        assert_eq!(to_us(ts), 2_345_678);
        let before_epoch = libc::timespec {
            tv_sec: -1,
            tv_nsec: 0,
        };
        assert_eq!(to_us(before_epoch), 0);
    }
}
