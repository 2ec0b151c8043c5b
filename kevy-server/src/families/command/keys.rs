//! Which arguments of a command line are keys, and how the command uses
//! each, as COMMAND GETKEYS and GETKEYSANDFLAGS report them: Redis walks the
//! command's key specs, and falls back to a per-command parser when a spec
//! cannot say (a STORE keyword that may appear anywhere, a GET option that
//! changes how SET uses its key, a key count that does not parse).

use super::docs::{Begin, Find, KeySpec};
use kevy_resp::Args;
use kevy_store::num::parse_i64;

/// One key: its argument index and its key-spec flags.
pub type Key = (usize, &'static [&'static str]);

const RO_ACCESS: &[&str] = &["RO", "access"];
const RW_ACCESS_UPDATE: &[&str] = &["RW", "access", "update"];
const OW_UPDATE: &[&str] = &["OW", "update"];

/// Whether Redis finds keys in the command at all (`doesCommandHaveKeys`):
/// it has a parser of its own or a spec of real keys.
pub fn has_keys(name: &str, specs: &[KeySpec]) -> bool {
    has_parser(name) || specs.iter().any(|s| !has_flag(s, "not_key"))
}

/// Redis's `getKeysFromCommandWithSpecs`: the specs when their flags are
/// reliable and they all apply, else the command's own parser, else none.
pub fn find(name: &str, specs: &[KeySpec], args: Args<'_>) -> Vec<Key> {
    let real = specs.iter().any(|s| !has_flag(s, "not_key"));
    let variable = specs.iter().any(|s| has_flag(s, "variable_flags"));
    if real && !variable {
        if let Some(keys) = from_specs(specs, args) {
            return keys;
        }
    }
    parse(name, args).unwrap_or_default()
}

fn has_flag(spec: &KeySpec, flag: &str) -> bool {
    spec.flags.contains(&flag)
}

/// Redis's `getKeysUsingKeySpecs`: every spec in order, or `None` when one
/// cannot be followed (unknown search, a key count that does not parse,
/// keys past the end) or is marked incomplete.
fn from_specs(specs: &[KeySpec], args: Args<'_>) -> Option<Vec<Key>> {
    let argc = args.len() as i64;
    let mut keys = Vec::new();
    for spec in specs.iter().filter(|s| !has_flag(s, "not_key")) {
        let first = match spec.begin {
            Begin::Index(i) => i,
            Begin::Keyword(word, from) => match keyword_after(args, word, from) {
                Some(i) => i,
                None => continue,
            },
            Begin::Unknown => return None,
        };
        let (first, last, step) = match spec.find {
            Find::Range(lastkey, step, limit) => {
                let last = if lastkey >= 0 {
                    first + lastkey
                } else if limit == 0 {
                    argc + lastkey
                } else {
                    first + ((argc - first) / limit + lastkey)
                };
                (first, last, step)
            }
            Find::Keynum(numidx, firstkey, step) => {
                if numidx >= argc || first + numidx >= argc {
                    return None;
                }
                let n = parse_i64(args.get((first + numidx) as usize)).filter(|n| *n >= 0)?;
                let first = first + firstkey;
                (first, first + n - 1, step)
            }
            Find::Unknown => return None,
        };
        if last >= argc || last < first || first >= argc {
            return None;
        }
        let mut i = first;
        while i <= last {
            keys.push((i as usize, spec.flags));
            i += step.max(1);
        }
        if has_flag(spec, "incomplete") {
            return None;
        }
    }
    Some(keys)
}

/// The index right after `word` (any case), searching from `from` forward,
/// or backward from the end when `from` is negative.
fn keyword_after(args: Args<'_>, word: &str, from: i64) -> Option<i64> {
    let argc = args.len() as i64;
    let hit = |i: i64| args.get(i as usize).eq_ignore_ascii_case(word.as_bytes());
    if from > 0 {
        (from..argc).find(|&i| hit(i)).map(|i| i + 1)
    } else {
        (1..argc + from + 1).rev().find(|&i| hit(i)).map(|i| i + 1)
    }
}

/// `numkeys` at `count_at`, keys from `first_key`, and a destination at
/// `store` (0 for none) listed after them: Redis's `genericGetKeys`, whose
/// keys carry no flags.
#[derive(Clone, Copy)]
struct Numkeys {
    store: usize,
    count_at: usize,
    first_key: usize,
}

fn has_parser(name: &str) -> bool {
    matches!(name, "set" | "sort" | "sort_ro" | "bitfield") || numkeys_layout(name).is_some()
}

fn numkeys_layout(name: &str) -> Option<Numkeys> {
    let (store, count_at, first_key) = match name {
        "zunionstore" | "zinterstore" | "zdiffstore" => (1, 2, 3),
        "zunion" | "zinter" | "zdiff" | "zintercard" | "sintercard" | "lmpop" | "zmpop" => {
            (0, 1, 2)
        }
        "blmpop" | "bzmpop" | "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall"
        | "fcall_ro" => (0, 2, 3),
        _ => return None,
    };
    Some(Numkeys {
        store,
        count_at,
        first_key,
    })
}

