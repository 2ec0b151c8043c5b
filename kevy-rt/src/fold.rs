//! Folding the parts of a fanned-out command into one reply. Parts arrive in
//! any order; the fold runs once, when the last part is in.

use crate::conn::VecPool;
use crate::service::Fold;

/// A command waiting for its parts.
pub(crate) struct FanOut {
    pub fold: Fold,
    pub parts: Vec<Option<Vec<u8>>>,
    pub left: usize,
    /// For [`Fold::Gather`]: the original key ordinal of each element of
    /// each part's array reply.
    pub map: Vec<Vec<u32>>,
    /// For [`Fold::Gather`]: how many keys the command had.
    pub total: usize,
    /// Picks for [`Fold::Random`].
    pub seed: u64,
    /// Bytes of the parts recorded by [`add`](Self::add) (what the
    /// connection counts as held output until the fold is done).
    pub copied: usize,
}

impl FanOut {
    pub fn new(fold: Fold, nparts: usize) -> Self {
        FanOut {
            fold,
            parts: (0..nparts).map(|_| None).collect(),
            left: nparts,
            map: Vec::new(),
            total: 0,
            seed: 0,
            copied: 0,
        }
    }

    /// Empties a used fan-out for another command of `nparts` parts,
    /// keeping its buffers (`map`'s lists too, for the caller to refill).
    pub fn reset(&mut self, fold: Fold, nparts: usize) {
        self.fold = fold;
        self.parts.clear();
        self.parts.resize_with(nparts, || None);
        self.left = nparts;
        self.total = 0;
        self.seed = 0;
        self.copied = 0;
    }

    /// Records part `i` (copied into a pooled buffer); true when it was
    /// the last.
    pub fn add(&mut self, i: usize, reply: &[u8], pool: &mut VecPool) -> bool {
        if self.parts.get(i).is_some_and(Option::is_none) {
            let mut v = pool.get();
            v.extend_from_slice(reply);
            self.copied += v.len();
            return self.add_owned(i, v);
        }
        self.left == 0
    }

    /// Records part `i`, taking the buffer; true when it was the last.
    pub fn add_owned(&mut self, i: usize, reply: Vec<u8>) -> bool {
        if let Some(slot) = self.parts.get_mut(i) {
            if slot.is_none() {
                *slot = Some(reply);
                self.left -= 1;
            }
        }
        self.left == 0
    }

    /// Returns the parts' buffers to the pool once folded.
    pub fn recycle_parts(&mut self, pool: &mut VecPool) {
        for p in self.parts.iter_mut().filter_map(Option::take) {
            pool.put(p);
        }
    }

