//! Reading RDB files Redis 7.0 and 7.2 write (versions 1 to 11): every
//! opcode, every string encoding and every encoding of the five kevy types;
//! module and stream values are refused with an error naming them. Keys go
//! to a visitor one at a time, so a loader can route each to its shard.
//!
//! Untrusted input: every length is checked against the bytes left in the
//! file before anything is allocated for it, every packed blob is walked
//! with checked offsets, and an error names the byte offset where the
//! problem was found.

use super::packed::{self, Item, PackError};
use super::*;
use kevy_store::hash::Hash;
use kevy_store::list::List;
use kevy_store::set::Set;
use kevy_store::stream::{Consumer, Group, Nack, Stream, StreamId};
use kevy_store::zset::ZSet;
use kevy_store::{SetTtl, Store, Value};
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// Why a file could not be loaded.
#[derive(Debug)]
pub enum LoadError {
    Io(io::Error),
    /// The bytes are not a valid RDB file; `offset` is where that showed.
    Corrupt {
        offset: u64,
        what: String,
    },
    /// Valid, but holds something kevy does not load (a module value, a
    /// stream, a newer version).
    Unsupported {
        offset: u64,
        what: String,
    },
    /// The visitor refused the key that starts at `offset`.
    Rejected {
        offset: u64,
        what: String,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Io(e) => write!(f, "RDB read error: {e}"),
            LoadError::Corrupt { offset, what } => {
                write!(f, "corrupt RDB at byte {offset}: {what}")
            }
            LoadError::Unsupported { offset, what } => {
                write!(f, "unsupported RDB content at byte {offset}: {what}")
            }
            LoadError::Rejected { offset, what } => {
                write!(f, "RDB key at byte {offset} not loaded: {what}")
            }
        }
    }
}

impl std::error::Error for LoadError {}

impl From<io::Error> for LoadError {
    fn from(e: io::Error) -> Self {
        LoadError::Io(e)
    }
}

/// What the trailing checksum said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checksum {
    /// It matched the bytes.
    Verified,
    /// It was 0: the writer had checksums off (`rdbchecksum no`).
    Disabled,
    /// The version predates checksums (below 5).
    Absent,
}

/// What a load found besides the keys.
#[derive(Clone, Debug)]
pub struct LoadInfo {
    pub version: u32,
    /// The AUX fields, in file order.
    pub aux: Vec<(Vec<u8>, Vec<u8>)>,
    /// Keys handed to the visitor.
    pub keys: u64,
    /// Keys whose expiry time had passed, skipped as Redis skips them.
    pub expired: u64,
    /// Collections stored empty, skipped as Redis skips them.
    pub empty: u64,
    /// Function libraries (Redis 7 functions): how many, and their code.
    pub functions: u64,
    pub libraries: Vec<Vec<u8>>,
    pub checksum: Checksum,
}

/// A loaded key: database, name, value, absolute expiry in unix ms.
pub struct Loaded {
    pub db: usize,
    pub key: Vec<u8>,
    pub value: Value,
    pub expire_at: Option<u64>,
}

/// Loads the file at `path`; see [`load`].
pub fn load_file(
    path: &Path,
    now_ms: u64,
    visit: impl FnMut(Loaded) -> Result<(), String>,
) -> Result<LoadInfo, LoadError> {
    let f = File::open(path)?;
    let size = f.metadata()?.len();
    load(f, size, now_ms, visit)
}

/// Loads every key of `r` (which holds `size` bytes: no length field may
/// claim more than what is left) into `store`, whose clock decides which
/// keys have expired. A database index beyond the store's, or a key that
/// appears twice, is an error.
pub fn load_into(store: &mut Store, r: impl Read, size: u64) -> Result<LoadInfo, LoadError> {
    let now = store.now();
    let ndbs = store.ndbs();
    load(r, size, now, |k| {
        if k.db >= ndbs {
            return Err(format!("database {} out of range (0..{ndbs})", k.db));
        }
        let mut db = store.db(k.db);
        if db.contains(&k.key) {
            return Err("the key appears twice".to_string());
        }
        let ttl = k.expire_at.map_or(SetTtl::Clear, SetTtl::At);
        db.set(&k.key, k.value, ttl);
        Ok(())
    })
}

