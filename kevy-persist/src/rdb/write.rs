//! Writing RDB: the header, one shard's section of keys, and the trailer,
//! each to any `Write`, so that shards write their sections side by side
//! and [`combine`] joins them into one file with one checksum. Values are
//! streamed: a value's bytes go out in pieces of at most `SPILL` bytes
//! (plus one element), so writing never holds more than that, whatever the
//! store's size.

use super::packed::{intset, LpWriter};
use super::*;
use kevy_store::set::Member;
use kevy_store::{Entry, Store, StrValue, Value};
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// A value's serialised bytes are handed to the writer whenever this many
/// have gathered.
const SPILL: usize = 64 * 1024;

/// The largest listpack node of a list (Redis's `list-max-listpack-size
/// -2`, 8 KB); a lone larger element gets a node of its own.
const LIST_NODE_BYTES: usize = 8192;

/// What the header's AUX fields say.
#[derive(Clone, Debug)]
pub struct Aux {
    /// `redis-ver`: the Redis version whose format and semantics this
    /// file follows.
    pub redis_ver: String,
    /// `ctime`: creation time, unix seconds.
    pub ctime: u64,
    /// `used-mem`: the store's memory use when the snapshot began.
    pub used_mem: u64,
    /// Function libraries' code, written after the AUX fields as Redis
    /// writes them (FUNCTION2 records).
    pub functions: Vec<Vec<u8>>,
}

impl Aux {
    /// Fields for a snapshot of `store` taken now (its clock).
    pub fn for_store(store: &Store) -> Aux {
        Aux {
            redis_ver: REDIS_VER.to_string(),
            ctime: store.now() / 1000,
            used_mem: store.used_memory() as u64,
            functions: Vec::new(),
        }
    }
}

/// A writer that keeps the CRC-64 of everything written through it.
pub struct CrcWriter<W: Write> {
    inner: W,
    crc: u64,
}

impl<W: Write> CrcWriter<W> {
    pub fn new(inner: W) -> Self {
        CrcWriter { inner, crc: 0 }
    }