    /// [`Fold::Gather`] without allocating: each part holds its keys'
    /// elements in increasing ordinal order (a part's command lists them
    /// so), so the reply is a merge of the parts, walked once. False (and
    /// nothing written) when there are too many parts for it or a map is
    /// not increasing; the general fold then runs.
    fn merge_gather(&self, out: &mut Vec<u8>) -> bool {
        const MERGE: usize = 8;
        let n = self.parts.len();
        if n > MERGE
            || self.map.len() != n
            || !self.map.iter().all(|m| m.windows(2).all(|w| w[0] < w[1]))
        {
            return false;
        }
        // Per part: its elements, how many were taken, and the one
        // element of a part that holds one (`*1` and the element: no walk).
        type Cursor<'a> = (kevy_resp::Elems<'a>, usize, Option<&'a [u8]>);
        let mut cur: [Cursor<'_>; MERGE] = Default::default();
        let mut bytes = 16;
        for ((c, p), m) in cur.iter_mut().zip(&self.parts).zip(&self.map) {
            match p.as_deref() {
                Some(p) if m.len() == 1 && p.starts_with(b"*1\r\n") => c.2 = Some(&p[4..]),
                Some(p) => {
                    if let Some((_, it)) = kevy_resp::array_elems(p) {
                        c.0 = it;
                    }
                }
                None => {}
            }
            bytes += p.as_ref().map_or(0, Vec::len);
        }
        out.reserve(bytes);
        header(out, b'*', self.total);
        for o in 0..self.total as u32 {
            let mut e: &[u8] = b"$-1\r\n";
            for (c, m) in cur.iter_mut().zip(&self.map) {
                if m.get(c.1) == Some(&o) {
                    c.1 += 1;
                    if let Some(x) = c.2.take().or_else(|| c.0.next()) {
                        e = x;
                    }
                    break;
                }
            }
            out.extend_from_slice(e);
        }
        true
    }

    /// The folded reply, appended to `out`.
    pub fn finish(&self, out: &mut Vec<u8>) {
        let parts = self.parts.iter().map(|p| p.as_deref().unwrap_or(b"_\r\n"));
        // An error from any part is the reply (the first, in part order).
        if let Some(err) = self
            .parts
            .iter()
            .flatten()
            .find(|p| p.first() == Some(&b'-'))
        {
            out.extend_from_slice(err);
            return;
        }
        match self.fold {
            Fold::One => {
                for p in parts {
                    out.extend_from_slice(p);
                }
            }
            Fold::Sum => {
                let sum: i64 = parts.map(parse_int).fold(0i64, |a, b| a.wrapping_add(b));
                out.push(b':');
                out.extend_from_slice(sum.to_string().as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            Fold::AllOk => out.extend_from_slice(b"+OK\r\n"),
            Fold::Agree => out.extend_from_slice(self.parts[0].as_deref().unwrap_or(b"_\r\n")),
            Fold::Gather if self.merge_gather(out) => {}
            Fold::Gather => {
                let mut elems: Vec<&[u8]> = vec![b"$-1\r\n"; self.total];
                for (p, bytes) in parts.enumerate() {
                    if let Some((_, ranges)) = kevy_resp::split_array(bytes) {
                        for (k, r) in ranges.into_iter().enumerate() {
                            if let Some(&pos) = self.map.get(p).and_then(|m| m.get(k)) {
                                if let Some(e) = elems.get_mut(pos as usize) {
                                    *e = &bytes[r];
                                }
                            }
                        }
                    }
                }
                header(out, b'*', elems.len());
                for e in elems {
                    out.extend_from_slice(e);
                }
            }
            Fold::Concat => {
                let mut kind = b'*';
                let mut elems: Vec<&[u8]> = Vec::new();
                for bytes in parts {
                    if let Some((_, ranges)) = kevy_resp::split_array(bytes) {
                        kind = bytes[0];
                        elems.extend(ranges.into_iter().map(|r| &bytes[r]));
                    }
                }
                header(out, kind, elems.len());
                for e in elems {
                    out.extend_from_slice(e);
                }
            }
            Fold::Pages => {
                let mut cursor: &[u8] = DONE;
                let mut kind = None;
                let mut elems: Vec<&[u8]> = Vec::new();
                for bytes in parts {
                    let Some((at, k, page)) = page(bytes) else {
                        continue;
                    };
                    kind.get_or_insert(k);
                    elems.extend(page);
                    if at != DONE {
                        cursor = at;
                        break;
                    }
                }
                header(out, b'*', 2);
                out.extend_from_slice(cursor);
                header(out, kind.unwrap_or(b'*'), elems.len());
                for e in elems {
                    out.extend_from_slice(e);
                }
            }
            Fold::With(f) => {
                let parts: Vec<&[u8]> = parts.collect();
                f(&parts, out);
            }
            Fold::Random => {
                let found: Vec<&[u8]> = self
                    .parts
                    .iter()
                    .flatten()
                    .map(Vec::as_slice)
                    .filter(|p| !is_null(p))
                    .collect();
                if found.is_empty() {
                    out.extend_from_slice(
                        self.parts
                            .iter()
                            .flatten()
                            .next()
                            .map_or(b"$-1\r\n".as_slice(), Vec::as_slice),
                    );
                } else {
                    let i = (splitmix(self.seed) % found.len() as u64) as usize;
                    out.extend_from_slice(found[i]);
                }
            }
        }
    }
}

/// A [`Fold::Pages`] part's cursor when its shard is done: the bulk
/// string `"0"`.
const DONE: &[u8] = b"$1\r\n0\r\n";

/// A [`Fold::Pages`] part split into its cursor (the whole bulk string)
/// and its elements' kind and bytes; `None` when it is not a
/// `[cursor, [elements…]]` pair.
fn page(bytes: &[u8]) -> Option<(&[u8], u8, impl Iterator<Item = &[u8]>)> {
    let (2, outer) = kevy_resp::split_array(bytes)? else {
        return None;
    };
    let list = &bytes[outer[1].clone()];
    let (_, ranges) = kevy_resp::split_array(list)?;
    let elems = ranges.into_iter().map(move |r| &list[r]);
    Some((&bytes[outer[0].clone()], list[0], elems))
}

fn header(out: &mut Vec<u8>, kind: u8, n: usize) {
    out.push(kind);
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
    out.extend_from_slice(b"\r\n");
}

fn parse_int(reply: &[u8]) -> i64 {
    if reply.first() != Some(&b':') {
        return 0;
    }
    let body = &reply[1..];
    let end = body.iter().position(|&b| b == b'\r').unwrap_or(body.len());
    std::str::from_utf8(&body[..end])
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn is_null(reply: &[u8]) -> bool {
    reply == b"$-1\r\n" || reply == b"_\r\n" || reply == b"*-1\r\n"
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fold(f: Fold, parts: &[&str], map: Vec<Vec<u32>>, total: usize) -> String {
        let mut fo = FanOut::new(f, parts.len());
        fo.map = map;
        fo.total = total;
        for (i, p) in parts.iter().enumerate().rev() {
            fo.add_owned(i, p.as_bytes().to_vec());
        }
        let mut out = Vec::new();
        fo.finish(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn gather_merges_parts_in_key_order() {
        // Keys 0..5 over three parts, interleaved; part 2 misses key 4's
        // element (a short reply), which reads as a null.
        let parts = [
            "*2\r\n$1\r\na\r\n$-1\r\n",
            "*2\r\n$1\r\nb\r\n$1\r\nd\r\n",
            "*1\r\n:7\r\n",
        ];
        let map = vec![vec![0, 2], vec![1, 3], vec![4, 5]];
        assert_eq!(
            fold(Fold::Gather, &parts, map.clone(), 6),
            "*6\r\n$1\r\na\r\n$1\r\nb\r\n$-1\r\n$1\r\nd\r\n:7\r\n$-1\r\n"
        );
        // A map out of order takes the general fold, with the same answer
        // for the same placement.
        let parts = ["*2\r\n$1\r\nx\r\n$1\r\ny\r\n", "*1\r\n$1\r\nz\r\n"];
        assert_eq!(
            fold(Fold::Gather, &parts, vec![vec![2, 0], vec![1]], 3),
            "*3\r\n$1\r\ny\r\n$1\r\nz\r\n$1\r\nx\r\n"
        );
        // More parts than the merge takes: the general fold.
        let parts: Vec<String> = (0..10).map(|i| format!("*1\r\n:{i}\r\n")).collect();
        let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
        let map = (0..10).rev().map(|i| vec![i]).collect();
        let want: String = std::iter::once("*10\r\n".to_string())
            .chain((0..10).rev().map(|i| format!(":{i}\r\n")))
            .collect();
        assert_eq!(fold(Fold::Gather, &parts, map, 10), want);
    }

    #[test]
    fn sums_and_errors() {
        assert_eq!(fold(Fold::Sum, &[":2\r\n", ":3\r\n"], vec![], 0), ":5\r\n");
        assert_eq!(
            fold(Fold::AllOk, &["+OK\r\n", "+OK\r\n"], vec![], 0),
            "+OK\r\n"
        );
        assert_eq!(
            fold(Fold::AllOk, &["+OK\r\n", "-ERR x\r\n"], vec![], 0),
            "-ERR x\r\n"
        );
        assert_eq!(
            fold(Fold::Agree, &["+Started\r\n", "+Started\r\n"], vec![], 0),
            "+Started\r\n"
        );
        assert_eq!(
            fold(Fold::Agree, &["+Started\r\n", "-ERR busy\r\n"], vec![], 0),
            "-ERR busy\r\n"
        );
    }

    #[test]
    fn gather_restores_key_order() {
        let got = fold(
            Fold::Gather,
            &["*2\r\n$1\r\na\r\n$-1\r\n", "*1\r\n$1\r\nb\r\n"],
            vec![vec![0, 2], vec![1]],
            3,
        );
        assert_eq!(got, "*3\r\n$1\r\na\r\n$1\r\nb\r\n$-1\r\n");
    }

    #[test]
    fn concat_joins_arrays() {
        let got = fold(
            Fold::Concat,
            &["*1\r\n$1\r\na\r\n", "*0\r\n", "*1\r\n$1\r\nb\r\n"],
            vec![],
            0,
        );
        assert_eq!(got, "*2\r\n$1\r\na\r\n$1\r\nb\r\n");
    }

    /// A `[cursor, [elements…]]` part.
    fn page(cursor: &str, elems: &[&str]) -> String {
        let mut s = format!(
            "*2\r\n${}\r\n{cursor}\r\n*{}\r\n",
            cursor.len(),
            elems.len()
        );
        for e in elems {
            s += &format!("${}\r\n{e}\r\n", e.len());
        }
        s
    }

    fn pages(parts: &[String]) -> String {
        let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
        fold(Fold::Pages, &parts, vec![], 0)
    }

    #[test]
    fn pages_join_finished_parts() {
        let got = pages(&[page("0", &["a"]), page("0", &[]), page("0", &["b", "c"])]);
        assert_eq!(got, page("0", &["a", "b", "c"]));
    }

    #[test]
    fn pages_stop_at_the_first_unfinished_part() {
        let got = pages(&[
            page("0", &["a"]),
            page("13", &["b"]),
            page("0", &["c"]),
            page("27", &["d"]),
        ]);
        assert_eq!(got, page("13", &["a", "b"]));
        let got = pages(&[page("5", &[]), page("0", &["x"])]);
        assert_eq!(got, page("5", &[]));
        // A cursor that is not "0" but starts with it is not done.
        let got = pages(&[page("05", &["a"]), page("0", &["x"])]);
        assert_eq!(got, page("05", &["a"]));
    }

    #[test]
    fn pages_keep_the_element_kind_and_report_errors() {
        let a = "*2\r\n$1\r\n0\r\n~1\r\n$1\r\na\r\n";
        let b = "*2\r\n$1\r\n0\r\n~1\r\n$1\r\nb\r\n";
        let got = fold(Fold::Pages, &[a, b], vec![], 0);
        assert_eq!(got, "*2\r\n$1\r\n0\r\n~2\r\n$1\r\na\r\n$1\r\nb\r\n");
        let got = fold(
            Fold::Pages,
            &[&page("0", &[]), "-ERR invalid cursor\r\n"],
            vec![],
            0,
        );
        assert_eq!(got, "-ERR invalid cursor\r\n");
    }

    #[test]
    fn random_prefers_non_null() {
        let got = fold(Fold::Random, &["$-1\r\n", "$1\r\nk\r\n"], vec![], 0);
        assert_eq!(got, "$1\r\nk\r\n");
        assert_eq!(
            fold(Fold::Random, &["$-1\r\n", "$-1\r\n"], vec![], 0),
            "$-1\r\n"
        );
    }
}
