//! Record framing: `len u32 | crc32c u32 | tag u8 | payload`, little endian.
//! The checksum covers the length, the tag and the payload, so a torn or
//! flipped length is caught like a flipped payload byte.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// Bytes before the payload: length, checksum, tag.
pub const HEADER_LEN: usize = 9;

/// Largest payload a record may carry. The length field is 32 bits; the
/// runtime appends one command's effects or one reactor batch per record,
/// and a command is bounded by the 1 GiB query buffer limit.
pub const MAX_PAYLOAD: usize = u32::MAX as usize;

/// What a record is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Tag {
    /// Effects outside any cross-shard transaction: RESP arrays.
    Effects = 1,
    /// Effects of one transaction on this shard: txid, then RESP arrays.
    TxEffects = 2,
    /// This shard's part of a transaction is complete: txid, participants.
    TxCommit = 3,
    /// The end of a base written as records: the number of records before
    /// it. A records base without it is incomplete.
    BaseEnd = 4,
}

impl Tag {
    fn from_u8(b: u8) -> Option<Tag> {
        match b {
            1 => Some(Tag::Effects),
            2 => Some(Tag::TxEffects),
            3 => Some(Tag::TxCommit),
            4 => Some(Tag::BaseEnd),
            _ => None,
        }
    }
}

/// A cross-shard transaction's id: unique across boots because the epoch
/// is (recovery reports the highest epoch it saw; the next boot uses one
/// more), and within a boot because each coordinator counts its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxId {
    pub epoch: u64,
    pub coordinator: u32,
    pub counter: u64,
}

/// Encoded size of a [`TxId`].
pub const TXID_LEN: usize = 20;

impl TxId {
    pub fn encode(&self) -> [u8; TXID_LEN] {
        let mut b = [0u8; TXID_LEN];
        b[..8].copy_from_slice(&self.epoch.to_le_bytes());
        b[8..12].copy_from_slice(&self.coordinator.to_le_bytes());
        b[12..].copy_from_slice(&self.counter.to_le_bytes());
        b
    }

    pub fn decode(b: &[u8]) -> Option<TxId> {
        let b: &[u8; TXID_LEN] = b.get(..TXID_LEN)?.try_into().ok()?;
        Some(TxId {
            epoch: u64::from_le_bytes(b[..8].try_into().ok()?),
            coordinator: u32::from_le_bytes(b[8..12].try_into().ok()?),
            counter: u64::from_le_bytes(b[12..].try_into().ok()?),
        })
    }
}

/// A decoded record, borrowing its payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record<'a> {
    Effects(&'a [u8]),
    TxEffects(TxId, &'a [u8]),
    TxCommit(TxId, Vec<u32>),
    BaseEnd(u64),
}

impl<'a> Record<'a> {
    /// Decodes a payload whose checksum already matched; `None` when its
    /// layout does not fit its tag.
    pub fn decode(tag: Tag, payload: &'a [u8]) -> Option<Record<'a>> {
        match tag {
            Tag::Effects => Some(Record::Effects(payload)),
            Tag::TxEffects => {
                let id = TxId::decode(payload)?;
                Some(Record::TxEffects(id, &payload[TXID_LEN..]))
            }
            Tag::TxCommit => {
                let id = TxId::decode(payload)?;
                let rest = &payload[TXID_LEN..];
                let n = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
                let list = rest.get(4..)?;
                if list.len() != n.checked_mul(4)? {
                    return None;
                }
                let parts = list
                    .chunks_exact(4)
                    .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                Some(Record::TxCommit(id, parts))
            }
            Tag::BaseEnd => {
                let b: [u8; 8] = payload.try_into().ok()?;
                Some(Record::BaseEnd(u64::from_le_bytes(b)))
            }
        }
    }
}

/// Appends one framed record whose payload is the concatenation of
/// `parts`. Fails (appending nothing) when the payload exceeds
/// [`MAX_PAYLOAD`].
pub fn encode(out: &mut Vec<u8>, tag: Tag, parts: &[&[u8]]) -> io::Result<()> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    if len > MAX_PAYLOAD {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "append-only log record larger than 4 GiB",
        ));
    }
    let len_le = (len as u32).to_le_bytes();
    let mut crc = crc32c::crc32c(&len_le);
    crc = crc32c::crc32c_append(crc, &[tag as u8]);
    for p in parts {
        crc = crc32c::crc32c_append(crc, p);
    }
    out.reserve(HEADER_LEN + len);
    out.extend_from_slice(&len_le);
    out.extend_from_slice(&crc.to_le_bytes());
    out.push(tag as u8);
    for p in parts {
        out.extend_from_slice(p);
    }
    Ok(())
}

