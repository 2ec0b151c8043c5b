//! RDB snapshots: Redis's `dump.rdb` format, written by each shard from a
//! point-in-time view of its store without fork, joined into one file that
//! `redis-check-rdb` accepts and `redis-server` loads, and read back from
//! files kevy or Redis wrote.
//!
//! # What is written
//!
//! RDB version 10, as Redis 7.0 writes it ([`write`](mod@write)): the `REDIS0010`
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
//! - hash: HASH_LISTPACK when kevy holds it as a listpack, else HASH; a
//!   hash with field TTLs as Redis 7.4's HASH_METADATA (type 24), which
//!   Redis 7.0 refuses rather than loading the hash without its TTLs;
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
//! and IDLE skipped, FUNCTION2 libraries' code handed back in
//! [`LoadInfo`]); strings
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
//! bytes followed by the RDB version and a CRC-64 ([`seal_payload`],
//! checked by [`payload_body`]). FUNCTION DUMP's payload holds FUNCTION2
//! records instead, with the same footer ([`function_payload`],
//! [`read_function_payload`]).
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
//! (`kevy_store::Observer`).
//!
//! The walk of a database follows its SCAN cursor (`Store::scan_entries`).
//! Read the cursor's bits reversed as a position in the hash space:
//! after the walk's last step returned cursor *c*, it has *passed* exactly
//! the keys whose hash *h* has `rev(h) < rev(c)`, however the table grew,
//! shrank or rehashed in between (each step covers the range of reversed
//! hashes from the cursor to the next one; a resize only changes how
//! finely the range is cut; proof at `kevy_store::Dict::scan_once`). So
//! whether the walk has passed a key is a pure function of the key's hash
//! and the cursor (`kevy_store::ScanOrder::passed`), and the store's scan
//! returns each key at most once: a shrink merges buckets and could hand
//! back keys already passed, which the scan skips. The table resizes as
//! usual during a snapshot; nothing needs pausing. Per database the
//! snapshot keeps the cursor and the set *ahead* of keys the walk has not
//! passed but whose state at *T* a write already settled:
//!
//! - Walk: each step advances the cursor and writes every entry it meets,
//!   except the keys in *ahead*, which it skips and forgets.
//! - Before a write to a key, the store calls `before_write` with the
//!   entry as it is. If the walk has passed the key, or the key is in
//!   *ahead*, nothing happens. Else the snapshot writes the entry (for a
//!   missing key, nothing) and adds the key to *ahead*.
//! - Before FLUSHDB, FLUSHALL or SWAPDB replaces a database, the store
//!   calls `db_changed` with its contents; the snapshot writes every entry
//!   there that the walk has not passed and that is not in *ahead*, and
//!   closes the database: nothing in it matters any more.
//!
//! Why the file holds exactly the state at *T*. Call a key *settled* when
//! the walk has passed it or it is in *ahead*; the cursor only moves
//! forward, so a settled key stays settled until its database closes.
//!
//! 1. *An unsettled key has had no write since T.* The first write after
//!    *T* calls `before_write`; if the key was unsettled then, it joins
//!    *ahead*; and a whole-database change closes the database. So the
//!    entry an unsettled key has now, where the walk, a hook or a flush
//!    meets it, is its entry at *T*: what is written is right. A key
//!    missing at its first `before_write` did not exist at *T*, so writing
//!    nothing is right; it is in *ahead* from then on, so its later
//!    creation is not written when the walk meets it.
//! 2. *No key is written twice.* A hook writes only unsettled keys and
//!    settles them; the walk writes only keys it has not passed, each once
//!    (its steps cover disjoint ranges), and not those in *ahead*; a flush
//!    writes only unsettled keys and ends the database.
//! 3. *Every key of T is written.* A key of *T* is written by the hook of
//!    its first write if that comes while it is unsettled. Otherwise its
//!    first write, if any, comes after the walk passed it, so it is still
//!    in the table, unchanged, when the walk reaches its range: the walk
//!    writes it there, or a flush or swap before that does.
//!
//! Expired keys are entries like any other here (lazy or active expiry is
//! a write, heard by `before_write`), so the file holds the entries of *T*
//! with their expiry times and a loader drops those already past.
//!
//! Costs and limits: the memory a snapshot spends beyond its writer's
//! buffer is *ahead*: a copy of each distinct key written (or created)
//! during the snapshot before the walk reached it, dropped when the walk
//! gets there (the memory fork's copy-on-write would spend on changed
//! pages; here it is the names of changed keys). A snapshot with no writes
//! holds no key at all. Keys ahead of the walk that are deleted and not
//! recreated stay in *ahead* until their database is done. Every key a
//! write touches is hashed once more to compare with the cursor. A flush
//! or swap during a snapshot writes the rest of that database inside the
//! command. One snapshot per writer type runs at a time.

#![forbid(unsafe_code)]

pub mod crc64;
pub mod lzf;
pub mod packed;
pub mod read;
pub mod snapshot;
pub mod write;

pub use read::{
    load, load_file, load_into, payload_body, read_function_payload, read_value, Checksum,
    LoadError, LoadInfo, Loaded, PayloadError,
};
pub use snapshot::Snapshot;
pub use write::{
    combine, combine_with, function_payload, save_file, seal_payload, set_compression, sync_dir,
    temp_file, write_header, write_store, write_trailer, write_value, Aux, CrcWriter,
    SectionWriter,
};

/// The RDB version written: Redis 7.0's.
pub const RDB_VERSION: u32 = 10;
/// The newest version read: Redis 7.2's (adds set listpacks and a stream
/// format).
pub const MAX_READ_VERSION: u32 = 11;
/// A DUMP payload's footer: two bytes of RDB version, eight of CRC-64.
pub const PAYLOAD_FOOTER: usize = 10;
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
/// A hash with field TTLs (Redis 7.4's `RDB_TYPE_HASH_METADATA`): the
/// earliest field expiry (8 bytes LE ms), the field count, then per field
/// its TTL as a length (0: none, else `expiry - earliest + 1`), name and
/// value. Redis 7.0 does not know the type and refuses the file.
pub(crate) const TYPE_HASH_METADATA: u8 = 24;

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
pub(crate) const ENC_LZF: u8 = 0xc0 | ENC_LZF_TAG;

// Quicklist node containers (quicklist.h).
pub(crate) const QUICKLIST_NODE_PLAIN: u64 = 1;
pub(crate) const QUICKLIST_NODE_PACKED: u64 = 2;