    pub fn crc(&self) -> u64 {
        self.crc
    }

    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: Write> Write for CrcWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc = crc64::update(self.crc, &buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes the magic, the version and the AUX fields.
pub fn write_header(w: &mut impl Write, aux: &Aux) -> io::Result<()> {
    let mut b = Vec::with_capacity(128);
    b.extend_from_slice(format!("REDIS{RDB_VERSION:04}").as_bytes());
    let fields: [(&[u8], Vec<u8>); 5] = [
        (b"redis-ver", aux.redis_ver.as_bytes().to_vec()),
        (b"redis-bits", b"64".to_vec()),
        (b"ctime", aux.ctime.to_string().into_bytes()),
        (b"used-mem", aux.used_mem.to_string().into_bytes()),
        (b"aof-base", b"0".to_vec()),
    ];
    for (k, v) in fields {
        b.push(OP_AUX);
        put_str(&mut b, k);
        put_str(&mut b, &v);
    }
    for code in &aux.functions {
        b.push(OP_FUNCTION2);
        put_str(&mut b, code);
    }
    w.write_all(&b)
}

/// Ends a file whose bytes so far had CRC `crc`: the EOF opcode and the
/// checksum (of everything before it, the opcode included).
pub fn write_trailer(w: &mut impl Write, crc: u64) -> io::Result<()> {
    let crc = crc64::update(crc, &[OP_EOF]);
    let mut b = [0u8; 9];
    b[0] = OP_EOF;
    b[1..].copy_from_slice(&crc.to_le_bytes());
    w.write_all(&b)
}

/// One whole RDB file of `store` (every database) into `w`.
pub fn write_store<W: Write>(w: W, store: &Store, aux: &Aux) -> io::Result<W> {
    let mut cw = CrcWriter::new(w);
    write_header(&mut cw, aux)?;
    let mut sec = SectionWriter::new(cw);
    sec.write_store(store)?;
    let mut cw = sec.into_inner();
    let crc = cw.crc();
    write_trailer(&mut cw.inner, crc)?;
    Ok(cw.into_inner())
}

/// Joins a header (from `aux`), the sections in order, and the trailer
/// into `out`, computing the checksum while copying. Sections come from
/// [`SectionWriter`]s, typically one temp file per shard; a database may
/// appear in several sections (a loader selects it again).
pub fn combine<W: Write, R: Read>(
    out: W,
    aux: &Aux,
    sections: impl IntoIterator<Item = R>,
) -> io::Result<W> {
    combine_with(out, aux, sections, true)
}

/// [`combine`], with the checksum left out when `checksum` is false
/// (Redis's `rdbchecksum no`: eight zero bytes, which loaders read as "not
/// computed").
pub fn combine_with<W: Write, R: Read>(
    out: W,
    aux: &Aux,
    sections: impl IntoIterator<Item = R>,
    checksum: bool,
) -> io::Result<W> {
    let mut cw = CrcWriter::new(out);
    write_header(&mut cw, aux)?;
    for mut s in sections {
        io::copy(&mut s, &mut cw)?;
    }
    if checksum {
        let crc = cw.crc();
        write_trailer(&mut cw.inner, crc)?;
    } else {
        let mut b = [0u8; 9];
        b[0] = OP_EOF;
        cw.inner.write_all(&b)?;
    }
    Ok(cw.into_inner())
}

/// Writes one shard's keys: SELECTDB (and RESIZEDB the first time a
/// database is selected, when a size is known), then each key with its
/// expiry and value. No header, trailer or checksum: see [`combine`].
pub struct SectionWriter<W: Write> {
    w: W,
    /// The database the last SELECTDB named.
    db: Option<usize>,
    /// Databases already given their RESIZEDB hint.
    hinted: Vec<bool>,
    buf: Vec<u8>,
    /// A spare buffer for listpack and intset blobs.
    pack: Vec<u8>,
}

impl<W: Write> SectionWriter<W> {
    pub fn new(w: W) -> Self {
        SectionWriter {
            w,
            db: None,
            hinted: Vec::new(),
            buf: Vec::with_capacity(4096),
            pack: Vec::new(),
        }
    }

    pub fn get_ref(&self) -> &W {
        &self.w
    }

    /// Flushes and hands back the writer.
    pub fn into_inner(mut self) -> W {
        // Everything is written at the end of each call; nothing is held.
        debug_assert!(self.buf.is_empty());
        let _ = self.w.flush();
        self.w
    }

    /// Makes `db` the current database, with a RESIZEDB hint of `(keys,
    /// keys with a TTL)` the first time it is selected, if given.
    pub fn select(&mut self, db: usize, sizes: Option<(usize, usize)>) -> io::Result<()> {
        if self.db == Some(db) {
            return Ok(());
        }
        self.db = Some(db);
        self.buf.push(OP_SELECTDB);
        put_len(&mut self.buf, db as u64);
        if self.hinted.len() <= db {
            self.hinted.resize(db + 1, false);
        }
        if let (Some((keys, expires)), false) = (sizes, self.hinted[db]) {
            self.hinted[db] = true;
            self.buf.push(OP_RESIZEDB);
            put_len(&mut self.buf, keys as u64);
            put_len(&mut self.buf, expires as u64);
        }
        self.drain()
    }

    /// Every database of `store`, empty ones skipped, as Redis does.
    pub fn write_store(&mut self, store: &Store) -> io::Result<()> {
        for db in 0..store.ndbs() {
            let sizes = store.db_counts(db);
            if sizes.0 == 0 {
                continue;
            }
            self.select(db, Some(sizes))?;
            for (k, e) in store.entries(db) {
                self.key(db, k, e)?;
            }
        }
        self.w.flush()
    }

    /// One key of database `db` (selected first if it is not current).
    pub fn key(&mut self, db: usize, key: &[u8], e: &Entry) -> io::Result<()> {
        self.select(db, None)?;
        if let Some(at) = e.expire_at() {
            self.buf.push(OP_EXPIRETIME_MS);
            self.buf.extend_from_slice(&at.to_le_bytes());
        }
        self.value(key, &e.value)?;
        self.drain()
    }

    fn drain(&mut self) -> io::Result<()> {
        self.w.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    /// Hands the gathered bytes over once there are enough of them.
    fn spill(&mut self) -> io::Result<()> {
        if self.buf.len() >= SPILL {
            self.drain()?;
        }
        Ok(())
    }

    /// Type byte, key, and value, in the encodings Redis 7.0 writes.
    fn value(&mut self, key: &[u8], v: &Value) -> io::Result<()> {
        self.buf.push(value_type(v));
        put_str(&mut self.buf, key);
        self.encoding(v)
    }

    /// A value's encoding: what follows its type byte and key name.
    fn encoding(&mut self, v: &Value) -> io::Result<()> {
        match v {
            Value::Str(StrValue::Int(n)) => put_int_str(&mut self.buf, *n),
            Value::Str(s) => put_str(&mut self.buf, &s.to_vec()),
            Value::List(l) => {
                // Nodes are cut where the 8 KB limit falls; their count
                // comes first, so find the cuts before writing.
                let mut nodes = 0u64;
                let mut size = 0;
                for e in l.iter() {
                    let es = LpWriter::entry_size(e);
                    if size == 0 || size + es > LIST_NODE_BYTES {
                        nodes += 1;
                        size = LpWriter::EMPTY_SIZE;
                    }
                    size += es;
                }
                put_len(&mut self.buf, nodes);
                let mut lp = LpWriter::reuse(std::mem::take(&mut self.pack));
                for e in l.iter() {
                    let es = LpWriter::entry_size(e);
                    if lp.count() > 0 && lp.bytes() + es > LIST_NODE_BYTES {
                        self.pack = lp.finish();
                        self.node()?;
                        lp = LpWriter::reuse(std::mem::take(&mut self.pack));
                    }
                    lp.push(e);
                }
                self.pack = lp.finish();
                self.node()?;
            }
            Value::Set(s) if s.encoding_name() == "intset" => {
                let mut ints: Vec<i64> = s
                    .iter()
                    .map(|m| match m {
                        Member::Int(v) => v,
                        // An intset holds integers only.
                        Member::Bytes(b) => kevy_store::num::parse_i64(b).unwrap_or(0),
                    })
                    .collect();
                ints.sort_unstable();
                put_str(&mut self.buf, &intset(&ints));
            }
            Value::Set(s) => {
                put_len(&mut self.buf, s.len() as u64);
                for m in s.iter() {
                    m.with_bytes(|b| put_str(&mut self.buf, b));
                    self.spill()?;
                }
            }
            Value::Hash(h) if h.encoding_name() == "listpack" => {
                let mut lp = LpWriter::reuse(std::mem::take(&mut self.pack));
                for (f, v) in h.iter() {
                    lp.push(f);
                    lp.push(v);
                }
                self.pack = lp.finish();
                put_str(&mut self.buf, &self.pack);
            }
            Value::Hash(h) if h.has_field_ttls() => {
                let min = h.min_field_ttl().unwrap_or(0);
                self.buf.extend_from_slice(&min.to_le_bytes());
                put_len(&mut self.buf, h.len() as u64);
                for (f, v) in h.iter() {
                    let ttl = h.field_ttl(f).map_or(0, |at| at - min + 1);
                    put_len(&mut self.buf, ttl);
                    put_str(&mut self.buf, f);
                    put_str(&mut self.buf, v);
                    self.spill()?;
                }
            }
            Value::Hash(h) => {
                put_len(&mut self.buf, h.len() as u64);
                for (f, v) in h.iter() {
                    put_str(&mut self.buf, f);
                    put_str(&mut self.buf, v);
                    self.spill()?;
                }
            }
            Value::ZSet(z) if z.encoding_name() == "listpack" => {
                let mut lp = LpWriter::reuse(std::mem::take(&mut self.pack));
                for (m, s) in z.iter() {
                    lp.push(m);
                    push_score(&mut lp, s);
                }
                self.pack = lp.finish();
                put_str(&mut self.buf, &self.pack);
            }
            Value::ZSet(z) => {
                put_len(&mut self.buf, z.len() as u64);
                // Redis writes the skiplist from the tail, so that loading
                // inserts each member at the head; the order is free.
                for (m, s) in z.iter() {
                    put_str(&mut self.buf, m);
                    self.buf.extend_from_slice(&s.to_le_bytes());
                    self.spill()?;
                }
            }
            Value::Stream(x) => self.stream(x)?,
        }
        Ok(())
    }

    /// A stream as Redis 7.0 writes it (`RDB_TYPE_STREAM_LISTPACKS_2`):
    /// its nodes (master id, listpack) as they are, the counters, then
    /// each consumer group with its pending list and consumers.
    fn stream(&mut self, x: &kevy_store::stream::Stream) -> io::Result<()> {
        put_len(&mut self.buf, x.node_count() as u64);
        for (mid, node) in x.nodes() {
            put_str(&mut self.buf, &mid.to_be_bytes());
            put_str(&mut self.buf, node);
            self.spill()?;
        }
        put_len(&mut self.buf, x.len());
        for id in [x.last_id, x.first_id, x.max_deleted] {
            put_len(&mut self.buf, id.ms);
            put_len(&mut self.buf, id.seq);
        }
        put_len(&mut self.buf, x.entries_added);
        put_len(&mut self.buf, x.groups.len() as u64);
        for (name, g) in &x.groups {
            put_str(&mut self.buf, name);
            put_len(&mut self.buf, g.last_id.ms);
            put_len(&mut self.buf, g.last_id.seq);
            // -1 (not known) goes as the 64-bit length Redis's cast gives.
            put_len(&mut self.buf, g.entries_read as u64);
            put_len(&mut self.buf, g.pel.len() as u64);
            for (id, n) in &g.pel {
                self.buf.extend_from_slice(&id.to_be_bytes());
                self.buf.extend_from_slice(&n.delivery_time.to_le_bytes());
                put_len(&mut self.buf, n.delivery_count);
                self.spill()?;
            }
            put_len(&mut self.buf, g.consumers.len() as u64);
            for (cname, c) in &g.consumers {
                put_str(&mut self.buf, cname);
                self.buf.extend_from_slice(&c.seen_time.to_le_bytes());
                put_len(&mut self.buf, c.pel.len() as u64);
                for id in &c.pel {
                    self.buf.extend_from_slice(&id.to_be_bytes());
                    self.spill()?;
                }
            }
        }
        Ok(())
    }

    /// One packed list node (in `self.pack`).
    fn node(&mut self) -> io::Result<()> {
        put_len(&mut self.buf, QUICKLIST_NODE_PACKED);
        put_str(&mut self.buf, &self.pack);
        self.spill()
    }
}

/// The RDB type byte [`SectionWriter`] writes for `v`, which depends on
/// its encoding as well as its type.
fn value_type(v: &Value) -> u8 {
    match v {
        Value::Str(_) => TYPE_STRING,
        Value::List(_) => TYPE_LIST_QUICKLIST_2,
        Value::Set(s) if s.encoding_name() == "intset" => TYPE_SET_INTSET,
        Value::Set(_) => TYPE_SET,
        Value::Hash(h) if h.encoding_name() == "listpack" => TYPE_HASH_LISTPACK,
        Value::Hash(h) if h.has_field_ttls() => TYPE_HASH_METADATA,
        Value::Hash(_) => TYPE_HASH,
        Value::ZSet(z) if z.encoding_name() == "listpack" => TYPE_ZSET_LISTPACK,
        Value::ZSet(_) => TYPE_ZSET_2,
        Value::Stream(_) => TYPE_STREAM_LISTPACKS_2,
    }
}

/// One value as a DUMP payload begins: its RDB type byte and encoding, the
/// bytes a snapshot writes for a key minus its expiry and name (Redis's
/// `rdbSaveObjectType` and `rdbSaveObject`).
pub fn write_value(w: &mut impl Write, v: &Value) -> io::Result<()> {
    let mut sec = SectionWriter::new(w);
    sec.buf.push(value_type(v));
    sec.encoding(v)?;
    sec.drain()
}

/// A sorted-set score as Redis 7.0's listpack holds it: the text of its
/// `d2string`, which `lpAppend` stores as an integer when it is one.
fn push_score(lp: &mut LpWriter, s: f64) {
    lp.push(score_text(s).as_bytes());
}

/// Redis 7.0's `d2string`: "inf", "-inf", "0" and "-0"; an integral value
/// of at most 52 bits as an integer; anything else as C's `%.17g`, whose
/// 17 significant digits read back to the same double.
fn score_text(s: f64) -> String {
    const LIMIT: f64 = (1u64 << 52) as f64;
    if s.is_nan() {
        "nan".to_string()
    } else if s.is_infinite() {
        if s < 0.0 { "-inf" } else { "inf" }.to_string()
    } else if s == 0.0 {
        if s.is_sign_negative() { "-0" } else { "0" }.to_string()
    } else if s > -(LIMIT - 1.0) && s < LIMIT && s == s.trunc() {
        (s as i64).to_string()
    } else {
        printf_g17(s)
    }
}

/// C's `printf("%.17g", v)` for a finite `v`: 17 significant digits, in
/// fixed notation when the decimal exponent is in -4..17, else scientific
/// with at least two exponent digits; trailing zeros dropped either way.
fn printf_g17(v: f64) -> String {
    let sci = format!("{v:.16e}");
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let trim = |t: &str| -> String {
        if t.contains('.') {
            t.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            t.to_string()
        }
    };
    if (-4..17).contains(&exp) {
        trim(&format!("{v:.*}", (16 - exp) as usize))
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mant), exp.abs())
    }
}

/// Ends a DUMP payload: the RDB version, two bytes, and the CRC-64 of
/// everything before it (Redis's `createDumpPayload`).
pub fn seal_payload(p: &mut Vec<u8>) {
    p.extend_from_slice(&(RDB_VERSION as u16).to_le_bytes());
    let crc = crc64::update(0, p);
    p.extend_from_slice(&crc.to_le_bytes());
}

/// FUNCTION DUMP's payload: a FUNCTION2 record per library, its code
/// written as a file holds it (LZF-compressed under `rdbcompression`, as
/// Redis's `rdbSaveFunctions`), then the footer.
pub fn function_payload<'a>(codes: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut p = Vec::new();
    for code in codes {
        p.push(OP_FUNCTION2);
        put_str(&mut p, code);
    }
    seal_payload(&mut p);
    p
}

