//! kevy → RDB → kevy: every type and encoding comes back with the same
//! content, encoding and expiry; broken files are errors, never panics.

mod common;

use common::*;
use kevy_persist::rdb::{self, Aux, Checksum, LoadError};
use kevy_store::{SetTtl, Store, Value};
use proptest::prelude::*;

const NOW: u64 = 1_700_000_000_000;

fn aux() -> Aux {
    Aux {
        redis_ver: rdb::REDIS_VER.to_string(),
        ctime: NOW / 1000,
        used_mem: 0,
        functions: Vec::new(),
    }
}

fn write(st: &Store) -> Vec<u8> {
    rdb::write_store(Vec::new(), st, &aux()).unwrap()
}

fn load(bytes: &[u8], now: u64) -> Result<(Store, rdb::LoadInfo), LoadError> {
    let mut st = Store::new(16);
    st.set_now(now);
    let info = rdb::load_into(&mut st, bytes, bytes.len() as u64)?;
    Ok((st, info))
}

#[test]
fn every_type_and_encoding_round_trips() {
    let st = every_kind(NOW);
    let bytes = write(&st);
    assert_eq!(&bytes[..9], b"REDIS0010");
    let (back, info) = load(&bytes, NOW).unwrap();
    assert_eq!(info.checksum, Checksum::Verified);
    assert_eq!(info.version, 10);
    assert_eq!(model(&back, NOW), model(&st, NOW));
    assert_eq!(encodings(&back), encodings(&st));
    assert_eq!(info.keys as usize, model(&st, NOW).len());
    let aux: Vec<&[u8]> = info.aux.iter().map(|(k, _)| k.as_slice()).collect();
    assert_eq!(
        aux,
        [
            &b"redis-ver"[..],
            b"redis-bits",
            b"ctime",
            b"used-mem",
            b"aof-base"
        ]
    );
}

#[test]
fn expired_keys_are_skipped_at_load() {
    let mut st = Store::new(1);
    st.set_now(NOW);
    st.db(0)
        .set(b"gone", Value::string(b"1"), SetTtl::At(NOW + 10));
    st.db(0)
        .set(b"edge", Value::string(b"2"), SetTtl::At(NOW + 20));
    st.db(0)
        .set(b"kept", Value::string(b"3"), SetTtl::At(NOW + 30));
    let bytes = write(&st);
    let (back, info) = load(&bytes, NOW + 20).unwrap();
    assert_eq!(info.expired, 1);
    assert_eq!(back.db_counts(0), (2, 2));
    assert_eq!(model(&back, NOW + 20), model(&st, NOW + 20));
}

#[test]
fn sections_of_several_shards_combine_into_one_file() {
    let st = every_kind(NOW);
    // Split the keys over three "shards" by key length.
    let mut shards: Vec<Store> = (0..3).map(|_| Store::new(16)).collect();
    for db in 0..16 {
        for (k, e) in st.entries(db) {
            let s = &mut shards[k.len() % 3];
            s.set_now(NOW);
            s.db(db).put_entry(k, e.clone());
        }
    }
    let sections: Vec<Vec<u8>> = shards
        .iter()
        .map(|s| {
            let mut w = rdb::SectionWriter::new(Vec::new());
            w.write_store(s).unwrap();
            w.into_inner()
        })
        .collect();
    let bytes = rdb::combine(Vec::new(), &aux(), sections.iter().map(|s| s.as_slice())).unwrap();
    let (back, info) = load(&bytes, NOW).unwrap();
    assert_eq!(info.checksum, Checksum::Verified);
    assert_eq!(model(&back, NOW), model(&st, NOW));
}