/// Reads an RDB stream of `size` bytes, handing each live key to `visit`
/// (keys whose expiry is before `now_ms` are skipped). The checksum is
/// verified at the end (after the keys were visited: a loader that must
/// not keep a corrupt file's keys discards what it loaded on error).
pub fn load(
    r: impl Read,
    size: u64,
    now_ms: u64,
    mut visit: impl FnMut(Loaded) -> Result<(), String>,
) -> Result<LoadInfo, LoadError> {
    let mut s = Src::new(r, size);
    let magic = s.take(9)?;
    if &magic[..5] != b"REDIS" {
        return Err(corrupt(0, "not an RDB file (no REDIS magic)"));
    }
    let version = std::str::from_utf8(&magic[5..])
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .ok_or_else(|| corrupt(5, "bad version digits"))?;
    if !(1..=MAX_READ_VERSION).contains(&version) {
        return Err(LoadError::Unsupported {
            offset: 5,
            what: format!("RDB version {version} (this reads 1 to {MAX_READ_VERSION})"),
        });
    }
    let mut info = LoadInfo {
        version,
        aux: Vec::new(),
        keys: 0,
        expired: 0,
        empty: 0,
        functions: 0,
        libraries: Vec::new(),
        checksum: Checksum::Absent,
    };
    let mut db = 0usize;
    let mut expire: Option<u64> = None;
    loop {
        let at = s.pos;
        match s.byte()? {
            OP_EXPIRETIME_MS => {
                let t = i64::from_le_bytes(s.array()?);
                expire = Some(t.max(0) as u64);
            }
            OP_EXPIRETIME => {
                let t = i32::from_le_bytes(s.array()?);
                expire = Some((t.max(0) as u64) * 1000);
            }
            OP_FREQ => {
                s.byte()?;
            }
            OP_IDLE => {
                s.len()?;
            }
            OP_SELECTDB => {
                db = usize::try_from(s.len()?).map_err(|_| corrupt(at, "database index"))?;
            }
            OP_RESIZEDB => {
                s.len()?;
                s.len()?;
            }
            OP_AUX => {
                let k = s.string()?;
                let v = s.string()?;
                info.aux.push((k, v));
            }
            OP_FUNCTION2 => {
                info.libraries.push(s.string()?);
                info.functions += 1;
            }
            OP_FUNCTION_PRE_GA => {
                return Err(unsupported(
                    at,
                    "a function library in the format of 7.0 release candidates",
                ));
            }
            OP_MODULE_AUX => {
                return Err(unsupported(at, "module auxiliary data"));
            }
            OP_EOF => break,
            t => {
                let key = s.string()?;
                let value = s.value(t, at)?;
                let exp = expire.take();
                let Some(value) = value else {
                    info.empty += 1;
                    continue;
                };
                if exp.is_some_and(|t| t < now_ms) {
                    info.expired += 1;
                    continue;
                }
                let k = Loaded {
                    db,
                    key,
                    value,
                    expire_at: exp,
                };
                visit(k).map_err(|what| LoadError::Rejected { offset: at, what })?;
                info.keys += 1;
            }
        }
    }
    if version >= 5 {
        let crc = s.crc;
        let at = s.pos;
        let stored = u64::from_le_bytes(s.array()?);
        info.checksum = if stored == 0 {
            Checksum::Disabled
        } else if stored == crc {
            Checksum::Verified
        } else {
            return Err(corrupt(
                at,
                &format!("checksum mismatch: file says {stored:016x}, content gives {crc:016x}"),
            ));
        };
    }
    Ok(info)
}