/// An RDB length: 6 bits, 14 bits, or a marker and 32 or 64 bits, big-endian.
pub(crate) fn put_len(b: &mut Vec<u8>, n: u64) {
    if n < 1 << 6 {
        b.push(n as u8);
    } else if n < 1 << 14 {
        b.extend_from_slice(&[0x40 | (n >> 8) as u8, n as u8]);
    } else if n <= u32::MAX as u64 {
        b.push(LEN_32BIT);
        b.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        b.push(LEN_64BIT);
        b.extend_from_slice(&n.to_be_bytes());
    }
}

/// An integer in the smallest of the 8, 16 and 32-bit string encodings;
/// `None` when it needs more.
fn int_encoding(v: i64) -> Option<([u8; 5], usize)> {
    let mut e = [0u8; 5];
    if let Ok(x) = i8::try_from(v) {
        e[0] = ENC_INT8;
        e[1] = x as u8;
        Some((e, 2))
    } else if let Ok(x) = i16::try_from(v) {
        e[0] = ENC_INT16;
        e[1..3].copy_from_slice(&x.to_le_bytes());
        Some((e, 3))
    } else if let Ok(x) = i32::try_from(v) {
        e[0] = ENC_INT32;
        e[1..5].copy_from_slice(&x.to_le_bytes());
        Some((e, 5))
    } else {
        None
    }
}