/// Appends a [`Tag::TxCommit`] record.
pub fn encode_commit(out: &mut Vec<u8>, id: TxId, participants: &[u32]) -> io::Result<()> {
    let mut body = Vec::with_capacity(4 + participants.len() * 4);
    body.extend_from_slice(&(participants.len() as u32).to_le_bytes());
    for p in participants {
        body.extend_from_slice(&p.to_le_bytes());
    }
    encode(out, Tag::TxCommit, &[&id.encode(), &body])
}

/// Why a record could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Damage {
    /// Fewer bytes left than the header or the declared payload.
    Short,
    /// The checksum does not match.
    Checksum,
    /// The checksum matches but the tag is unknown or the payload does not
    /// fit its tag.
    Malformed,
}

impl Damage {
    fn describe(self) -> &'static str {
        match self {
            Damage::Short => "record cut short",
            Damage::Checksum => "checksum mismatch",
            Damage::Malformed => "unknown tag or malformed payload",
        }
    }
}

/// A damaged record that is not a torn tail: the load stops here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Corrupt {
    pub path: PathBuf,
    pub offset: u64,
    pub damage: Damage,
}

impl fmt::Display for Corrupt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Bad record in append-only file {} at offset {}: {} (valid records follow it; \
             load up to it only by allowing a corrupt log to be cut)",
            self.path.display(),
            self.offset,
            self.damage.describe()
        )
    }
}

impl std::error::Error for Corrupt {}

/// How a file's records ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// Every byte belongs to a whole record.
    Clean,
    /// The last record is torn (cut short, or damaged with nothing but the
    /// file's end or zeros after it): loading stops at `offset`.
    Torn { offset: u64, damage: Damage },
    /// A damaged record with data after it, loaded up to because the
    /// caller allowed it.
    CutCorrupt(Corrupt),
}

/// What reading a whole file found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scan {
    /// Length of the valid prefix.
    pub valid_len: u64,
    pub end: End,
}

/// Reads the records of one file in order, reusing one payload buffer.
/// Allocation is bounded by the file's size: a declared length larger than
/// what is left is a short record, never an allocation.
pub struct Reader {
    file: io::BufReader<File>,
    path: PathBuf,
    len: u64,
    pos: u64,
    buf: Vec<u8>,
    tag: Tag,
    allow_corrupt: bool,
    end: Option<End>,
}

