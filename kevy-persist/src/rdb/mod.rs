//! RDB snapshots: Redis's `dump.rdb` format, written by each shard from a
//! point-in-time view of its store without fork, joined into one file that
//! `redis-check-rdb` accepts and `redis-server` loads, and read back from
//! files kevy or Redis wrote.
//!
//! # What is written
//!
//! RDB version 10, as Redis 7.0 writes it ([`write`]): the `REDIS0010`
//! magic; AUX fields `redis-ver`, `redis-bits`, `ctime`, `used-mem`,
//! `aof-base`; per non-empty database SELECTDB and a RESIZEDB hint; per key
//! EXPIRETIME_MS when it has a TTL, then its type, name and value; EOF and
//! the CRC-64 (Jones polynomial, [`crc64`]) of everything before it.
//! Values use the encodings Redis 7.0 chooses for the same encoding in
//! memory, so a value reads back with the same type, elements and scores:
//!
//! - string: an integer of up to 32 bits int-encoded, else the raw bytes
//!   (no LZF compression, as with `rdbcompression no`);
//! - list: QUICKLIST_2 of listpack nodes of at most 8 KB;
//! - set: INTSET when kevy holds it as an intset, else SET (Redis 7.0 has
//!   no set listpack, so kevy's listpack sets are written as SET);
//! - hash: HASH_LISTPACK when kevy holds it as a listpack, else HASH;
//! - sorted set: ZSET_LISTPACK when a listpack (scores as integers where
//!   they are, else the `%.17g` text Redis 7.0's `d2string` gives),
//!   else ZSET_2 with binary doubles, so every score (±inf, -0, any
//!   fraction) survives exactly.
//!
//! Keys whose TTL has passed but that are not yet reclaimed are written
//! with their expiry, as Redis does; loaders skip them.
//!
//! # What is read
//!
//! Everything Redis 7.0 and 7.2 write, versions 1 to 11 ([`read`]): every
//! opcode (AUX, SELECTDB, RESIZEDB, EXPIRETIME in seconds and in ms, FREQ
//! and IDLE skipped, FUNCTION2 libraries skipped and counted); strings
//! plain, int-encoded (8, 16, 32 bits) and LZF-compressed ([`lzf`]); lists
//! as a plain list, ziplist, quicklist of ziplists and quicklist of
//! listpacks (plain nodes too); sets as a plain set, intset and listpack;
//! hashes as a plain hash, zipmap, ziplist and listpack; sorted sets with
//! text scores (ZSET), binary scores (ZSET_2), ziplist and listpack. Module
//! values, module AUX data, pre-release function libraries and streams are
//! refused with an error that names them. Empty collections and keys whose
//! expiry is before the load's clock are skipped, as a Redis primary skips
//! them. The checksum is verified (0 means the writer disabled it).
//! Corrupt or truncated input is an error carrying its byte offset, never
//! a panic; no allocation is larger than the bytes left in the file.
//!
//! # One value: DUMP and RESTORE
//!
//! [`write_value`] writes a value's type byte and encoding alone, the
//! bytes a key's record holds after its name, and [`read_value`] reads
//! them back with the same checks as a file: Redis's DUMP payload is these
//! bytes followed by the RDB version and a CRC-64.
//!
//! # N shards, one file
//!
//! Each shard writes its own *section* ([`SectionWriter`]): SELECTDB and
//! the keys of its databases, no header and no checksum, to a temp file of
//! its own ([`temp_file`]), all shards at once. [`combine`] then writes the
//! header, copies the sections in order and appends EOF and the CRC-64,
//! computed while copying. A database appears once per shard holding keys
//! of it; Redis's loader treats a repeated SELECTDB as a plain switch
//! (checked with redis-server in the tests). [`save_file`] does the crash
//! dance: the bytes go to `temp-<pid>-<n>.rdb` in the target directory,
//! which is fsynced, renamed over `dump.rdb`, and the directory fsynced.
//! After a crash at any point, `dump.rdb` is the old file or the complete
//! new one, never a mix; a stale temp file may be left behind.
//!
//! # The fork-less snapshot
//!
//! Redis forks and lets the kernel's copy-on-write keep the child's view
//! still. A [`Snapshot`] gets the same view inside the shard: it starts at
//! a moment *T* (between two commands) and is then stepped by the shard's
//! loop, writing a bounded number of keys per step, while commands keep
//! changing the store. It registers as an observer of the store
//! (`kevy_store::Observer`) and keeps, per database, the set of *settled*
//! keys: those whose state at *T* has been written or found not to exist.
//!
//! - Walk: each step advances the database's SCAN cursor over its entries
//!   and writes every entry it meets that is not settled, settling it.
//! - Before a write to a key that is not settled, the store calls
//!   `before_write` with the entry as it is; the snapshot writes it (or,
//!   for a missing key, writes nothing) and settles the key.
//! - Before FLUSHDB, FLUSHALL or SWAPDB replaces a database, the store
//!   calls `db_changed` with its contents; the snapshot writes every
//!   unsettled entry there and closes the database: nothing in it matters
//!   any more.
//!
//! Why the file holds exactly the state at *T*:
//!
//! 1. *Whatever is written for a key is its state at T.* A key that is not
//!    settled has had no write since *T*: the first write after *T* calls
//!    `before_write`, which settles it, and a whole-database change closes
//!    the database. So an unsettled key's current entry, whether the walk
//!    or a hook meets it, is its entry at *T*; and a key missing at the
//!    first `before_write` did not exist at *T*, so writing nothing is
//!    right, and its later creation (settled already) is not written.
//! 2. *No key is written twice.* Every write settles the key first, and a
//!    settled key is never written again; the SCAN cursor may return a
//!    key twice (while the table shrinks), the settled set absorbs that.
//! 3. *Every key of T is written.* A key present at *T* is either written
//!    by a hook before its first change (then point 1 applies), or stays
//!    unchanged in the dict until its database's walk ends. The SCAN
//!    cursor returns every entry present for the whole walk at least once,
//!    however the table grows or shrinks in between (`Dict::scan`), so
//!    the walk meets it. A flush or swap writes every remaining one.
//!
//! Expired keys are entries like any other here (lazy or active expiry is
//! a write, heard by `before_write`), so the file holds the entries of *T*
//! with their expiry times and a loader drops those already past.
//!
//! Costs and limits: the settled set holds a copy of every key written or
//! touched in a database until that database is done (the memory fork's
//! copy-on-write would spend on changed pages; here it is the key names).
//! A flush or swap during a snapshot writes the rest of that database
//! inside the command. One snapshot per writer type runs at a time.

