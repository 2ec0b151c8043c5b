//! Arbitrary bytes to the reply walkers: no panics, and what they report
//! lies inside the buffer.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(n) = kevy_resp::skip_value(data) {
        assert!(n > 0 && n <= data.len());
    }
    if let Some((count, ranges)) = kevy_resp::split_array(data) {
        assert_eq!(count, ranges.len());
        let mut prev = 0;
        for r in ranges {
            assert!(prev <= r.start && r.start < r.end && r.end <= data.len());
            assert_eq!(kevy_resp::skip_value(&data[r.clone()]), Some(r.len()));
            prev = r.end;
        }
    }
});