impl Reader {
    /// Opens `path` for reading. With `allow_corrupt`, a damaged record in
    /// the middle ends the file like a torn tail instead of failing.
    pub fn open(path: &Path, allow_corrupt: bool) -> io::Result<Reader> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        Ok(Reader {
            file: io::BufReader::with_capacity(64 * 1024, file),
            path: path.to_path_buf(),
            len,
            pos: 0,
            buf: Vec::new(),
            tag: Tag::Effects,
            allow_corrupt,
            end: None,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Offset of the next record (the end of the last one read).
    pub fn offset(&self) -> u64 {
        self.pos
    }

    /// The next record and its offset, `Ok(None)` at the end of the valid
    /// records (see [`Reader::scan`] for how they ended), or an error for
    /// I/O or corruption in the middle.
    pub fn next_record(&mut self) -> Result<Option<(u64, Record<'_>)>, ReadError> {
        if self.end.is_some() {
            return Ok(None);
        }
        let start = self.pos;
        match self.read_one()? {
            Step::Record => match Record::decode(self.tag, &self.buf) {
                Some(r) => Ok(Some((start, r))),
                // read_one checked that the payload decodes.
                None => Err(ReadError::Io(io::Error::other("record does not decode"))),
            },
            Step::Eof => {
                self.end = Some(End::Clean);
                Ok(None)
            }
            Step::Damaged(damage) => {
                self.finish_damaged(start, damage)?;
                Ok(None)
            }
        }
    }

    /// How the file ended; `None` until [`Reader::next_record`] returned
    /// `Ok(None)`.
    pub fn scan(&self) -> Option<Scan> {
        self.end.as_ref().map(|end| Scan {
            valid_len: self.pos,
            end: end.clone(),
        })
    }

    /// Reads one record into `buf`.
    fn read_one(&mut self) -> Result<Step, ReadError> {
        let left = self.len - self.pos;
        if left == 0 {
            return Ok(Step::Eof);
        }
        if left < HEADER_LEN as u64 {
            return Ok(Step::Damaged(Damage::Short));
        }
        let mut h = [0u8; HEADER_LEN];
        self.file.read_exact(&mut h)?;
        let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as u64;
        let crc = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
        if len > left - HEADER_LEN as u64 {
            return Ok(Step::Damaged(Damage::Short));
        }
        self.buf.clear();
        self.buf.resize(len as usize, 0);
        self.file.read_exact(&mut self.buf)?;
        let mut c = crc32c::crc32c(&h[..4]);
        c = crc32c::crc32c_append(c, &h[8..9]);
        c = crc32c::crc32c_append(c, &self.buf);
        if c != crc {
            return Ok(Step::Damaged(Damage::Checksum));
        }
        let Some(tag) = Tag::from_u8(h[8]) else {
            return Ok(Step::Damaged(Damage::Malformed));
        };
        if Record::decode(tag, &self.buf).is_none() {
            return Ok(Step::Damaged(Damage::Malformed));
        }
        self.tag = tag;
        self.pos += HEADER_LEN as u64 + len;
        Ok(Step::Record)
    }

    /// Decides whether damage at `start` is a torn tail or corruption in
    /// the middle. Torn: cut short, or nothing but zeros after the damaged
    /// record (what a crash leaves when the file's size reached the disk
    /// before its data). Anything else after it may be valid records, and
    /// silently dropping them would lose acknowledged writes.
    fn finish_damaged(&mut self, start: u64, damage: Damage) -> Result<(), ReadError> {
        self.pos = start;
        let torn = damage == Damage::Short
            || self.zeros_from(start + HEADER_LEN as u64 + self.buf.len() as u64)?;
        if torn {
            self.end = Some(End::Torn {
                offset: start,
                damage,
            });
            return Ok(());
        }
        let c = Corrupt {
            path: self.path.clone(),
            offset: start,
            damage,
        };
        if self.allow_corrupt {
            self.end = Some(End::CutCorrupt(c));
            Ok(())
        } else {
            Err(ReadError::Corrupt(c))
        }
    }

    /// Whether every byte from `from` to the end of the file is zero (true
    /// when there is none).
    fn zeros_from(&mut self, from: u64) -> Result<bool, ReadError> {
        let mut f = File::open(&self.path)?;
        io::Seek::seek(&mut f, io::SeekFrom::Start(from))?;
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let n = f.read(&mut chunk)?;
            if n == 0 {
                return Ok(true);
            }
            if chunk[..n].iter().any(|&b| b != 0) {
                return Ok(false);
            }
        }
    }
}

enum Step {
    Record,
    Eof,
    Damaged(Damage),
}

/// Reading a log failed.
#[derive(Debug)]
pub enum ReadError {
    Io(io::Error),
    Corrupt(Corrupt),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "{e}"),
            ReadError::Corrupt(c) => write!(f, "{c}"),
        }
    }
}