#![forbid(unsafe_code)]

pub mod crc64;
pub mod lzf;
pub mod packed;
pub mod read;
pub mod snapshot;
pub mod write;

pub use read::{load, load_file, load_into, read_value, Checksum, LoadError, LoadInfo, Loaded};
pub use snapshot::Snapshot;
pub use write::{
    combine, save_file, sync_dir, temp_file, write_header, write_store, write_trailer, write_value,
    Aux, CrcWriter, SectionWriter,
};

/// The RDB version written: Redis 7.0's.
pub const RDB_VERSION: u32 = 10;
/// The newest version read: Redis 7.2's (adds set listpacks and a stream
/// format).
pub const MAX_READ_VERSION: u32 = 11;
/// `redis-ver` in the header: the Redis whose format and semantics kevy
/// follows.
pub const REDIS_VER: &str = "7.0.15";

// Opcodes (rdb.h).
pub(crate) const OP_FUNCTION2: u8 = 245;
pub(crate) const OP_FUNCTION_PRE_GA: u8 = 246;
pub(crate) const OP_MODULE_AUX: u8 = 247;
pub(crate) const OP_IDLE: u8 = 248;
pub(crate) const OP_FREQ: u8 = 249;
pub(crate) const OP_AUX: u8 = 250;
pub(crate) const OP_RESIZEDB: u8 = 251;
pub(crate) const OP_EXPIRETIME_MS: u8 = 252;
pub(crate) const OP_EXPIRETIME: u8 = 253;
pub(crate) const OP_SELECTDB: u8 = 254;
pub(crate) const OP_EOF: u8 = 255;

// Value types (rdb.h).
pub(crate) const TYPE_STRING: u8 = 0;
pub(crate) const TYPE_LIST: u8 = 1;
pub(crate) const TYPE_SET: u8 = 2;
pub(crate) const TYPE_ZSET: u8 = 3;
pub(crate) const TYPE_HASH: u8 = 4;
pub(crate) const TYPE_ZSET_2: u8 = 5;
pub(crate) const TYPE_MODULE_PRE_GA: u8 = 6;
pub(crate) const TYPE_MODULE_2: u8 = 7;
pub(crate) const TYPE_HASH_ZIPMAP: u8 = 9;
pub(crate) const TYPE_LIST_ZIPLIST: u8 = 10;
pub(crate) const TYPE_SET_INTSET: u8 = 11;
pub(crate) const TYPE_ZSET_ZIPLIST: u8 = 12;
pub(crate) const TYPE_HASH_ZIPLIST: u8 = 13;
pub(crate) const TYPE_LIST_QUICKLIST: u8 = 14;
pub(crate) const TYPE_STREAM_LISTPACKS: u8 = 15;
pub(crate) const TYPE_HASH_LISTPACK: u8 = 16;
pub(crate) const TYPE_ZSET_LISTPACK: u8 = 17;
pub(crate) const TYPE_LIST_QUICKLIST_2: u8 = 18;
pub(crate) const TYPE_STREAM_LISTPACKS_2: u8 = 19;
pub(crate) const TYPE_SET_LISTPACK: u8 = 20;
pub(crate) const TYPE_STREAM_LISTPACKS_3: u8 = 21;

// Length encodings: the two top bits of the first byte; 0b10 with these
// whole bytes for 32 and 64 bits, 0b11 for a special string encoding.
pub(crate) const LEN_32BIT: u8 = 0x80;
pub(crate) const LEN_64BIT: u8 = 0x81;
pub(crate) const ENC_INT8_TAG: u8 = 0;
pub(crate) const ENC_INT16_TAG: u8 = 1;
pub(crate) const ENC_INT32_TAG: u8 = 2;
pub(crate) const ENC_LZF_TAG: u8 = 3;
pub(crate) const ENC_INT8: u8 = 0xc0 | ENC_INT8_TAG;
pub(crate) const ENC_INT16: u8 = 0xc0 | ENC_INT16_TAG;
pub(crate) const ENC_INT32: u8 = 0xc0 | ENC_INT32_TAG;

// Quicklist node containers (quicklist.h).
pub(crate) const QUICKLIST_NODE_PLAIN: u64 = 1;
pub(crate) const QUICKLIST_NODE_PACKED: u64 = 2;