/// One value as a DUMP payload holds it: the RDB type byte and the value's
/// encoding ([`write_value`]'s bytes). Offsets in an
/// error count from the type byte. Bytes after the value are not looked
/// at, as Redis's RESTORE does not look at them; an empty collection is
/// an error, as Redis's loader refuses one there.
pub fn read_value(bytes: &[u8]) -> Result<Value, LoadError> {
    let mut s = Src::new(bytes, bytes.len() as u64);
    let t = s.byte()?;
    s.value(t, 0)?
        .ok_or_else(|| corrupt(0, "an empty collection"))
}

/// Why a DUMP payload was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayloadError {
    /// The footer names a version this does not read, or its CRC-64 does
    /// not match.
    Footer,
    /// A FUNCTION DUMP payload holds a record other than a library.
    NotAFunction,
    /// A record is malformed or truncated.
    BadData,
}

/// The bytes before a DUMP payload's footer (two bytes of RDB version,
/// eight of CRC-64), when the footer checks out: a version this reads and
/// a matching CRC-64 (Redis's `verifyDumpPayload`: Redis 7.0 accepts no
/// zero "checksum off" here).
pub fn payload_body(p: &[u8]) -> Result<&[u8], PayloadError> {
    if p.len() < PAYLOAD_FOOTER {
        return Err(PayloadError::Footer);
    }
    let (body, footer) = p.split_at(p.len() - PAYLOAD_FOOTER);
    let version = u16::from_le_bytes([footer[0], footer[1]]) as u32;
    let stored = u64::from_le_bytes(footer[2..].try_into().expect("eight bytes"));
    let computed = crc64::update(crc64::update(0, body), &footer[..2]);
    if version > MAX_READ_VERSION || stored != computed {
        return Err(PayloadError::Footer);
    }
    Ok(body)
}

/// The libraries' codes in a FUNCTION DUMP payload: FUNCTION2 records
/// ([`function_payload`]'s bytes), the footer
/// checked first.
pub fn read_function_payload(p: &[u8]) -> Result<Vec<Vec<u8>>, PayloadError> {
    let body = payload_body(p)?;
    let mut s = Src::new(body, body.len() as u64);
    let mut codes = Vec::new();
    while s.left() > 0 {
        if s.byte().map_err(|_| PayloadError::BadData)? != OP_FUNCTION2 {
            return Err(PayloadError::NotAFunction);
        }
        codes.push(s.string().map_err(|_| PayloadError::BadData)?);
    }
    Ok(codes)
}

fn corrupt(offset: u64, what: &str) -> LoadError {
    LoadError::Corrupt {
        offset,
        what: what.to_string(),
    }
}

fn unsupported(offset: u64, what: &str) -> LoadError {
    LoadError::Unsupported {
        offset,
        what: what.to_string(),
    }
}

/// A packed blob that began at file offset `base` was malformed.
fn pack_err(base: u64, kind: &str, e: PackError) -> LoadError {
    corrupt(base + e.at as u64, &format!("{kind}: {}", e.what))
}

/// A length, or the marker of a specially encoded string.
enum Len {
    Plain(u64),
    Encoded(u8),
}

/// The input with its position, the bytes left, and the running CRC.
struct Src<R: Read> {
    r: R,
    buf: Box<[u8]>,
    lo: usize,
    hi: usize,
    pos: u64,
    size: u64,
    crc: u64,
}

impl<R: Read> Src<R> {
    fn new(r: R, size: u64) -> Self {
        Src {
            r,
            // No larger than the input: a DUMP payload is often tiny.
            buf: vec![0u8; size.clamp(1, 64 * 1024) as usize].into_boxed_slice(),
            lo: 0,
            hi: 0,
            pos: 0,
            size,
            crc: 0,
        }
    }

    fn left(&self) -> u64 {
        self.size.saturating_sub(self.pos)
    }

