//! When to rewrite automatically: Redis's `auto-aof-rewrite-percentage`
//! and `auto-aof-rewrite-min-size`, as arithmetic.

/// Whether a log of `current` bytes, whose size right after the last
/// rewrite (or at startup) was `base`, should be rewritten: the feature is
/// on (`percentage > 0`), the log is larger than `min_size`, and it grew
/// by at least `percentage` percent over `base` (a `base` of 0 counts as 1,
/// as in Redis). Saturating: no input overflows.
pub fn should_rewrite(current: u64, base: u64, percentage: u64, min_size: u64) -> bool {
    if percentage == 0 || current <= min_size {
        return false;
    }
    let base = base.max(1);
    // growth% = current * 100 / base - 100, compared without the
    // subtraction going negative.
    let ratio = (current as u128 * 100) / base as u128;
    ratio >= 100 + percentage as u128
}

#[cfg(test)]
mod tests {
    use super::should_rewrite;

    const MB: u64 = 1024 * 1024;

    #[test]
    fn redis_defaults_rewrite_at_double_past_64mb() {
        // auto-aof-rewrite-percentage 100, auto-aof-rewrite-min-size 64mb.
        assert!(
            !should_rewrite(64 * MB, 1, 100, 64 * MB),
            "not above min size"
        );
        assert!(should_rewrite(64 * MB + 1, 1, 100, 64 * MB));
        assert!(!should_rewrite(100 * MB, 60 * MB, 100, 64 * MB), "grew 66%");
        assert!(should_rewrite(120 * MB, 60 * MB, 100, 64 * MB), "grew 100%");
        assert!(!should_rewrite(120 * MB - 1, 60 * MB, 100, 64 * MB));
    }

    #[test]
    fn zero_percentage_turns_it_off_and_zero_base_counts_as_one() {
        assert!(!should_rewrite(u64::MAX, 0, 0, 0));
        assert!(should_rewrite(2, 0, 100, 0));
        assert!(
            !should_rewrite(1, 0, 100, 0),
            "1 byte over a base of 1 is 0% growth"
        );
    }

    #[test]
    fn shrinking_log_never_triggers_and_nothing_overflows() {
        assert!(!should_rewrite(10 * MB, 50 * MB, 1, 0));
        assert!(should_rewrite(u64::MAX, u64::MAX / 3, 100, 0));
        assert!(!should_rewrite(u64::MAX, u64::MAX, u64::MAX, 0));
        assert!(should_rewrite(u64::MAX, 1, u64::MAX / 100, 0));
    }
}