#[test]
fn save_file_writes_a_loadable_dump() {
    let dir = std::env::temp_dir().join(format!("kevy-rdb-rt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let st = every_kind(NOW);
    rdb::save_file(&dir, "dump.rdb", |w| {
        rdb::write_store(w, &st, &aux()).map(|_| ())
    })
    .unwrap();
    let mut back = Store::new(16);
    back.set_now(NOW);
    let mut n = 0;
    rdb::load_file(&dir.join("dump.rdb"), NOW, |k| {
        n += 1;
        back.db(k.db).set(
            &k.key,
            k.value,
            k.expire_at.map_or(SetTtl::Clear, SetTtl::At),
        );
        Ok(())
    })
    .unwrap();
    assert_eq!(model(&back, NOW), model(&st, NOW));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_checksum_mismatch_is_an_error_and_zero_disables_it() {
    let st = every_kind(NOW);
    let mut bytes = write(&st);
    let end = bytes.len();
    bytes[end - 1] ^= 1;
    match load(&bytes, NOW) {
        Err(LoadError::Corrupt { offset, what }) => {
            assert_eq!(offset as usize, end - 8);
            assert!(what.contains("checksum"), "{what}");
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
    bytes[end - 8..].fill(0);
    let (_, info) = load(&bytes, NOW).unwrap();
    assert_eq!(info.checksum, Checksum::Disabled);
}

#[test]
fn every_truncation_is_an_error_with_its_offset() {
    let mut st = Store::new(2);
    st.set_now(NOW);
    st.db(0)
        .set(b"s", Value::string(b"hello"), SetTtl::At(NOW + 5));
    st.db(1).set(b"l", list(["a", "1"]), SetTtl::Clear);
    st.db(1).set(b"z", zset([("m", 1.5)]), SetTtl::Clear);
    let bytes = write(&st);
    for cut in 0..bytes.len() {
        match load(&bytes[..cut], NOW) {
            Err(LoadError::Corrupt { offset, .. }) => assert!(offset as usize <= cut, "{cut}"),
            other => panic!("cut at {cut}: {:?}", other.map(|_| ())),
        }
    }
}

#[test]
fn lengths_beyond_the_file_are_refused_before_allocating() {
    // A string key claiming 2^40 bytes in a 30-byte file.
    let mut b = b"REDIS0010".to_vec();
    b.push(0); // string type
    b.push(0x81);
    b.extend_from_slice(&(1u64 << 40).to_be_bytes());
    b.extend_from_slice(b"short");
    match load(&b, NOW) {
        Err(LoadError::Corrupt { offset, what }) => {
            assert_eq!(offset, 19);
            assert!(what.contains("left"), "{what}");
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
    // A set claiming 2^60 members.
    let mut b = b"REDIS0010".to_vec();
    b.extend_from_slice(&[2, 1, b'k', 0x81]);
    b.extend_from_slice(&(1u64 << 60).to_be_bytes());
    assert!(matches!(load(&b, NOW), Err(LoadError::Corrupt { .. })));
}

#[test]
fn modules_are_named_in_the_error() {
    for (t, name) in [(6u8, "module"), (7, "module")] {
        let mut b = b"REDIS0011".to_vec();
        b.extend_from_slice(&[t, 1, b'k', 0]);
        match load(&b, NOW) {
            Err(LoadError::Unsupported { offset, what }) => {
                assert_eq!(offset, 9);
                assert!(what.contains(name), "{what}");
            }
            other => panic!("{t}: {:?}", other.map(|_| ())),
        }
    }
    // A stream cut short is corrupt, whatever its RDB type.
    for t in [15u8, 19, 21] {
        let mut b = b"REDIS0011".to_vec();
        b.extend_from_slice(&[t, 1, b'k', 0]);
        assert!(
            matches!(load(&b, NOW), Err(LoadError::Corrupt { .. })),
            "{t}"
        );
    }
    let b = b"REDIS0012".to_vec();
    assert!(matches!(load(&b, NOW), Err(LoadError::Unsupported { .. })));
}

#[test]
fn streams_round_trip_with_groups() {
    use kevy_store::stream::{Group, Nack, NodeLimits, Stream, StreamId};
    let mut x = Stream::new();
    let limits = NodeLimits {
        max_bytes: 4096,
        max_entries: 3,
    };
    for i in 1..=10u64 {
        let v = i.to_string();
        let f: &[&[u8]] = if i % 4 == 0 {
            &[b"other", b"x", b"more", b"y"]
        } else {
            &[b"f", v.as_bytes()]
        };
        x.append(StreamId::new(i, i), f, limits).unwrap();
    }
    assert!(x.delete(StreamId::new(2, 2)));
    x.trim(kevy_store::stream::Trim::MaxLen(7), false, 0);
    let mut g = Group::new(StreamId::new(5, 5), 4);
    g.consumer(b"alice", 1234).0.pel.insert(StreamId::new(5, 5));
    g.pel.insert(
        StreamId::new(5, 5),
        Nack {
            delivery_time: 1000,
            delivery_count: 2,
            consumer: b"alice".to_vec(),
        },
    );
    g.consumer(b"bob", 99);
    x.groups.insert(b"g1".to_vec(), g);
    x.groups
        .insert(b"g0".to_vec(), Group::new(StreamId::MIN, -1));
    let mut st = Store::new(1);
    st.db(0)
        .set(b"s", Value::Stream(Box::new(x)), SetTtl::Clear);
    let (back, _) = load(&write(&st), NOW).unwrap();
    assert_eq!(model(&back, NOW), model(&st, NOW));
    // The same bytes as DUMP's payload.
    let v = st.db(0).get(b"s").unwrap().clone();
    let mut payload = Vec::new();
    rdb::write_value(&mut payload, &v).unwrap();
    let again = rdb::read_value(&payload).unwrap();
    assert_eq!(view(&again), view(&v));
}

#[test]
fn old_opcodes_and_encodings_load() {
    // Version 6 file: EXPIRETIME in seconds, a LZF string, a ZSET with
    // text scores, a plain list, an int-encoded key, FREQ and IDLE.
    let mut b = b"REDIS0006".to_vec();
    b.extend_from_slice(&[254, 0]); // SELECTDB 0
    b.push(253);
    b.extend_from_slice(&((NOW / 1000 + 100) as i32).to_le_bytes());
    b.extend_from_slice(&[0, 1, b'e', 1, b'v']);
    // LZF "abcabcabcabc": 3 literals then a 9-byte match 3 back.
    b.extend_from_slice(&[
        249,
        5,
        248,
        7,
        0,
        0xc0,
        42,
        0xc3,
        7,
        12,
        2,
        b'a',
        b'b',
        b'c',
        7 << 5,
        0,
        2,
    ]);
    b.extend_from_slice(&[
        3, 1, b'z', 3, 1, b'a', 3, b'1', b'.', b'5', 1, b'b', 254, 1, b'c', 255,
    ]);
    b.extend_from_slice(&[1, 1, b'l', 2, 1, b'x', 0xc0, 7]);
    b.push(255);
    let crc = rdb::crc64::update(0, &b);
    b.extend_from_slice(&crc.to_le_bytes());
    let (st, info) = load(&b, NOW).unwrap();
    assert_eq!(info.checksum, Checksum::Verified);
    let m = model(&st, NOW);
    assert_eq!(
        m[&(0, b"e".to_vec())],
        (V::Str(b"v".to_vec()), Some((NOW / 1000 + 100) * 1000))
    );
    assert_eq!(m[&(0, b"42".to_vec())].0, V::Str(b"abcabcabcabc".to_vec()));
    let z = V::ZSet(vec![
        (b"a".to_vec(), 1.5f64.to_bits()),
        (b"b".to_vec(), f64::INFINITY.to_bits()),
        (b"c".to_vec(), f64::NEG_INFINITY.to_bits()),
    ]);
    let mut want = z.clone();
    if let V::ZSet(p) = &mut want {
        p.rotate_right(1);
    }
    assert_eq!(m[&(0, b"z".to_vec())].0, want);
    assert_eq!(
        m[&(0, b"l".to_vec())].0,
        V::List(vec![b"x".to_vec(), b"7".to_vec()])
    );
}

#[test]
fn a_duplicate_key_or_a_missing_database_is_refused() {
    let mut st = Store::new(16);
    st.set_now(NOW);
    st.db(15).set(b"k", Value::string(b"v"), SetTtl::Clear);
    let bytes = write(&st);
    let mut small = Store::new(4);
    assert!(matches!(
        rdb::load_into(&mut small, bytes.as_slice(), bytes.len() as u64),
        Err(LoadError::Rejected { .. })
    ));
    let sec = |s: &Store| {
        let mut w = rdb::SectionWriter::new(Vec::new());
        w.write_store(s).unwrap();
        w.into_inner()
    };
    let twice = rdb::combine(
        Vec::new(),
        &aux(),
        [sec(&st), sec(&st)].iter().map(|s| s.as_slice()),
    )
    .unwrap();
    assert!(matches!(load(&twice, NOW), Err(LoadError::Rejected { .. })));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Any byte changed anywhere gives an error or a load, never a panic.
    #[test]
    fn flipped_bytes_never_panic(at in 0usize..4096, x in 1u8..=255, skip_crc in any::<bool>()) {
        let mut st = Store::new(2);
        st.set_now(NOW);
        st.db(0).set(b"s", Value::string(b"hello world"), SetTtl::At(NOW + 5));
        st.db(0).set(b"h", hash([("a", "1"), ("b", "x")]), SetTtl::Clear);
        st.db(1).set(b"l", list((0..50).map(|i| i.to_string())), SetTtl::Clear);
        st.db(1).set(b"z", zset([("m", 1.5), ("n", 2.0)]), SetTtl::Clear);
        st.db(1).set(b"i", set(["1", "2", "3"]), SetTtl::Clear);
        st.db(1).set(b"t", set((0..200).map(|i| format!("m{i}"))), SetTtl::Clear);
        let mut bytes = write(&st);
        let at = at % bytes.len();
        bytes[at] ^= x;
        if skip_crc {
            // Zero checksum: the content itself must be validated.
            let n = bytes.len();
            bytes[n - 8..].fill(0);
        }
        let _ = load(&bytes, NOW);
    }

    /// Random string and collection contents round-trip exactly.
    #[test]
    fn random_values_round_trip(
        strs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 1..40),
        scores in proptest::collection::vec(any::<f64>().prop_filter("no NaN", |s| !s.is_nan()), 1..300),
        ints in proptest::collection::vec(any::<i64>(), 1..600),
    ) {
        let mut st = Store::new(1);
        st.set_now(NOW);
        for (i, s) in strs.iter().enumerate() {
            st.db(0).set(format!("s{i}").as_bytes(), Value::string(s), SetTtl::Clear);
        }
        st.db(0).set(b"l", list(&strs), SetTtl::Clear);
        st.db(0).set(b"h", hash(strs.iter().map(|s| (s.clone(), s.clone()))), SetTtl::Clear);
        st.db(0).set(b"st", set(&strs), SetTtl::Clear);
        st.db(0).set(b"si", set(ints.iter().map(|i| i.to_string())), SetTtl::Clear);
        st.db(0).set(b"z", zset(scores.iter().enumerate().map(|(i, s)| (format!("m{i}"), *s))), SetTtl::Clear);
        let small: Vec<_> = scores.iter().take(100).enumerate().map(|(i, s)| (format!("m{i}"), *s)).collect();
        st.db(0).set(b"zs", zset(small), SetTtl::Clear);
        let bytes = write(&st);
        let mut back = Store::new(1);
        back.set_now(NOW);
        rdb::load_into(&mut back, bytes.as_slice(), bytes.len() as u64).unwrap();
        prop_assert_eq!(model(&back, NOW), model(&st, NOW));
        prop_assert_eq!(encodings(&back), encodings(&st));
    }
}

/// A file as Redis 7.2 writes it (version 11): a function library, a set
/// listpack, a hash and a sorted set as listpacks, a list node of the
/// plain kind.
#[test]
fn version_11_content_loads() {
    use rdb::packed::LpWriter;
    let lp = |items: &[&[u8]]| {
        let mut w = LpWriter::new();
        for i in items {
            w.push(i);
        }
        w.finish()
    };
    let put_blob = |b: &mut Vec<u8>, blob: &[u8]| {
        assert!(blob.len() < 64);
        b.push(blob.len() as u8);
        b.extend_from_slice(blob);
    };
    let mut b = b"REDIS0011".to_vec();
    b.extend_from_slice(&[245, 4]);
    b.extend_from_slice(b"code");
    b.extend_from_slice(&[254, 0]);
    b.extend_from_slice(&[20, 1, b's']);
    put_blob(&mut b, &lp(&[b"a", b"7", b"b"]));
    b.extend_from_slice(&[16, 1, b'h']);
    put_blob(&mut b, &lp(&[b"f", b"1", b"g", b"x"]));
    b.extend_from_slice(&[17, 1, b'z']);
    put_blob(&mut b, &lp(&[b"m", b"2.5", b"n", b"-3", b"o", b"inf"]));
    // QUICKLIST_2: one plain node, one packed node.
    b.extend_from_slice(&[18, 1, b'l', 2, 1, 3, b'b', b'i', b'g', 2]);
    put_blob(&mut b, &lp(&[b"p", b"9"]));
    b.push(255);
    let crc = rdb::crc64::update(0, &b);
    b.extend_from_slice(&crc.to_le_bytes());
    let (st, info) = load(&b, NOW).unwrap();
    assert_eq!(info.version, 11);
    assert_eq!(info.functions, 1);
    let m = model(&st, NOW);
    let set = V::Set(vec![b"7".to_vec(), b"a".to_vec(), b"b".to_vec()]);
    assert_eq!(m[&(0, b"s".to_vec())].0, set);
    let h = V::Hash(vec![
        (b"f".to_vec(), b"1".to_vec()),
        (b"g".to_vec(), b"x".to_vec()),
    ]);
    assert_eq!(m[&(0, b"h".to_vec())].0, h);
    let z = V::ZSet(vec![
        (b"n".to_vec(), (-3.0f64).to_bits()),
        (b"m".to_vec(), 2.5f64.to_bits()),
        (b"o".to_vec(), f64::INFINITY.to_bits()),
    ]);
    assert_eq!(m[&(0, b"z".to_vec())].0, z);
    let l = V::List(vec![b"big".to_vec(), b"p".to_vec(), b"9".to_vec()]);
    assert_eq!(m[&(0, b"l".to_vec())].0, l);
}

/// One value alone, as DUMP carries it: every key of every kind comes
/// back with the same content and encoding, and the bytes are those a
/// snapshot writes for the key, minus its expiry and name.
#[test]
fn single_values_round_trip_and_match_the_file_encoding() {
    let st = every_kind(NOW);
    for db in 0..st.ndbs() {
        for (key, e) in st.entries(db) {
            let mut one = Vec::new();
            rdb::write_value(&mut one, &e.value).unwrap();
            let back = rdb::read_value(&one).unwrap();
            assert_eq!(view(&back), view(&e.value), "{key:?}");
            let enc = |v: &Value| match v.encoding_name() {
                "raw" | "embstr" => "bytes",
                other => other,
            };
            assert_eq!(enc(&back), enc(&e.value), "{key:?}");
            // The same record inside a section: type, name, encoding
            // (after any expiry).
            let mut sec = rdb::SectionWriter::new(Vec::new());
            sec.key(db, key, e).unwrap();
            let sec = sec.into_inner();
            let mut name = Vec::new();
            name.push(key.len() as u8);
            name.extend_from_slice(key);
            let at = sec.len() - (one.len() - 1);
            assert_eq!(sec[at - 1 - name.len()], one[0], "{key:?}");
            assert_eq!(&sec[at - name.len()..at], &name[..], "{key:?}");
            assert!(sec[at..] == one[1..], "{key:?}");
        }
    }
}

#[test]
fn a_single_value_that_is_broken_is_an_error() {
    let mut one = Vec::new();
    rdb::write_value(&mut one, &list((0..100).map(|i| format!("e{i}")))).unwrap();
    for n in 0..one.len() {
        assert!(rdb::read_value(&one[..n]).is_err(), "truncated to {n}");
    }
    // Trailing bytes are not looked at.
    one.extend_from_slice(b"junk");
    assert!(rdb::read_value(&one).is_ok());
    // Not a value type; an empty collection.
    assert!(rdb::read_value(&[255, 0]).is_err());
    assert!(rdb::read_value(&[2, 0]).is_err());
    assert!(rdb::read_value(&[]).is_err());
}

#[test]
fn function_libraries_round_trip_after_the_aux_fields() {
    let st = Store::new(16);
    let long = format!("#!lua name=long\n{}", "-- comment\n".repeat(2000));
    let mut a = aux();
    a.functions = vec![
        b"#!lua name=a\nreturn 1".to_vec(),
        long.clone().into_bytes(),
    ];
    let bytes = rdb::write_store(Vec::new(), &st, &a).unwrap();
    let (_, info) = load(&bytes, NOW).unwrap();
    assert_eq!(info.functions, 2);
    assert_eq!(
        info.libraries,
        vec![b"#!lua name=a\nreturn 1".to_vec(), long.into_bytes()]
    );
}

/// A hash with field TTLs is written as Redis 7.4's HASH_METADATA (type
/// 24) and reads back with every field's TTL, in a file and as a DUMP
/// payload; a hash whose TTLs are gone is a plain hash again.
#[test]
fn field_ttls_round_trip_as_hash_metadata() {
    let mut st = Store::new(1);
    st.set_now(NOW);
    let mut h = kevy_store::hash::Hash::new();
    for i in 0..300 {
        h.set(format!("f{i}").as_bytes(), format!("v{i}").as_bytes());
    }
    let mut small = kevy_store::hash::Hash::new();
    small.set(b"a", b"1");
    small.set(b"b", b"2");
    for (x, at) in [(&mut h, NOW + 5_000), (&mut small, NOW + 7)] {
        assert!(x.set_field_ttl(b"f7", at) | x.set_field_ttl(b"a", at));
    }
    h.set_field_ttl(b"f8", NOW + 1);
    st.db(0).set(b"big", Value::Hash(h.clone()), SetTtl::Clear);
    st.db(0)
        .set(b"small", Value::Hash(small), SetTtl::At(NOW + 99_000));
    let bytes = write(&st);
    let at = bytes.windows(4).position(|w| w == b"\x03big").unwrap();
    assert_eq!(bytes[at - 1], 24, "type byte before the key");
    let (mut back, _) = load(&bytes, NOW).unwrap();
    let mut db = back.db(0);
    let Some(Value::Hash(b)) = db.get(b"big") else {
        panic!()
    };
    assert_eq!(b.len(), 300);
    assert_eq!(b.field_ttl(b"f7"), Some(NOW + 5_000));
    assert_eq!(b.field_ttl(b"f8"), Some(NOW + 1));
    assert_eq!(b.field_ttl(b"f9"), None);
    assert_eq!(b.get(b"f9"), Some(&b"v9"[..]));
    let Some(Value::Hash(s)) = db.get(b"small") else {
        panic!()
    };
    assert_eq!(s.field_ttl(b"a"), Some(NOW + 7));
    assert_eq!(s.field_ttl(b"b"), None);
    assert_eq!(db.ttl(b"small"), kevy_store::KeyTtl::At(NOW + 99_000));

    let mut payload = Vec::new();
    rdb::write_value(&mut payload, &Value::Hash(h.clone())).unwrap();
    assert_eq!(payload[0], 24);
    let Value::Hash(r) = rdb::read_value(&payload).unwrap() else {
        panic!()
    };
    assert_eq!(
        r.field_ttls().collect::<Vec<_>>(),
        h.field_ttls().collect::<Vec<_>>()
    );

    h.persist_field(b"f7");
    h.persist_field(b"f8");
    payload.clear();
    rdb::write_value(&mut payload, &Value::Hash(h)).unwrap();
    assert_eq!(payload[0], 4, "a plain hash once no field has a TTL");
}

/// A field TTL beyond Redis's 48 bits is corrupt data, not a time.
#[test]
fn a_field_ttl_out_of_range_is_refused() {
    let mut h = kevy_store::hash::Hash::new();
    h.set(b"a", b"1");
    h.set(b"b", b"2");
    h.set_field_ttl(b"a", 5);
    h.set_field_ttl(b"b", 1 << 48);
    let mut payload = Vec::new();
    rdb::write_value(&mut payload, &Value::Hash(h)).unwrap();
    let e = rdb::read_value(&payload).expect_err("refused");
    assert!(format!("{e}").contains("TTL out of range"), "{e}");
}