    fn read_into(&mut self, out: &mut [u8]) -> Result<(), LoadError> {
        let mut done = 0;
        while done < out.len() {
            if self.lo == self.hi {
                let n = loop {
                    match self.r.read(&mut self.buf) {
                        Ok(n) => break n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(e.into()),
                    }
                };
                if n == 0 {
                    return Err(corrupt(self.pos, "the file ends early (truncated)"));
                }
                self.lo = 0;
                self.hi = n;
            }
            let n = (self.hi - self.lo).min(out.len() - done);
            out[done..done + n].copy_from_slice(&self.buf[self.lo..self.lo + n]);
            self.crc = crc64::update(self.crc, &out[done..done + n]);
            self.lo += n;
            self.pos += n as u64;
            done += n;
        }
        Ok(())
    }

    fn byte(&mut self) -> Result<u8, LoadError> {
        Ok(self.array::<1>()?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], LoadError> {
        let mut a = [0u8; N];
        self.read_into(&mut a)?;
        Ok(a)
    }

    /// `n` bytes, refused before allocating when fewer are left.
    fn take(&mut self, n: u64) -> Result<Vec<u8>, LoadError> {
        if n > self.left() {
            return Err(corrupt(
                self.pos,
                &format!("a length of {n} bytes, but only {} are left", self.left()),
            ));
        }
        let mut v = vec![0u8; n as usize];
        self.read_into(&mut v)?;
        Ok(v)
    }

    fn len_or_enc(&mut self) -> Result<Len, LoadError> {
        let at = self.pos;
        let b = self.byte()?;
        Ok(match b >> 6 {
            0 => Len::Plain((b & 0x3f) as u64),
            1 => Len::Plain((((b & 0x3f) as u64) << 8) | self.byte()? as u64),
            3 => Len::Encoded(b & 0x3f),
            _ => match b {
                LEN_32BIT => Len::Plain(u32::from_be_bytes(self.array()?) as u64),
                LEN_64BIT => Len::Plain(u64::from_be_bytes(self.array()?)),
                _ => return Err(corrupt(at, &format!("unknown length encoding {b:#04x}"))),
            },
        })
    }

    fn len(&mut self) -> Result<u64, LoadError> {
        let at = self.pos;
        match self.len_or_enc()? {
            Len::Plain(n) => Ok(n),
            Len::Encoded(_) => Err(corrupt(at, "an encoded string where a length belongs")),
        }
    }

    /// A count of elements that each take at least `min_bytes`.
    fn count(&mut self, min_bytes: u64) -> Result<u64, LoadError> {
        let at = self.pos;
        let n = self.len()?;
        if n.saturating_mul(min_bytes) > self.left() {
            return Err(corrupt(
                at,
                &format!("{n} elements cannot fit in the {} bytes left", self.left()),
            ));
        }
        Ok(n)
    }

    fn string(&mut self) -> Result<Vec<u8>, LoadError> {
        let at = self.pos;
        match self.len_or_enc()? {
            Len::Plain(n) => self.take(n),
            Len::Encoded(ENC_INT8_TAG) => Ok((self.byte()? as i8).to_string().into_bytes()),
            Len::Encoded(ENC_INT16_TAG) => {
                Ok(i16::from_le_bytes(self.array()?).to_string().into_bytes())
            }
            Len::Encoded(ENC_INT32_TAG) => {
                Ok(i32::from_le_bytes(self.array()?).to_string().into_bytes())
            }
            Len::Encoded(ENC_LZF_TAG) => {
                let clen = self.len()?;
                let ulen = self.len()?;
                // LZF expands at most about 100 times (a three-byte
                // reference yields up to 264 bytes): a larger claim is a lie,
                // refused before allocating for it.
                if ulen > clen.saturating_mul(100) || ulen > MAX_BLOB {
                    return Err(corrupt(
                        at,
                        &format!("LZF string claims {ulen} bytes from {clen}"),
                    ));
                }
                let c = self.take(clen)?;
                lzf::decompress(&c, ulen as usize)
                    .ok_or_else(|| corrupt(at, "invalid LZF compressed string"))
            }
            Len::Encoded(e) => Err(corrupt(at, &format!("unknown string encoding {e}"))),
        }
    }

    /// A score written as text: a length byte (253 NaN, 254 +inf, 255
    /// -inf) and that many ASCII bytes.
    fn text_double(&mut self) -> Result<f64, LoadError> {
        let at = self.pos;
        match self.byte()? {
            253 => Ok(f64::NAN),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            n => {
                let b = self.take(n as u64)?;
                parse_score(&b).ok_or_else(|| corrupt(at, "unreadable score"))
            }
        }
    }

    /// The value of type `t` (the key began at `at`); `None` for an empty
    /// collection.
    fn value(&mut self, t: u8, at: u64) -> Result<Option<Value>, LoadError> {
        let v = match t {
            TYPE_STRING => Value::string(&self.string()?),
            TYPE_LIST => {
                let n = self.count(1)?;
                let mut l = List::new();
                for _ in 0..n {
                    l.push_back(&self.string()?);
                }
                Value::List(Box::new(l))
            }
            TYPE_SET => {
                let n = self.count(1)?;
                let mut set = Set::new();
                for _ in 0..n {
                    let p = self.pos;
                    if !set.insert(&self.string()?) {
                        return Err(corrupt(p, "a set member appears twice"));
                    }
                }
                Value::Set(Box::new(set))
            }
            TYPE_ZSET | TYPE_ZSET_2 => {
                let n = self.count(2)?;
                let mut pairs = Vec::new();
                for _ in 0..n {
                    let m = self.string()?;
                    let p = self.pos;
                    let score = if t == TYPE_ZSET_2 {
                        f64::from_le_bytes(self.array()?)
                    } else {
                        self.text_double()?
                    };
                    if score.is_nan() {
                        return Err(corrupt(p, "a sorted-set score is NaN"));
                    }
                    pairs.push((m, score));
                }
                zset(pairs).ok_or_else(|| corrupt(at, "a sorted-set member appears twice"))?
            }
            TYPE_HASH_METADATA => {
                let min = u64::from_le_bytes(self.array()?);
                let n = self.count(3)?;
                let mut h = Hash::new();
                for _ in 0..n {
                    let p = self.pos;
                    let ttl = self.len()?;
                    let f = self.string()?;
                    let v = self.string()?;
                    if !h.set(&f, &v) {
                        return Err(corrupt(p, "a hash field appears twice"));
                    }
                    if ttl != 0 {
                        // Redis keeps field expiry times in 48 bits.
                        let at = (ttl - 1)
                            .checked_add(min)
                            .filter(|&at| at < 1 << 48)
                            .ok_or_else(|| corrupt(p, "a hash field TTL out of range"))?;
                        h.set_field_ttl(&f, at);
                    }
                }
                Value::Hash(h)
            }
            TYPE_HASH => {
                let n = self.count(2)?;
                let mut h = Hash::new();
                for _ in 0..n {
                    let p = self.pos;
                    let f = self.string()?;
                    let v = self.string()?;
                    if !h.set(&f, &v) {
                        return Err(corrupt(p, "a hash field appears twice"));
                    }
                }
                Value::Hash(h)
            }
            TYPE_LIST_QUICKLIST | TYPE_LIST_QUICKLIST_2 => {
                let n = self.count(1)?;
                let mut l = List::new();
                for _ in 0..n {
                    let container = if t == TYPE_LIST_QUICKLIST_2 {
                        let p = self.pos;
                        match self.len()? {
                            QUICKLIST_NODE_PLAIN => {
                                l.push_back(&self.string()?);
                                continue;
                            }
                            QUICKLIST_NODE_PACKED => "listpack",
                            c => {
                                return Err(corrupt(p, &format!("unknown quicklist container {c}")))
                            }
                        }
                    } else {
                        "ziplist"
                    };
                    let (base, blob) = self.blob()?;
                    let push = |i: Item<'_>| {
                        match i {
                            Item::Bytes(b) => l.push_back(b),
                            Item::Int(v) => l.push_back(&Item::Int(v).to_vec()),
                        }
                        Ok(())
                    };
                    let r = if container == "listpack" {
                        packed::listpack_each(&blob, push)
                    } else {
                        packed::ziplist_each(&blob, push)
                    };
                    r.map_err(|e| pack_err(base, container, e))?;
                }
                Value::List(Box::new(l))
            }
            TYPE_LIST_ZIPLIST => {
                let (base, blob) = self.blob()?;
                let mut l = List::new();
                packed::ziplist_each(&blob, |i| {
                    l.push_back(&i.to_vec());
                    Ok(())
                })
                .map_err(|e| pack_err(base, "ziplist", e))?;
                Value::List(Box::new(l))
            }
            TYPE_SET_INTSET => {
                let (base, blob) = self.blob()?;
                let mut set = Set::new();
                packed::intset_each(&blob, |v| {
                    set.insert(&Item::Int(v).to_vec());
                })
                .map_err(|e| pack_err(base, "intset", e))?;
                Value::Set(Box::new(set))
            }
            TYPE_SET_LISTPACK => {
                let (base, blob) = self.blob()?;
                let mut set = Set::new();
                packed::listpack_each(&blob, |i| {
                    if set.insert(&i.to_vec()) {
                        Ok(())
                    } else {
                        Err(PackError {
                            at: 0,
                            what: "a set member appears twice",
                        })
                    }
                })
                .map_err(|e| pack_err(base, "set listpack", e))?;
                Value::Set(Box::new(set))
            }
            TYPE_HASH_ZIPMAP => {
                let (base, blob) = self.blob()?;
                let mut h = Hash::new();
                packed::zipmap_each(&blob, |f, v| {
                    if h.set(f, v) {
                        Ok(())
                    } else {
                        Err(PackError {
                            at: 0,
                            what: "a hash field appears twice",
                        })
                    }
                })
                .map_err(|e| pack_err(base, "zipmap", e))?;
                Value::Hash(h)
            }
            TYPE_HASH_ZIPLIST | TYPE_HASH_LISTPACK => {
                let (base, blob) = self.blob()?;
                let kind = if t == TYPE_HASH_LISTPACK {
                    "hash listpack"
                } else {
                    "hash ziplist"
                };
                let items =
                    collect(&blob, t == TYPE_HASH_LISTPACK).map_err(|e| pack_err(base, kind, e))?;
                if items.len() % 2 != 0 {
                    return Err(corrupt(base, &format!("{kind} with a field but no value")));
                }
                let mut h = Hash::new();
                for p in items.chunks_exact(2) {
                    if !h.set(&p[0], &p[1]) {
                        return Err(corrupt(
                            base,
                            &format!("{kind}: a hash field appears twice"),
                        ));
                    }
                }
                Value::Hash(h)
            }
            TYPE_ZSET_ZIPLIST | TYPE_ZSET_LISTPACK => {
                let (base, blob) = self.blob()?;
                let kind = if t == TYPE_ZSET_LISTPACK {
                    "zset listpack"
                } else {
                    "zset ziplist"
                };
                let items =
                    collect(&blob, t == TYPE_ZSET_LISTPACK).map_err(|e| pack_err(base, kind, e))?;
                if items.len() % 2 != 0 {
                    return Err(corrupt(base, &format!("{kind} with a member but no score")));
                }
                let mut pairs = Vec::with_capacity(items.len() / 2);
                let mut it = items.into_iter();
                while let (Some(m), Some(s)) = (it.next(), it.next()) {
                    let score = parse_score(&s)
                        .filter(|s| !s.is_nan())
                        .ok_or_else(|| corrupt(base, &format!("{kind}: unreadable score")))?;
                    pairs.push((m, score));
                }
                zset(pairs)
                    .ok_or_else(|| corrupt(base, &format!("{kind}: a member appears twice")))?
            }
            TYPE_MODULE_PRE_GA | TYPE_MODULE_2 => {
                return Err(unsupported(at, &format!("a module value (RDB type {t})")));
            }
            TYPE_STREAM_LISTPACKS | TYPE_STREAM_LISTPACKS_2 | TYPE_STREAM_LISTPACKS_3 => {
                return self.stream(t, at).map(|x| Some(Value::Stream(Box::new(x))));
            }
            _ => return Err(corrupt(at, &format!("unknown value type {t}"))),
        };
        Ok((!v.is_empty_collection()).then_some(v))
    }

