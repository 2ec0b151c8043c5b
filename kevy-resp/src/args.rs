//! A command's arguments as spans into a byte buffer: borrowed ([`Args`]) on
//! the hot path, owned ([`OwnedArgs`]) when a command crosses cores.

/// One argument: `len` bytes starting at `start` in the backing buffer.
/// `u32` offsets keep a span at 8 bytes; a query buffer never exceeds 1 GiB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    pub start: u32,
    pub len: u32,
}

impl Span {
    #[inline]
    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.start as usize + self.len as usize
    }
}

/// The arguments of one command, `args.get(0)` being the command name.
#[derive(Clone, Copy)]
pub struct Args<'a> {
    buf: &'a [u8],
    spans: &'a [Span],
}

impl<'a> Args<'a> {
    /// `spans` must lie inside `buf`; the parser guarantees it.
    #[inline]
    pub fn new(buf: &'a [u8], spans: &'a [Span]) -> Self {
        debug_assert!(spans.iter().all(|s| s.range().end <= buf.len()));
        Args { buf, spans }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Argument `i`. Panics when out of range: callers check arity first
    /// (the command table does, before any handler runs).
    #[inline]
    pub fn get(&self, i: usize) -> &'a [u8] {
        &self.buf[self.spans[i].range()]
    }

    #[inline]
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &'a [u8]> + 'a {
        let buf = self.buf;
        self.spans.iter().map(move |s| &buf[s.range()])
    }

    pub fn spans(&self) -> &'a [Span] {
        self.spans
    }

    /// Copies the arguments into two exactly sized allocations.
    pub fn to_owned_args(&self) -> OwnedArgs {
        let mut o = OwnedArgs {
            buf: Vec::with_capacity(self.iter().map(<[u8]>::len).sum()),
            spans: Vec::with_capacity(self.len()),
        };
        for a in self.iter() {
            o.push(a);
        }
        o
    }
}

impl std::fmt::Debug for Args<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.iter().map(String::from_utf8_lossy))
            .finish()
    }
}

/// Arguments that own their bytes: one buffer plus spans, so building one is
/// two (reusable) allocations however many arguments it has.
#[derive(Clone, Default, Debug, PartialEq, Eq)]
pub struct OwnedArgs {
    pub buf: Vec<u8>,
    pub spans: Vec<Span>,
}

impl OwnedArgs {
    pub fn from_slices<I, T>(items: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        let mut o = OwnedArgs::default();
        for a in items {
            o.push(a.as_ref());
        }
        o
    }

    pub fn push(&mut self, arg: &[u8]) {
        let start = self.buf.len() as u32;
        self.buf.extend_from_slice(arg);
        self.spans.push(Span {
            start,
            len: arg.len() as u32,
        });
    }

    pub fn clear(&mut self) {
        self.buf.clear();
        self.spans.clear();
    }

    pub fn args(&self) -> Args<'_> {
        Args::new(&self.buf, &self.spans)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owned_round_trip() {
        let o = OwnedArgs::from_slices(["SET", "k", "", "v"]);
        let a = o.args();
        assert_eq!(a.len(), 4);
        assert_eq!(a.get(0), b"SET");
        assert_eq!(a.get(2), b"");
        assert_eq!(a.to_owned_args(), o);
    }
}
