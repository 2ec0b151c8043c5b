//! Test helpers: a unique directory under the system temp dir, removed on
//! drop, and RESP encoding of small commands.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let p = std::env::temp_dir().join(format!(
            "kevy-aof-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One RESP array of bulk strings.
pub fn cmd(args: &[&[u8]]) -> Vec<u8> {
    let mut b = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        b.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        b.extend_from_slice(a);
        b.extend_from_slice(b"\r\n");
    }
    b
}

/// Parses a run of RESP arrays of bulk strings (what effects are).
pub fn parse_cmds(mut p: &[u8]) -> Vec<Vec<Vec<u8>>> {
    fn line(p: &[u8]) -> (usize, &[u8]) {
        let end = p.iter().position(|&b| b == b'\r').expect("CR");
        let n = std::str::from_utf8(&p[1..end]).unwrap().parse().unwrap();
        (n, &p[end + 2..])
    }
    let mut out = Vec::new();
    while !p.is_empty() {
        let (n, rest) = line(p);
        p = rest;
        let mut argv = Vec::new();
        for _ in 0..n {
            let (len, rest) = line(p);
            argv.push(rest[..len].to_vec());
            p = &rest[len + 2..];
        }
        out.push(argv);
    }
    out
}

/// A shard's keyspace as replay builds it: SELECT, SET and DEL only.
#[derive(Default, Debug, Clone, PartialEq, Eq)]
pub struct Model {
    pub db: u32,
    pub keys: std::collections::BTreeMap<(u32, Vec<u8>), Vec<u8>>,
}

impl Model {
    pub fn apply(&mut self, resp: &[u8]) {
        for argv in parse_cmds(resp) {
            match argv[0].as_slice() {
                b"SELECT" => self.db = std::str::from_utf8(&argv[1]).unwrap().parse().unwrap(),
                b"SET" => {
                    self.keys
                        .insert((self.db, argv[1].clone()), argv[2].clone());
                }
                b"DEL" => {
                    self.keys.remove(&(self.db, argv[1].clone()));
                }
                other => panic!("unexpected {:?}", String::from_utf8_lossy(other)),
            }
        }
    }

    pub fn has(&self, db: u32, k: &str) -> bool {
        self.keys.contains_key(&(db, k.as_bytes().to_vec()))
    }
}