/// An integer string value: int-encoded when it fits 32 bits, else its
/// decimal text.
pub(crate) fn put_int_str(b: &mut Vec<u8>, v: i64) {
    match int_encoding(v) {
        Some((e, n)) => b.extend_from_slice(&e[..n]),
        None => put_raw(b, v.to_string().as_bytes()),
    }
}

/// A string, int-encoded when it is the canonical text of an integer that
/// fits 32 bits (Redis's `rdbTryIntegerEncoding`).
pub(crate) fn put_str(b: &mut Vec<u8>, s: &[u8]) {
    if s.len() <= 11 {
        if let Some((e, n)) = kevy_store::num::parse_i64(s).and_then(int_encoding) {
            b.extend_from_slice(&e[..n]);
            return;
        }
    }
    put_raw(b, s);
}

fn put_raw(b: &mut Vec<u8>, s: &[u8]) {
    // Redis's `rdbSaveRawString`: longer than 20 bytes and compression on,
    // LZF when it saves at least 4 bytes.
    if s.len() > 20 && COMPRESS.load(Ordering::Relaxed) {
        if let Some(c) = super::lzf::compress(s, s.len() - 4) {
            b.push(ENC_LZF);
            put_len(b, c.len() as u64);
            put_len(b, s.len() as u64);
            b.extend_from_slice(&c);
            return;
        }
    }
    put_len(b, s.len() as u64);
    b.extend_from_slice(s);
}

