//! Glob matching with the semantics of Redis's `stringmatchlen` (KEYS, SCAN
//! MATCH, PSUBSCRIBE, …): `*`, `?`, `[...]` with ranges, `^` negation and
//! `\` escapes, byte-wise.
//!
//! Two guards keep hostile patterns cheap, as in Redis 7: recursion (one
//! level per `*`) stops at depth 1000 — deeper patterns match nothing — and
//! once the rest of a pattern after a `*` has failed at every later offset,
//! no earlier `*` retries a longer match, so matching is polynomial rather
//! than exponential in the number of stars.

/// Deepest `*` nesting tried before giving up (Redis's limit).
const MAX_NESTING: u32 = 1000;

/// Whether `s` matches the glob `pattern`.
pub fn matches(pattern: &[u8], s: &[u8]) -> bool {
    matches_with(pattern, s, false)
}

/// As [`matches`](fn@matches), optionally ignoring ASCII case.
pub fn matches_with(pattern: &[u8], s: &[u8], nocase: bool) -> bool {
    let mut skip_longer = false;
    match_impl(pattern, s, nocase, &mut skip_longer, 0)
}

#[inline]
fn fold(c: u8, nocase: bool) -> u8 {
    if nocase {
        c.to_ascii_lowercase()
    } else {
        c
    }
}

fn match_impl(
    mut p: &[u8],
    mut s: &[u8],
    nocase: bool,
    skip_longer: &mut bool,
    nesting: u32,
) -> bool {
    if nesting > MAX_NESTING {
        return false;
    }
    while !p.is_empty() && !s.is_empty() {
        match p[0] {
            b'*' => {
                while p.len() > 1 && p[1] == b'*' {
                    p = &p[1..];
                }
                if p.len() == 1 {
                    return true;
                }
                while !s.is_empty() {
                    if match_impl(&p[1..], s, nocase, skip_longer, nesting + 1) {
                        return true;
                    }
                    if *skip_longer {
                        return false;
                    }
                    s = &s[1..];
                }
                // The rest of the pattern matches at no later offset, so no
                // enclosing `*` needs to try a longer match either.
                *skip_longer = true;
                return false;
            }
            b'?' => s = &s[1..],
            b'[' => {
                p = &p[1..];
                let negate = p.first() == Some(&b'^');
                if negate {
                    p = &p[1..];
                }
                let c = s[0];
                let mut hit = false;
                loop {
                    if p.is_empty() {
                        // Unterminated class: it ends with the pattern. Stay
                        // on a byte so the step below consumes the pattern.
                        break;
                    }
                    if p[0] == b'\\' && p.len() >= 2 {
                        p = &p[1..];
                        if p[0] == c {
                            hit = true;
                        }
                    } else if p[0] == b']' {
                        break;
                    } else if p.len() >= 3 && p[1] == b'-' {
                        // Redis compares `char`s, which are signed on x86:
                        // bytes >= 0x80 sort before ASCII in ranges.
                        let (mut lo, mut hi) = (p[0] as i8, p[2] as i8);
                        let mut cc = c as i8;
                        if lo > hi {
                            std::mem::swap(&mut lo, &mut hi);
                        }
                        if nocase {
                            lo = (lo as u8).to_ascii_lowercase() as i8;
                            hi = (hi as u8).to_ascii_lowercase() as i8;
                            cc = (cc as u8).to_ascii_lowercase() as i8;
                        }
                        p = &p[2..];
                        if (lo..=hi).contains(&cc) {
                            hit = true;
                        }
                    } else if fold(p[0], nocase) == fold(c, nocase) {
                        hit = true;
                    }
                    p = &p[1..];
                }
                if hit == negate {
                    return false;
                }
                s = &s[1..];
                if p.is_empty() {
                    // The class ran to the end of the pattern.
                    return s.is_empty();
                }
            }
            b'\\' if p.len() >= 2 => {
                p = &p[1..];
                if fold(p[0], nocase) != fold(s[0], nocase) {
                    return false;
                }
                s = &s[1..];
            }
            c => {
                if fold(c, nocase) != fold(s[0], nocase) {
                    return false;
                }
                s = &s[1..];
            }
        }
        p = &p[1..];
        if s.is_empty() {
            while p.first() == Some(&b'*') {
                p = &p[1..];
            }
            break;
        }
    }
    p.is_empty() && s.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases: &[(&str, &str, bool)] = &[
            // Redis's matcher says no; KEYS and SCAN never ask for "*".
            ("*", "", false),
            ("*", "anything", true),
            ("", "", true),
            ("", "a", false),
            ("a", "", false),
            ("h?llo", "hello", true),
            ("h?llo", "hllo", false),
            ("h*llo", "hllo", true),
            ("h*llo", "heeeello", true),
            ("h[ae]llo", "hello", true),
            ("h[ae]llo", "hallo", true),
            ("h[ae]llo", "hillo", false),
            ("h[^e]llo", "hallo", true),
            ("h[^e]llo", "hello", false),
            ("h[a-b]llo", "hbllo", true),
            ("h[a-b]llo", "hcllo", false),
            ("h[b-a]llo", "hallo", true),
            ("h\\*llo", "h*llo", true),
            ("h\\*llo", "hello", false),
            ("h[\\]]llo", "h]llo", true),
            ("*a*b*c*", "xxaxxbxxcxx", true),
            ("*a*b*c*", "xxaxxcxxbxx", false),
            ("a*", "a", true),
            ("a**", "a", true),
            ("**a", "a", true),
            ("user:*", "user:1000", true),
            ("user:*", "users", false),
            ("[abc", "a", true),
            ("[abc", "d", false),
            ("[a-]", "]", true),
            // "a-]" is the range ']'..='a'; the class then runs to the end.
            ("[a-]", "_", true),
            ("[a-]", "b", false),
            ("\\", "\\", true),
            ("a\\", "a\\", true),
            ("?", "", false),
            ("[]", "a", false),
            ("[^]", "a", true),
            ("*?", "", false),
            ("*?", "a", true),
            ("[]]", "]", false),
        ];
        for (p, s, want) in cases {
            assert_eq!(matches(p.as_bytes(), s.as_bytes()), *want, "{p:?} vs {s:?}");
        }
    }

    #[test]
    fn nocase() {
        assert!(matches_with(b"HeLLo", b"hello", true));
        assert!(matches_with(b"h[A-Z]llo", b"hello", true));
        assert!(!matches_with(b"HeLLo", b"hello", false));
    }

    #[test]
    fn signed_ranges_like_redis() {
        // 0x80..=0xff are negative as C chars: [\x80-a] spans them and ASCII.
        assert!(matches(b"[\x80-a]", b"A"));
        assert!(matches(b"[\x80-a]", b"\xff"));
        assert!(!matches(b"[a-\x80]", b"b"));
    }

    #[test]
    fn hostile_patterns_stay_fast() {
        let s = vec![b'a'; 5000];
        let mut p = b"*a".repeat(30);
        p.push(b'b');
        let t = std::time::Instant::now();
        assert!(!matches(&p, &s));
        assert!(t.elapsed() < std::time::Duration::from_secs(2));
        // Nesting beyond the limit matches nothing, even when it would.
        let deep = b"*a".repeat(1100);
        assert!(!matches(&deep, &s));
    }
}
