//! Feeds arbitrary bytes to the request parser the way a connection does:
//! whole frames consumed one by one until `Partial` or an error. Each frame
//! must consume something, never more than it was given, and yield spans
//! inside their buffer; the same bytes fed as two growing prefixes must
//! parse as they do at once.
#![no_main]

use kevy_resp::{Parse, Parser};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut p = Parser::new();
    let mut at = 0;
    loop {
        let input = &data[at..];
        let whole = p.parse(input);
        let Ok(Parse::Complete(n)) = whole else {
            break;
        };
        assert!(n > 0 && n <= input.len(), "consumed {n} of {}", input.len());
        let total: usize = p.args(input).iter().map(<[u8]>::len).sum();
        // Multibulk arguments lie in the frame; unescaping only shrinks.
        assert!(
            total <= n,
            "{total} bytes of arguments from a {n}-byte frame"
        );

        // Resuming: a prefix first, then the whole frame, answers the same.
        let mut q = Parser::new();
        let cut = n / 2;
        let first = q.parse(&input[..cut]);
        if first == Ok(Parse::Partial) {
            assert_eq!(q.parse(input), whole);
            assert!(p.args(input).iter().eq(q.args(input).iter()));
        }
        at += n;
    }
});