/// `rdbcompression`: strings longer than 20 bytes are LZF-compressed when
/// that saves space. Process-wide, as the setting is; off until the server
/// turns it on.
static COMPRESS: AtomicBool = AtomicBool::new(false);

/// Turns LZF compression of long strings on or off (`rdbcompression`).
pub fn set_compression(on: bool) {
    COMPRESS.store(on, Ordering::Relaxed);
}

// ---- the file dance ----------------------------------------------------------------

/// Distinguishes temp files of one process.
static TEMP_SEQ: AtomicU64 = AtomicU64::new(0);

/// A new file `temp-<pid>-<n>.rdb` in `dir` (created, never reused), for a
/// snapshot or one shard's section.
pub fn temp_file(dir: &Path) -> io::Result<(PathBuf, File)> {
    loop {
        let n = TEMP_SEQ.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("temp-{}-{n}.rdb", std::process::id()));
        match File::options().write(true).create_new(true).open(&path) {
            Ok(f) => return Ok((path, f)),
            // Left by an earlier process that had the same pid.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Replaces `dir/name` with what `write` produces, crash-safely: the bytes
/// go to a temp file in the same directory, which is fsynced, renamed over
/// the target, and the directory fsynced, so after a crash the name holds
/// either the old file or the whole new one. On error the temp file is
/// removed and the target is untouched.
pub fn save_file(
    dir: &Path,
    name: &str,
    write: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
) -> io::Result<()> {
    let (tmp, f) = temp_file(dir)?;
    let done = (|| {
        let mut w = BufWriter::with_capacity(SPILL, f);
        write(&mut w)?;
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, dir.join(name))?;
        sync_dir(dir)
    })();
    if done.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    done
}

/// Makes a rename in `dir` durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_use_the_smallest_form() {
        let cases: &[(u64, &[u8])] = &[
            (0, &[0]),
            (63, &[63]),
            (64, &[0x40, 64]),
            (16383, &[0x7f, 0xff]),
            (16384, &[0x80, 0, 0, 0x40, 0]),
            (1 << 32, &[0x81, 0, 0, 0, 1, 0, 0, 0, 0]),
        ];
        for (n, want) in cases {
            let mut b = Vec::new();
            put_len(&mut b, *n);
            assert_eq!(b, *want, "{n}");
        }
    }

    #[test]
    fn strings_are_int_encoded_like_redis() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"12", &[0xc0, 12]),
            (b"-128", &[0xc0, 0x80]),
            (b"300", &[0xc1, 0x2c, 0x01]),
            (b"70000", &[0xc2, 0x70, 0x11, 0x01, 0x00]),
            (b"012", &[3, b'0', b'1', b'2']),
            (
                b"4294967296",
                &[
                    10, b'4', b'2', b'9', b'4', b'9', b'6', b'7', b'2', b'9', b'6',
                ],
            ),
        ];
        for (s, want) in cases {
            let mut b = Vec::new();
            put_str(&mut b, s);
            assert_eq!(b, *want, "{:?}", String::from_utf8_lossy(s));
        }
    }

    #[test]
    fn scores_print_as_redis_d2string() {
        // What redis-server 7.0 stores in a sorted-set listpack.
        let cases: &[(f64, &str)] = &[
            (1.5, "1.5"),
            (0.1, "0.10000000000000001"),
            (1e-5, "1.0000000000000001e-05"),
            (123456789.125, "123456789.125"),
            (1e20, "1e+20"),
            (-2.5e-300, "-2.5e-300"),
            (3.0, "3"),
            (-4503599627370494.0, "-4503599627370494"),
            (4503599627370496.0, "4503599627370496"),
            (1e16, "10000000000000000"),
            (1e17, "1e+17"),
            (0.0001, "0.0001"),
            (0.00001234, "1.234e-05"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (-0.0, "-0"),
            (0.0, "0"),
            (f64::MAX, "1.7976931348623157e+308"),
        ];
        for (v, want) in cases {
            assert_eq!(score_text(*v), *want, "{v:e}");
            if v.is_finite() {
                assert_eq!(want.parse::<f64>().unwrap().to_bits(), v.to_bits());
            }
        }
    }

    #[test]
    fn save_file_replaces_the_target_and_leaves_no_temp() {
        let dir = std::env::temp_dir().join(format!("kevy-rdb-save-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        save_file(&dir, "dump.rdb", |w| w.write_all(b"one")).unwrap();
        save_file(&dir, "dump.rdb", |w| w.write_all(b"two")).unwrap();
        assert_eq!(fs::read(dir.join("dump.rdb")).unwrap(), b"two");
        let failed = save_file(&dir, "dump.rdb", |w| {
            w.write_all(b"partial")?;
            Err(io::Error::other("disk full"))
        });
        assert!(failed.is_err());
        assert_eq!(fs::read(dir.join("dump.rdb")).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["dump.rdb"]);
        fs::remove_dir_all(&dir).unwrap();
    }
}