impl std::error::Error for ReadError {}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aof::testutil::{cmd, TempDir};
    use proptest::prelude::*;

    fn id(n: u64) -> TxId {
        TxId {
            epoch: 7,
            coordinator: 2,
            counter: n,
        }
    }

    /// Four records of every kind, and the offset each starts at.
    fn sample() -> (Vec<u8>, Vec<u64>) {
        let mut b = Vec::new();
        let mut starts = Vec::new();
        starts.push(b.len() as u64);
        encode(&mut b, Tag::Effects, &[&cmd(&[b"SET", b"k", b"v"])]).unwrap();
        starts.push(b.len() as u64);
        encode(
            &mut b,
            Tag::TxEffects,
            &[&id(1).encode(), &cmd(&[b"DEL", b"a"])],
        )
        .unwrap();
        starts.push(b.len() as u64);
        encode_commit(&mut b, id(1), &[0, 3]).unwrap();
        starts.push(b.len() as u64);
        encode(&mut b, Tag::BaseEnd, &[&9u64.to_le_bytes()]).unwrap();
        (b, starts)
    }

    fn read_all(path: &Path, allow: bool) -> Result<(Vec<(u64, String)>, Scan), ReadError> {
        let mut r = Reader::open(path, allow)?;
        let mut out = Vec::new();
        while let Some((off, rec)) = r.next_record()? {
            out.push((off, format!("{rec:?}")));
        }
        Ok((out, r.scan().unwrap()))
    }

    #[test]
    fn every_kind_of_record_reads_back_with_its_offset() {
        let d = TempDir::new("rec");
        let p = d.path().join("log");
        let (b, starts) = sample();
        std::fs::write(&p, &b).unwrap();
        let mut r = Reader::open(&p, false).unwrap();
        let mut got = Vec::new();
        while let Some((off, rec)) = r.next_record().unwrap() {
            got.push((off, rec.clone().decode_owned()));
        }
        assert_eq!(got.len(), 4);
        assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), starts);
        assert_eq!(got[0].1, Owned::Effects(cmd(&[b"SET", b"k", b"v"])));
        assert_eq!(got[1].1, Owned::TxEffects(id(1), cmd(&[b"DEL", b"a"])));
        assert_eq!(got[2].1, Owned::TxCommit(id(1), vec![0, 3]));
        assert_eq!(got[3].1, Owned::BaseEnd(9));
        assert_eq!(
            r.scan(),
            Some(Scan {
                valid_len: b.len() as u64,
                end: End::Clean
            })
        );
    }

    #[derive(Debug, PartialEq)]
    enum Owned {
        Effects(Vec<u8>),
        TxEffects(TxId, Vec<u8>),
        TxCommit(TxId, Vec<u32>),
        BaseEnd(u64),
    }

    impl Record<'_> {
        fn decode_owned(self) -> Owned {
            match self {
                Record::Effects(p) => Owned::Effects(p.to_vec()),
                Record::TxEffects(i, p) => Owned::TxEffects(i, p.to_vec()),
                Record::TxCommit(i, p) => Owned::TxCommit(i, p),
                Record::BaseEnd(n) => Owned::BaseEnd(n),
            }
        }
    }

    #[test]
    fn a_file_cut_at_every_offset_reads_its_whole_records_and_reports_a_torn_tail() {
        let d = TempDir::new("torn");
        let p = d.path().join("log");
        let (b, starts) = sample();
        for cut in 0..=b.len() {
            std::fs::write(&p, &b[..cut]).unwrap();
            let (recs, scan) = read_all(&p, false).unwrap();
            let total = b.len() as u64;
            let ends = starts.iter().skip(1).chain(std::iter::once(&total));
            let expect = ends.filter(|&&e| e <= cut as u64).count();
            assert_eq!(recs.len(), expect, "cut at {cut}");
            let valid = if expect == 0 {
                0
            } else {
                *starts.get(expect).unwrap_or(&(b.len() as u64))
            };
            assert_eq!(scan.valid_len, valid, "cut at {cut}");
            if valid == cut as u64 {
                assert_eq!(scan.end, End::Clean);
            } else {
                assert!(matches!(scan.end, End::Torn { offset, .. } if offset == valid));
            }
        }
    }

    #[test]
    fn a_damaged_middle_record_is_refused_with_file_and_offset_unless_allowed() {
        let d = TempDir::new("mid");
        let p = d.path().join("appendonly.aof.s0.1.incr.kevy");
        let (mut b, starts) = sample();
        // A payload byte of the second record.
        b[starts[1] as usize + HEADER_LEN + 3] ^= 0x40;
        std::fs::write(&p, &b).unwrap();
        let err = read_all(&p, false).unwrap_err();
        let ReadError::Corrupt(c) = err else {
            panic!("expected corruption")
        };
        assert_eq!(c.offset, starts[1]);
        assert_eq!(c.damage, Damage::Checksum);
        let msg = c.to_string();
        assert!(msg.contains("appendonly.aof.s0.1.incr.kevy"), "{msg}");
        assert!(msg.contains(&format!("offset {}", starts[1])), "{msg}");
        let (recs, scan) = read_all(&p, true).unwrap();
        assert_eq!(recs.len(), 1);
        assert_eq!(scan.valid_len, starts[1]);
        assert!(matches!(scan.end, End::CutCorrupt(ref c) if c.offset == starts[1]));
    }

    #[test]
    fn a_damaged_last_record_or_a_zero_filled_tail_is_a_torn_tail() {
        let d = TempDir::new("last");
        let p = d.path().join("log");
        let (b, starts) = sample();
        let mut last = b.clone();
        let n = last.len();
        last[n - 1] ^= 1;
        std::fs::write(&p, &last).unwrap();
        let (recs, scan) = read_all(&p, false).unwrap();
        assert_eq!(recs.len(), 3);
        assert_eq!(
            scan.end,
            End::Torn {
                offset: starts[3],
                damage: Damage::Checksum
            }
        );
        // The size reached the disk before the data: zeros after the
        // records.
        let mut zeros = b.clone();
        zeros.extend_from_slice(&[0u8; 4096]);
        std::fs::write(&p, &zeros).unwrap();
        let (recs, scan) = read_all(&p, false).unwrap();
        assert_eq!(recs.len(), 4);
        assert_eq!(scan.valid_len, b.len() as u64);
        assert!(matches!(scan.end, End::Torn { .. }));
    }

    #[test]
    fn a_huge_declared_length_is_a_short_record_not_an_allocation() {
        let d = TempDir::new("huge");
        let p = d.path().join("log");
        let mut b = Vec::new();
        b.extend_from_slice(&u32::MAX.to_le_bytes());
        b.extend_from_slice(&[0u8; 5]);
        b.extend_from_slice(b"tiny");
        std::fs::write(&p, &b).unwrap();
        let (recs, scan) = read_all(&p, false).unwrap();
        assert!(recs.is_empty());
        assert_eq!(
            scan.end,
            End::Torn {
                offset: 0,
                damage: Damage::Short
            }
        );
    }

    #[test]
    fn a_record_with_a_good_checksum_and_an_unknown_tag_is_malformed() {
        let d = TempDir::new("tag");
        let p = d.path().join("log");
        let mut b = Vec::new();
        encode(&mut b, Tag::Effects, &[b"x"]).unwrap();
        // Re-frame the same payload under tag 9, with a matching checksum.
        let mut bad = Vec::new();
        let len = 1u32.to_le_bytes();
        let crc = crc32c::crc32c_append(crc32c::crc32c_append(crc32c::crc32c(&len), &[9]), b"x");
        bad.extend_from_slice(&len);
        bad.extend_from_slice(&crc.to_le_bytes());
        bad.push(9);
        bad.push(b'x');
        bad.extend_from_slice(&b);
        std::fs::write(&p, &bad).unwrap();
        let ReadError::Corrupt(c) = read_all(&p, false).unwrap_err() else {
            panic!("expected corruption")
        };
        assert_eq!((c.offset, c.damage), (0, Damage::Malformed));
        // A commit whose participant count disagrees with its length.
        let mut b = Vec::new();
        encode(
            &mut b,
            Tag::TxCommit,
            &[&id(1).encode(), &5u32.to_le_bytes()],
        )
        .unwrap();
        encode(&mut b, Tag::Effects, &[b"x"]).unwrap();
        std::fs::write(&p, &b).unwrap();
        let ReadError::Corrupt(c) = read_all(&p, false).unwrap_err() else {
            panic!("expected corruption")
        };
        assert_eq!(c.damage, Damage::Malformed);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Arbitrary bytes (alone, or after valid records) never panic the
        /// reader, and what it accepts is a prefix of whole records.
        #[test]
        fn arbitrary_bytes_never_panic(junk in proptest::collection::vec(any::<u8>(), 0..200), prefix in any::<bool>()) {
            let d = TempDir::new("junk");
            let p = d.path().join("log");
            let mut b = if prefix { sample().0 } else { Vec::new() };
            let good = b.len() as u64;
            b.extend_from_slice(&junk);
            std::fs::write(&p, &b).unwrap();
            match read_all(&p, true) {
                Ok((_, scan)) => prop_assert!(scan.valid_len >= good && scan.valid_len <= b.len() as u64),
                Err(e) => prop_assert!(false, "{e}"),
            }
        }
    }
}