    /// A stream of RDB type 15 (Redis 5), 19 (7.0) or 21 (7.2): nodes,
    /// counters (7.0 on), consumer groups with their pending lists and
    /// consumers (7.2 adds each consumer's active time, dropped here).
    fn stream(&mut self, t: u8, at: u64) -> Result<Stream, LoadError> {
        let mut x = Stream::new();
        let nodes = self.count(2)?;
        for _ in 0..nodes {
            let kat = self.pos;
            let key = self.string()?;
            let key: [u8; 16] = key
                .as_slice()
                .try_into()
                .map_err(|_| corrupt(kat, "stream node key is not 16 bytes"))?;
            let (base, lp) = self.blob()?;
            x.load_node(StreamId::from_be_bytes(&key), lp)
                .ok_or_else(|| corrupt(base, "malformed stream node"))?;
        }
        let lat = self.pos;
        let length = self.len()?;
        if length != x.len() {
            return Err(corrupt(lat, "stream length does not match its nodes"));
        }
        x.last_id = StreamId::new(self.len()?, self.len()?);
        if t >= TYPE_STREAM_LISTPACKS_2 {
            x.first_id = StreamId::new(self.len()?, self.len()?);
            x.max_deleted = StreamId::new(self.len()?, self.len()?);
            x.entries_added = self.len()?;
        } else {
            x.first_id = x.edge_id(false).unwrap_or(StreamId::MIN);
            x.entries_added = x.len();
        }
        if x.edge_id(true).is_some_and(|l| l > x.last_id) {
            return Err(corrupt(at, "stream entry past the stream's last id"));
        }
        let groups = self.count(3)?;
        for _ in 0..groups {
            let gat = self.pos;
            let name = self.string()?;
            let last = StreamId::new(self.len()?, self.len()?);
            let entries_read = if t >= TYPE_STREAM_LISTPACKS_2 {
                self.len()? as i64
            } else {
                x.estimate_entries_read(last)
            };
            let mut g = Group::new(last, entries_read);
            let pel = self.count(16 + 8 + 1)?;
            for _ in 0..pel {
                let id = StreamId::from_be_bytes(&self.array::<16>()?);
                let delivery_time = i64::from_le_bytes(self.array()?);
                let delivery_count = self.len()?;
                g.pel.insert(
                    id,
                    Nack {
                        delivery_time,
                        delivery_count,
                        consumer: Vec::new(),
                    },
                );
            }
            let consumers = self.count(1 + 8 + 1)?;
            for _ in 0..consumers {
                let cat = self.pos;
                let cname = self.string()?;
                let seen_time = i64::from_le_bytes(self.array()?);
                if t >= TYPE_STREAM_LISTPACKS_3 {
                    let _active_time: [u8; 8] = self.array()?;
                }
                let mut c = Consumer {
                    seen_time,
                    ..Default::default()
                };
                let n = self.count(16)?;
                for _ in 0..n {
                    let id = StreamId::from_be_bytes(&self.array::<16>()?);
                    match g.pel.get_mut(&id) {
                        Some(nack) if nack.consumer.is_empty() => nack.consumer = cname.clone(),
                        _ => {
                            return Err(corrupt(
                                cat,
                                "consumer's pending entry missing from its group's list",
                            ))
                        }
                    }
                    c.pel.insert(id);
                }
                if g.consumers.insert(cname, c).is_some() {
                    return Err(corrupt(cat, "duplicate stream consumer"));
                }
            }
            if g.pel.values().any(|n| n.consumer.is_empty()) {
                return Err(corrupt(gat, "group's pending entry owned by no consumer"));
            }
            if x.groups.insert(name, g).is_some() {
                return Err(corrupt(gat, "duplicate stream consumer group"));
            }
        }
        Ok(x)
    }