/// The command's own key parser, `None` when it has none.
fn parse(name: &str, args: Args<'_>) -> Option<Vec<Key>> {
    if let Some(l) = numkeys_layout(name) {
        return Some(numkeys(l, args));
    }
    match name {
        "set" => Some(set(args)),
        "sort" => Some(sort(args)),
        "sort_ro" => Some(vec![(1, RO_ACCESS)]),
        "bitfield" => Some(bitfield(args)),
        _ => None,
    }
}

fn numkeys(l: Numkeys, args: Args<'_>) -> Vec<Key> {
    let argc = args.len();
    let n = atoi(args.get(l.count_at));
    if n < 1 || n as usize > argc.saturating_sub(l.first_key) {
        return Vec::new();
    }
    let mut keys: Vec<Key> = (0..n as usize)
        .map(|i| (l.first_key + i, &[][..]))
        .collect();
    if l.store > 0 {
        keys.push((l.store, &[]));
    }
    keys
}

/// C's `atoi`: leading blanks, a sign, then digits up to the first other
/// byte (0 when there are none).
fn atoi(b: &[u8]) -> i64 {
    let b = &b[b.iter().take_while(|c| c.is_ascii_whitespace()).count()..];
    let (neg, digits) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    };
    let mut n: i64 = 0;
    for &c in digits.iter().take_while(|c| c.is_ascii_digit()) {
        n = n.saturating_mul(10).saturating_add((c - b'0') as i64);
    }
    if neg {
        -n
    } else {
        n
    }
}

/// SET reads its key only with the GET option, looked for from the third
/// argument on as C compares it (up to a NUL).
fn set(args: Args<'_>) -> Vec<Key> {
    let get = args.iter().skip(3).any(|a| {
        let a = a.iter().position(|&b| b == 0).map_or(a, |z| &a[..z]);
        a.eq_ignore_ascii_case(b"get")
    });
    vec![(1, if get { RW_ACCESS_UPDATE } else { OW_UPDATE })]
}

/// BITFIELD's key, read-only while its operations are GETs (and
/// OVERFLOWs); from the first SET, INCRBY or malformed operation on it is
/// written (Redis's `bitfieldGetKeys`).
fn bitfield(args: Args<'_>) -> Vec<Key> {
    let argc = args.len();
    let mut i = 2;
    while i < argc {
        let (a, rem) = (args.get(i), argc - i - 1);
        if a.eq_ignore_ascii_case(b"get") && rem >= 2 {
            i += 3;
        } else if a.eq_ignore_ascii_case(b"overflow") && rem >= 1 {
            i += 2;
        } else {
            return vec![(1, RW_ACCESS_UPDATE)];
        }
    }
    vec![(1, RO_ACCESS)]
}

/// SORT's key, then the last STORE destination, skipping the arguments of
/// LIMIT, GET and BY.
fn sort(args: Args<'_>) -> Vec<Key> {
    let argc = args.len();
    let mut keys = vec![(1, RO_ACCESS)];
    let mut store = None;
    let mut i = 2;
    while i < argc {
        let a = args.get(i);
        if a.eq_ignore_ascii_case(b"limit") {
            i += 2;
        } else if a.eq_ignore_ascii_case(b"get") || a.eq_ignore_ascii_case(b"by") {
            i += 1;
        } else if a.eq_ignore_ascii_case(b"store") && i + 1 < argc {
            store = Some(i + 1);
        }
        i += 1;
    }
    keys.extend(store.map(|s| (s, OW_UPDATE)));
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use kevy_resp::OwnedArgs;

    fn keys(name: &str, specs: &[KeySpec], line: &str) -> Vec<(String, Vec<&'static str>)> {
        let owned = OwnedArgs::from_slices(line.split(' ').map(str::as_bytes));
        find(name, specs, owned.args())
            .into_iter()
            .map(|(i, f)| {
                (
                    String::from_utf8_lossy(owned.args().get(i)).into_owned(),
                    f.to_vec(),
                )
            })
            .collect()
    }

    #[test]
    fn parsers_follow_redis() {
        assert_eq!(atoi(b" 12x"), 12);
        assert_eq!(atoi(b"-3"), -3);
        assert_eq!(atoi(b"x"), 0);
        assert_eq!(
            keys("set", &[], "set k v"),
            [("k".into(), vec!["OW", "update"])]
        );
        assert_eq!(
            keys("set", &[], "set k v nx gEt"),
            [("k".into(), vec!["RW", "access", "update"])]
        );
        assert_eq!(
            keys("sort", &[], "sort k by x store a limit 0 1 store b"),
            [
                ("k".into(), vec!["RO", "access"]),
                ("b".into(), vec!["OW", "update"])
            ]
        );
        assert_eq!(
            keys("sort", &[], "sort k get store"),
            [("k".into(), vec!["RO", "access"])]
        );
        assert_eq!(
            keys("zunionstore", &[], "zunionstore d 2x a b"),
            [
                ("a".into(), vec![]),
                ("b".into(), vec![]),
                ("d".into(), vec![])
            ]
        );
        assert!(keys("zunionstore", &[], "zunionstore d 3 a b").is_empty());
    }
}