    /// A string holding a packed encoding, and the file offset where its
    /// bytes begin (for an LZF-compressed one, offsets inside it are only
    /// approximate).
    fn blob(&mut self) -> Result<(u64, Vec<u8>), LoadError> {
        let b = self.string()?;
        Ok((self.pos.saturating_sub(b.len() as u64), b))
    }
}

/// Longest string or blob decompressed from LZF (Redis's
/// `proto-max-bulk-len` default is 512 MB; packed blobs stay far below).
const MAX_BLOB: u64 = 1 << 32;

/// Every element of a listpack (or ziplist) as bytes.
fn collect(blob: &[u8], listpack: bool) -> Result<Vec<Vec<u8>>, PackError> {
    let mut out = Vec::new();
    let push = |i: Item<'_>| {
        out.push(i.to_vec());
        Ok(())
    };
    if listpack {
        packed::listpack_each(blob, push)?;
    } else {
        packed::ziplist_each(blob, push)?;
    }
    Ok(out)
}

/// A score as text, as Redis's `strtod` reads it ("inf", "-inf" too).
fn parse_score(b: &[u8]) -> Option<f64> {
    std::str::from_utf8(b).ok()?.parse::<f64>().ok()
}

/// A sorted set of distinct members; `None` when one appears twice.
fn zset(pairs: Vec<(Vec<u8>, f64)>) -> Option<Value> {
    let mut names: Vec<&[u8]> = pairs.iter().map(|(m, _)| m.as_slice()).collect();
    names.sort_unstable();
    if names.windows(2).any(|w| w[0] == w[1]) {
        return None;
    }
    Some(Value::ZSet(Box::new(ZSet::from_pairs(pairs))))
}

#[cfg(test)]
mod tests {
    use super::super::{function_payload, seal_payload};
    use super::*;

    #[test]
    fn function_payloads_read_back() {
        let long = vec![b'x'; 20_000];
        let codes: [&[u8]; 3] = [b"#!lua name=a\n", &[], &long];
        let p = function_payload(codes);
        assert_eq!(p[0], OP_FUNCTION2);
        assert_eq!(read_function_payload(&p).unwrap(), codes);
        assert_eq!(read_function_payload(&function_payload([])), Ok(vec![]));
    }

    #[test]
    fn function_payloads_read_lzf_records() {
        let code = b"#!lua name=z\n".repeat(8);
        let c = lzf::compress(&code, code.len() - 4).unwrap();
        let mut p = vec![OP_FUNCTION2, ENC_LZF];
        super::super::write::put_len(&mut p, c.len() as u64);
        super::super::write::put_len(&mut p, code.len() as u64);
        p.extend_from_slice(&c);
        seal_payload(&mut p);
        assert_eq!(read_function_payload(&p).unwrap(), vec![code]);
    }

    #[test]
    fn function_payload_errors_are_told_apart() {
        let good = function_payload([&b"#!lua name=a\n"[..]]);
        let mut bad_crc = good.clone();
        *bad_crc.last_mut().unwrap() ^= 1;
        let mut newer = good[..good.len() - 10].to_vec();
        newer.extend_from_slice(&((MAX_READ_VERSION + 1) as u16).to_le_bytes());
        let crc = crc64::update(0, &newer);
        newer.extend_from_slice(&crc.to_le_bytes());
        let sealed = |body: &[u8]| {
            let mut p = body.to_vec();
            seal_payload(&mut p);
            p
        };
        let cases: &[(&[u8], PayloadError)] = &[
            (b"short", PayloadError::Footer),
            (&bad_crc, PayloadError::Footer),
            (&newer, PayloadError::Footer),
            (&sealed(&[TYPE_STRING, 1, b'a']), PayloadError::NotAFunction),
            (&sealed(&[OP_FUNCTION2]), PayloadError::BadData),
            (&sealed(&[OP_FUNCTION2, 5, b'a']), PayloadError::BadData),
            (&sealed(&[OP_FUNCTION2, 0xc4]), PayloadError::BadData),
        ];
        for (p, want) in cases {
            assert_eq!(read_function_payload(p), Err(*want), "{p:?}");
        }
    }
}
