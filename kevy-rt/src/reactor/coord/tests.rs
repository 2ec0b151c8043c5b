//! The coordinator alone, on one thread: its home shard is a real
//! [`Executor`] of the toy service, the rings are plain queues (the batch
//! each shard would receive), and the test plays every other shard by
//! answering `Locked`, replies and copies by hand. Each test asserts the
//! exact messages a transaction sends, in order, at each event.

use super::*;
use crate::reactor::executor::Local;
use crate::reactor::sim::render;
use crate::reactor::sim::toy::Toy;
use crate::service::Service;
use crate::slot::shard_of;

/// The rings: what each shard receives next, taken by [`H::sent`].
struct Rings(Vec<crate::msg::Batch<Toy>>);

impl Wire<Toy> for Rings {
    fn batch(&mut self, s: usize) -> &mut crate::msg::Batch<Toy> {
        &mut self.0[s]
    }
}

/// The reactor around a coordinator, reduced to what it does for it.
struct H {
    n: usize,
    coord: Coordinator<Toy>,
    ex: Executor<Toy>,
    rings: Rings,
    client: ClientCtx,
    /// What the coordinator asked for the connection, rendered.
    conn: Vec<String>,
    /// The connection is closed: connection commands find nobody.
    closed: bool,
    seq: u64,
    /// How many subscribers the home shard delivers a PUBLISH to.
    home_subscribers: u32,
    /// Transactions are answered in any order (several in flight), not
    /// only the last one started.
    any_seq: bool,
}

const CONN: u32 = 7;
const GEN: u32 = 3;

impl H {
    fn new(home: usize, n: usize) -> H {
        let svc = Arc::new(Toy);
        let addr = "127.0.0.1:1".parse().expect("address");
        H {
            n,
            coord: Coordinator::new(home, crate::SlotMap::new(n), svc.clone(), 1),
            ex: Executor::new(home, crate::SlotMap::new(n), svc),
            rings: Rings((0..n).map(|_| Default::default()).collect()),
            client: ClientCtx {
                id: 42,
                db: 0,
                resp3: false,
                home: home as u32,
                peer: addr,
                local: addr,
                created_ms: 0,
                subscribed: false,
                unix: false,
                tracking: Default::default(),
                checked: false,
                no_touch: false,
            },
            conn: Vec::new(),
            closed: false,
            seq: 0,
            home_subscribers: 0,
            any_seq: false,
        }
    }

    /// Serves again a blocked command an owner woke (`Tx::woken`); returns
    /// the transaction's slot.
    fn start_woken(&mut self, words: &[&str]) -> u32 {
        let a = owned(words);
        let (cmd, _) = Toy.resolve(a.args()).expect("a toy command");
        let Draft::Plan(plan) = self.coord.draft(
            &mut self.ex,
            &self.client,
            &[],
            vec![(cmd, a)],
            false,
            false,
        ) else {
            panic!("expected a coordinated transaction");
        };
        let (op, _) = self.coord.start(
            &mut self.ex,
            &mut self.rings,
            plan.serving_woken(),
            CONN,
            GEN,
            self.seq,
        );
        self.pump();
        op
    }

    /// Starts a transaction of `cmds` (`exec`: an EXEC, with the
    /// connection WATCHing `watched`); returns its slot.
    fn start(&mut self, cmds: &[&[&str]], exec: bool, watched: &[&str]) -> u32 {
        let cmds = cmds
            .iter()
            .map(|c| {
                let a = owned(c);
                let (cmd, _) = Toy.resolve(a.args()).expect("a toy command");
                (cmd, a)
            })
            .collect();
        let watched: Vec<(u32, Vec<u8>)> =
            watched.iter().map(|k| (0, k.as_bytes().to_vec())).collect();
        let Draft::Plan(plan) =
            self.coord
                .draft(&mut self.ex, &self.client, &watched, cmds, exec, true)
        else {
            panic!("expected a coordinated transaction");
        };
        self.run(plan)
    }

    /// Starts `plan` as the connection's next request; returns its slot.
    fn run(&mut self, plan: Plan<Toy>) -> u32 {
        self.seq += 1;
        let (op, blocks) =
            self.coord
                .start(&mut self.ex, &mut self.rings, plan, CONN, GEN, self.seq);
        if !blocks {
            self.conn.push("reads on".into());
        }
        self.pump();
        op
    }

    /// Starts `words` as the reactor starts a multi-key command it routed
    /// ([`Coordinator::draft_routed`]), with its keys' shards as routing
    /// finds them (`with_shards`) or without; returns its slot.
    fn start_routed(&mut self, words: &[&str], with_shards: bool) -> u32 {
        let a = owned(words);
        let (cmd, route) = Toy
            .route(a.args(), &self.client, self.n)
            .expect("a toy command");
        let shards: Vec<u16> = route
            .keys(a.args())
            .map(|k| crate::slot::shard_of(k, self.n) as u16)
            .collect();
        let shards = with_shards.then_some(&shards[..]);
        let Draft::Plan(plan) =
            self.coord
                .draft_routed(&mut self.ex, &self.client, cmd, route, a.args(), shards)
        else {
            panic!("expected a coordinated transaction");
        };
        self.run(plan)
    }

    /// The client of connection `conn`, another than [`CONN`].
    fn other_client(&self, conn: u32) -> ClientCtx {
        ClientCtx {
            id: 1000 + u64::from(conn),
            ..self.client
        }
    }

    /// Sends `words` from connection `conn` (another connection than
    /// [`CONN`], its own client, its request number `conn`). `idle`: the
    /// connection is owed no earlier reply, so the command may join an
    /// open group; otherwise, or when it cannot, it starts a transaction
    /// of its own. The slot, and whether it joined.
    fn offer(&mut self, conn: u32, words: &[&str], idle: bool) -> (u32, bool) {
        let a = owned(words);
        let (cmd, _) = Toy.resolve(a.args()).expect("a toy command");
        let client = self.other_client(conn);
        let Draft::Plan(plan) =
            self.coord
                .draft(&mut self.ex, &client, &[], vec![(cmd, a)], false, true)
        else {
            panic!("expected a coordinated transaction");
        };
        let seq = u64::from(conn);
        let plan = if idle {
            match self.coord.join(&mut self.ex, plan, conn, GEN, seq) {
                Ok(op) => return (op, true),
                Err(plan) => plan,
            }
        } else {
            plan
        };
        let (op, _) = self
            .coord
            .start(&mut self.ex, &mut self.rings, plan, conn, GEN, seq);
        self.pump();
        (op, false)
    }

    /// Routes `words` from connection `conn` (its own client, its request
    /// number `seq`; `done`: the first it still owes a reply for, `chain`
    /// its run of split commands) and offers it as a rider
    /// ([`Coordinator::ride`]); when it cannot ride it starts a
    /// transaction of its own. The slot, and whether it rode.
    fn ride(
        &mut self,
        conn: u32,
        words: &[&str],
        (seq, done): (u64, u64),
        chain: &mut Option<crate::conn::Chain>,
    ) -> (u32, bool) {
        let a = owned(words);
        let client = self.other_client(conn);
        let (cmd, route) = Toy.route(a.args(), &client, self.n).expect("a toy command");
        let Draft::Plan(plan) =
            self.coord
                .draft_routed(&mut self.ex, &client, cmd, route, a.args(), None)
        else {
            panic!("expected a coordinated transaction");
        };
        let plan = match self.coord.ride(
            &mut self.ex,
            &mut self.rings,
            plan,
            (conn, GEN, seq),
            done,
            chain,
            &mut Vec::new(),
        ) {
            Ok(op) => return (op, true),
            Err(plan) => plan,
        };
        let (op, _) = self
            .coord
            .start(&mut self.ex, &mut self.rings, plan, conn, GEN, seq);
        if let Some(d) = self.coord.chain_entry(op) {
            crate::conn::Chain::extend(chain, self.client.home, d, seq);
        }
        self.pump();
        (op, false)
    }

    /// The reactor's part: advance what can, do what the coordinator and
    /// the home executor ask, until neither asks anything.
    fn pump(&mut self) {
        loop {
            if let Some(op) = self.coord.next_runnable() {
                self.coord.advance(&mut self.ex, &mut self.rings, op);
                continue;
            }
            if !self.ex.local.is_empty() {
                for l in std::mem::take(&mut self.ex.local) {
                    if let Local::Locked { op, changed } = l {
                        self.coord
                            .locked(&mut self.ex, &mut self.rings, op, changed);
                    }
                }
                continue;
            }
            if self.coord.out.is_empty() {
                return;
            }
            for o in std::mem::take(&mut self.coord.out) {
                match o {
                    ToConn::Unblock { conn, gen } => {
                        assert_eq!(gen, GEN);
                        if conn == CONN {
                            self.conn.push("reads on".into());
                        } else {
                            self.conn.push(format!("reads on@{conn}"));
                        }
                    }
                    ToConn::RideSent { conn, .. } => {
                        self.conn.push(format!("ride sent@{conn}"));
                    }
                    ToConn::Rerun => {
                        let r = self.coord.reruns.pop_front().expect("a rerun");
                        if r.conn == CONN {
                            self.conn.push("runs again".into());
                        } else {
                            self.conn.push(format!("runs again@{}", r.conn));
                        }
                    }
                    ToConn::ConnCmd { op } if self.coord.pubsub_step(op).is_some() => {
                        // As the reactor does: the message to the other
                        // shards, then this shard's subscribers
                        // (`home_subscribers`).
                        let (_, _, args, _, part) = self.coord.pubsub_step(op).expect("stopped");
                        let args = args.to_owned_args();
                        let args = args.args();
                        let home = self.client.home as usize;
                        for s in (0..self.n).filter(|&s| s != home) {
                            let b = self.rings.batch(s);
                            let (first, n) = b.push_args([args.get(1), args.get(2)].into_iter());
                            b.reqs.push(Req::TxPublish {
                                op,
                                part,
                                sub: s as u32,
                                sharded: false,
                                first,
                                n,
                            });
                        }
                        self.conn.push(format!(
                            "publish here {}",
                            String::from_utf8_lossy(args.get(2))
                        ));
                        let v = format!(":{}\r\n", self.home_subscribers).into_bytes();
                        self.coord
                            .conn_ran(&mut self.ex, &mut self.rings, op, None, v);
                    }
                    ToConn::ConnCmd { op } => {
                        let (conn, gen, cmd, args) = self.coord.conn_cmd(op).expect("stopped");
                        assert_eq!((conn, gen), (CONN, GEN));
                        let mut v = Vec::new();
                        let client = (!self.closed).then(|| {
                            Toy.exec_conn(
                                &mut self.ex.shard,
                                &mut self.client,
                                &mut (),
                                cmd,
                                args,
                                &mut v,
                            );
                            self.client
                        });
                        self.coord
                            .conn_ran(&mut self.ex, &mut self.rings, op, client, v);
                    }
                    ToConn::Wait {
                        conn, gen, owners, ..
                    } => {
                        assert_eq!((conn, gen), (CONN, GEN));
                        self.conn.push(format!("waits on {owners:?}"));
                    }
                    ToConn::Answer {
                        conn,
                        gen,
                        seq,
                        reply,
                        ..
                    } => {
                        let (text, used) = render(&reply).expect("a whole reply");
                        assert_eq!(used, reply.len());
                        if conn != CONN {
                            // Another connection's command (a group's
                            // member): its request number is its `conn`.
                            assert_eq!((gen, seq), (GEN, u64::from(conn)));
                            self.conn.push(format!("answer@{conn} {text}"));
                            continue;
                        }
                        if self.any_seq {
                            assert!((conn, gen) == (CONN, GEN) && seq <= self.seq);
                        } else {
                            assert_eq!((conn, gen, seq), (CONN, GEN, self.seq));
                        }
                        self.conn.push(format!("answer {text}"));
                    }
                    ToConn::Shared { sharers, reply, .. } => {
                        let (text, _) = render(&reply).expect("a whole reply");
                        for s in sharers {
                            self.conn.push(format!("shared@{} {text}", s.conn));
                        }
                    }
                }
            }
        }
    }

    /// Takes what shard `s` was sent, rendered one message per entry.
    fn sent(&mut self, s: usize) -> Vec<String> {
        let b = std::mem::take(&mut self.rings.0[s]);
        let words = |first: u32, n: u32| {
            let a = b.args_at(first, n);
            a.iter()
                .map(|w| String::from_utf8_lossy(w).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        };
        let mut snaps = b.req_snaps.iter();
        b.reqs
            .iter()
            .map(|r| match *r {
                Req::Lock {
                    n,
                    read,
                    watch,
                    last,
                    no_wait,
                    ..
                } => format!(
                    "lock {n}{}{}{}{}",
                    if read { " read" } else { "" },
                    if watch { " watch" } else { "" },
                    if last { " last" } else { "" },
                    if no_wait { " no-wait" } else { "" }
                ),
                Req::TxExec {
                    part,
                    sub,
                    first,
                    n,
                    ..
                } => format!("run {part}.{sub} {}", words(first, n)),
                Req::Unlock { .. } => "unlock".into(),
                Req::Park { first, n, .. } => format!("park {}", words(first, n)),
                Req::Unpark { .. } => "unpark".into(),
                Req::TxPublish {
                    part,
                    sub,
                    first,
                    n,
                    ..
                } => format!("publish {part}.{sub} {}", words(first, n)),
                Req::Export { first, n, .. } => format!("export {}", words(first, n)),
                Req::ExportNames { .. } => "export names".into(),
                Req::Import { n, .. } => {
                    let (k, v) = snaps.next().expect("a snapshot per import");
                    assert_eq!(n, 1);
                    let v = v.as_deref().map(String::from_utf8_lossy);
                    format!(
                        "import {}={}",
                        String::from_utf8_lossy(k),
                        v.unwrap_or_default()
                    )
                }
                _ => unreachable!("a coordinator sends nothing else"),
            })
            .collect()
    }

    /// Every shard's messages, taken: `(shard, message)` in shard order.
    fn all_sent(&mut self) -> Vec<(usize, String)> {
        (0..self.n)
            .flat_map(|s| self.sent(s).into_iter().map(move |m| (s, m)))
            .collect()
    }

    fn locked(&mut self, op: u32, changed: bool) {
        self.coord
            .locked(&mut self.ex, &mut self.rings, op, changed);
        self.pump();
    }

    fn reply(&mut self, op: u32, part: u32, sub: u32, bytes: &str) {
        self.coord.reply(op, part, sub, bytes.as_bytes());
        self.pump();
    }

    fn exported(&mut self, op: u32, snaps: &[(&str, Option<&str>)]) {
        let snaps = snaps
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.map(|v| v.as_bytes().to_vec())));
        self.coord.exported(op, snaps);
        self.pump();
    }

    fn conn(&mut self) -> Vec<String> {
        std::mem::take(&mut self.conn)
    }

    fn idle(&self) -> bool {
        self.coord.is_idle() && self.ex.locks.is_idle()
    }
}

/// A key named after `tag` that lives on shard `s` of `n`.
/// `words` as a command's arguments.
fn owned(words: &[&str]) -> OwnedArgs {
    let mut a = OwnedArgs::default();
    for w in words {
        a.push(w.as_bytes());
    }
    a
}

/// Locks `key` on the home shard for transaction 0 of shard 1, granted
/// at once (its `Locked` is in the batch for shard 1).
fn hold_for_shard_1(h: &mut H, key: &str) {
    let other = Claim {
        keys: vec![key_id(key.as_bytes())],
        client: 9,
        ..Claim::default()
    };
    assert!(h
        .ex
        .lock_request(&mut h.rings, 1, 0, other, false, false, false, 0));
}

fn key_on(tag: &str, s: usize, n: usize) -> String {
    (0..)
        .map(|i| format!("{tag}{i}"))
        .find(|k| shard_of(k.as_bytes(), n) == s)
        .expect("some key lands on every shard")
}

fn strs(v: &[(usize, &str)]) -> Vec<(usize, String)> {
    v.iter().map(|(s, m)| (*s, m.to_string())).collect()
}

#[test]
fn early_transaction_over_two_remote_shards_locks_in_order_and_folds_in_order() {
    let mut h = H::new(1, 3);
    let (a, b, c) = (key_on("a", 0, 3), key_on("b", 2, 3), key_on("c", 0, 3));
    let op = h.start(
        &[&["SET", &b, "1"], &["MGET", &a, &b, &c], &["SET", &a, "2"]],
        true,
        &[],
    );
    // Shard 0 first: its lock request, its parts right behind it.
    assert_eq!(
        h.all_sent(),
        strs(&[
            (0, "lock 2"),
            (0, &format!("run 1.0 MGET {a} {c}")),
            (0, &format!("run 2.0 SET {a} 2")),
        ])
    );
    assert_eq!(h.coord.phase(op), Some(Phase::Locking { next: 0 }));
    assert!(
        h.conn().is_empty(),
        "the connection waits: shard 2 not asked"
    );
    // Shard 0's locks held: shard 2 gets its request, its commands and its
    // own unlock in one batch; every request is out, the connection reads on.
    h.locked(op, false);
    assert_eq!(
        h.all_sent(),
        strs(&[
            (2, "lock 1 last"),
            (2, &format!("run 0.0 SET {b} 1")),
            (2, &format!("run 1.1 MGET {b}")),
            (2, "unlock"),
        ])
    );
    assert_eq!(h.conn(), ["reads on"]);
    // Shard 2's answer: every lock held, shard 0 is released behind its
    // commands.
    h.locked(op, false);
    assert_eq!(h.all_sent(), strs(&[(0, "unlock")]));
    assert_eq!(h.coord.phase(op), Some(Phase::Releasing));
    // Replies in any order fold in command order, MGET's by key.
    h.reply(op, 2, 0, "+OK\r\n");
    h.reply(op, 1, 1, "*1\r\n$1\r\n1\r\n");
    h.reply(op, 0, 0, "+OK\r\n");
    assert!(h.conn().is_empty());
    h.reply(op, 1, 0, "*2\r\n$1\r\nx\r\n$-1\r\n");
    assert_eq!(h.conn(), ["answer [OK,[x,1,nil],OK]"]);
    assert!(h.idle());
    assert!(h.all_sent().is_empty());
}

#[test]
fn watch_takes_every_lock_first_then_runs_then_unlocks() {
    let mut h = H::new(1, 3);
    let (a, b, w) = (key_on("a", 0, 3), key_on("b", 2, 3), key_on("w", 1, 3));
    let op = h.start(&[&["SET", &a, "1"], &["INCR", &b]], true, &[&w]);
    // The watched key is on the home shard, after shard 0: only shard 0
    // is asked now.
    assert_eq!(h.all_sent(), strs(&[(0, "lock 1 watch")]));
    // Shard 0's locks held: the home shard's are taken inline, and shard 2
    // is asked right after.
    h.locked(op, false);
    assert_eq!(h.ex.locks.counts().0, 1, "the home shard holds the key");
    assert_eq!(h.coord.phase(op), Some(Phase::Locking { next: 2 }));
    assert_eq!(h.all_sent(), strs(&[(2, "lock 1 watch")]));
    h.locked(op, false);
    // Every lock held: the commands, then each shard's unlock behind them.
    assert_eq!(
        h.all_sent(),
        strs(&[
            (0, &format!("run 0.0 SET {a} 1")),
            (0, "unlock"),
            (2, &format!("run 1.0 INCR {b}")),
            (2, "unlock"),
        ])
    );
    assert!(h.ex.locks.is_idle(), "the home shard released too");
    h.reply(op, 1, 0, ":1\r\n");
    h.reply(op, 0, 0, "+OK\r\n");
    assert_eq!(h.conn(), ["answer [OK,1]"]);
    assert!(h.idle());
}

#[test]
fn a_changed_watch_runs_nothing_and_answers_null() {
    let mut h = H::new(1, 3);
    let (a, b) = (key_on("a", 0, 3), key_on("b", 2, 3));
    let op = h.start(&[&["SET", &a, "1"], &["SET", &b, "1"]], true, &[&a]);
    assert_eq!(h.all_sent(), strs(&[(0, "lock 1 watch")]));
    // Shard 0 says the watched key changed; shard 2 is still locked (the
    // check and the commands are one atomic step), then both released.
    h.locked(op, true);
    assert_eq!(h.all_sent(), strs(&[(2, "lock 1 watch")]));
    h.locked(op, false);
    assert_eq!(h.all_sent(), strs(&[(0, "unlock"), (2, "unlock")]));
    assert_eq!(h.conn(), ["answer nil"]);
    assert!(h.idle());
}

#[test]
fn run_by_copy_writes_back_before_any_later_command() {
    let mut h = H::new(1, 3);
    let (src, dst) = (key_on("src", 0, 3), key_on("dst", 2, 3));
    let op = h.start(
        &[
            &["RENAME", &src, &dst],
            &["SET", &src, "again"],
            &["GET", &dst],
        ],
        true,
        &[],
    );
    // Not early: every lock first.
    assert_eq!(h.all_sent(), strs(&[(0, "lock 1")]));
    h.locked(op, false);
    assert_eq!(h.all_sent(), strs(&[(2, "lock 1")]));
    h.locked(op, false);
    // RENAME needs both keys in one place: copies are fetched, nothing
    // later is sent meanwhile.
    assert_eq!(
        h.all_sent(),
        strs(&[(0, &format!("export {src}")), (2, &format!("export {dst}"))])
    );
    assert_eq!(
        h.coord.phase(op),
        Some(Phase::Copying {
            step: 0,
            waiting: 2
        })
    );
    h.exported(op, &[(&dst, None)]);
    assert!(h.all_sent().is_empty());
    h.exported(op, &[(&src, Some("v"))]);
    // The write-back reaches each owner ahead of the later commands there,
    // and the unlocks come last.
    assert_eq!(
        h.all_sent(),
        strs(&[
            (0, &format!("import {src}=")),
            (0, &format!("run 1.0 SET {src} again")),
            (0, "unlock"),
            (2, &format!("import {dst}=v")),
            (2, &format!("run 2.0 GET {dst}")),
            (2, "unlock"),
        ])
    );
    h.reply(op, 2, 0, "$1\r\nv\r\n");
    h.reply(op, 1, 0, "+OK\r\n");
    assert_eq!(h.conn(), ["answer [OK,OK,v]"]);
    assert!(h.idle());
}

#[test]
fn every_shards_names_are_copied_behind_the_commands_before_them() {
    let mut h = H::new(1, 3);
    let (k0, k1, k2) = (key_on("k", 0, 3), key_on("k", 1, 3), key_on("k", 2, 3));
    h.ex.shard
        .map
        .insert(k1.clone().into_bytes(), b"v".to_vec());
    let op = h.start(
        &[&["SET", &k0, "x"], &["KEYCOUNT"], &["GET", &k2]],
        true,
        &[],
    );
    // A command over every key locks every shard whole, in order.
    assert_eq!(h.all_sent(), strs(&[(0, "lock 1")]));
    h.locked(op, false);
    assert_eq!(h.all_sent(), strs(&[(2, "lock 1 read")]));
    h.locked(op, false);
    // The first round asks for no key but for every shard's names: on
    // each ring behind the commands sent before it; the home's are taken
    // at once. Nothing later goes meanwhile.
    assert_eq!(
        h.all_sent(),
        strs(&[
            (0, &format!("run 0.0 SET {k0} x")),
            (0, "export names"),
            (2, "export names"),
        ])
    );
    h.exported(op, &[(&k0, Some(""))]);
    assert!(h.all_sent().is_empty());
    h.exported(op, &[(&k2, Some(""))]);
    // The names are asked for once: the next round runs the command, which
    // writes nothing back.
    assert_eq!(
        h.all_sent(),
        strs(&[
            (0, "unlock"),
            (2, &format!("run 2.0 GET {k2}")),
            (2, "unlock"),
        ])
    );
    h.reply(op, 0, 0, "+OK\r\n");
    h.reply(op, 2, 0, "$1\r\nw\r\n");
    assert_eq!(h.conn(), ["answer [OK,3,w]"]);
    assert!(h.idle());
}

#[test]
fn a_connection_command_runs_in_its_turn_and_later_commands_see_it() {
    let mut h = H::new(1, 3);
    let (a, b) = (key_on("a", 0, 3), key_on("b", 2, 3));
    let op = h.start(
        &[&["SET", &a, "1"], &["SELECT", "5"], &["SET", &b, "2"]],
        true,
        &[],
    );
    h.all_sent();
    h.locked(op, false);
    h.all_sent();
    h.locked(op, false);
    // SELECT ran on the connection between the two: the second SET goes
    // with the new database.
    let b2 = h.rings.0[2].reqs.iter().find_map(|r| match *r {
        Req::TxExec { client, .. } => Some(client.db),
        _ => None,
    });
    assert_eq!(b2, Some(5));
    assert_eq!(h.client.db, 5);
    h.all_sent();
    h.reply(op, 0, 0, "+OK\r\n");
    h.reply(op, 2, 0, "+OK\r\n");
    assert_eq!(h.conn(), ["answer [OK,OK,OK]"]);
    assert!(h.idle());
}

#[test]
fn a_connection_closed_mid_lock_still_releases_everything() {
    let mut h = H::new(1, 3);
    let (a, b, c) = (key_on("a", 0, 3), key_on("b", 1, 3), key_on("c", 2, 3));
    let op = h.start(
        &[
            &["SET", &a, "1"],
            &["SET", &b, "1"],
            &["PING"],
            &["SET", &c, "1"],
        ],
        true,
        &[],
    );
    assert_eq!(h.all_sent(), strs(&[(0, "lock 1")]));
    // The connection goes while shard 0's locks are still being taken.
    h.coord.closed(CONN, GEN);
    h.closed = true;
    h.locked(op, false);
    // The home shard's locks are taken inline, then shard 2 is asked.
    assert_eq!(h.all_sent(), strs(&[(2, "lock 1")]));
    assert_eq!(h.ex.locks.counts().0, 1);
    h.locked(op, false);
    // Everything runs and is released as if the connection were there.
    assert_eq!(
        h.all_sent(),
        strs(&[
            (0, &format!("run 0.0 SET {a} 1")),
            (0, "unlock"),
            (2, &format!("run 3.0 SET {c} 1")),
            (2, "unlock"),
        ])
    );
    assert_eq!(h.ex.shard.get(&b).as_deref(), Some("1"));
    h.reply(op, 0, 0, "+OK\r\n");
    h.reply(op, 3, 0, "+OK\r\n");
    assert!(h.conn().is_empty(), "nobody to answer");
    assert!(h.idle());
}

#[test]
fn early_transaction_on_one_remote_shard_is_one_message() {
    let mut h = H::new(1, 3);
    let (a, b) = (key_on("a", 0, 3), key_on("b", 0, 3));
    let op = h.start(&[&["MSET", &a, "1", &b, "2"], &["MGET", &a, &b]], true, &[]);
    assert_eq!(
        h.all_sent(),
        strs(&[
            (0, "lock 2 last"),
            (0, &format!("run 0.0 MSET {a} 1 {b} 2")),
            (0, &format!("run 1.0 MGET {a} {b}")),
            (0, "unlock"),
        ])
    );
    // Everything is on its way: the connection reads on at once.
    assert_eq!(h.conn(), ["reads on"]);
    h.locked(op, false);
    h.reply(op, 0, 0, "+OK\r\n");
    h.reply(op, 1, 0, "*2\r\n$1\r\n1\r\n$1\r\n2\r\n");
    assert_eq!(h.conn(), ["answer [OK,[1,2]]"]);
    assert!(h.all_sent().is_empty(), "nothing more to shard 0");
    assert!(h.idle());
}

#[test]
fn a_home_lock_that_waits_is_granted_through_the_executor() {
    let mut h = H::new(0, 2);
    let (a, b) = (key_on("a", 0, 2), key_on("b", 1, 2));
    // A transaction of shard 1 holds `a` here.
    hold_for_shard_1(&mut h, &a);
    let answer = std::mem::take(&mut h.rings.0[1]);
    assert!(matches!(
        answer.resps[..],
        [crate::msg::Resp::Locked { op: 0, .. }]
    ));
    let op = h.start(&[&["MSET", &a, "1", &b, "1"]], false, &[]);
    assert!(h.all_sent().is_empty(), "waits for the home shard's locks");
    assert_eq!(h.coord.phase(op), Some(Phase::Locking { next: 0 }));
    // The holder lets go: the executor grants the home lock, the part on
    // the home shard runs at once, and shard 1 gets the rest in one batch.
    h.ex.unlock(&mut h.rings, tx_id(1, 0));
    h.pump();
    assert_eq!(h.ex.shard.get(&a).as_deref(), Some("1"));
    assert_eq!(
        h.all_sent(),
        strs(&[
            (1, "lock 1 last"),
            (1, &format!("run 0.1 MSET {b} 1")),
            (1, "unlock"),
        ])
    );
    assert_eq!(h.conn(), ["reads on"]);
    h.locked(op, false);
    assert!(h.ex.locks.is_idle(), "the home shard released");
    h.reply(op, 0, 1, "+OK\r\n");
    assert_eq!(h.conn(), ["answer OK"]);
    assert!(h.idle());
}

#[test]
fn a_logged_transaction_holds_every_lock_until_its_decision() {
    let mut h = H::new(1, 3);
    h.ex.effects.set_enabled(true);
    let (a, b) = (key_on("a", 0, 3), key_on("b", 2, 3));
    let op = h.start(&[&["SET", &a, "1"], &["SET", &b, "2"]], true, &[]);
    assert_eq!(
        h.all_sent(),
        strs(&[(0, "lock 1"), (0, &format!("run 0.0 SET {a} 1"))])
    );
    // The last shard's request is not `last`: it holds its locks and gets
    // no unlock with its commands.
    h.locked(op, false);
    assert_eq!(
        h.all_sent(),
        strs(&[(2, "lock 1"), (2, &format!("run 1.0 SET {b} 2"))])
    );
    h.locked(op, false);
    h.reply(op, 0, 0, "+OK\r\n");
    assert!(h.all_sent().is_empty(), "no unlock before every part is in");
    assert!(h.conn().iter().all(|c| !c.starts_with("answer")));
    let mut decided = Vec::new();
    h.ex.effects
        .take_records(|r| decided.push(format!("{r:?}")));
    assert!(decided.is_empty(), "{decided:?}");
    // The last part is in: the decision goes to the home shard's effects,
    // then the unlocks and the answer, in that order of the iteration.
    h.reply(op, 1, 0, "+OK\r\n");
    h.ex.effects
        .take_records(|r| decided.push(format!("{r:?}")));
    assert_eq!(decided, ["Commit(TxTag { coord: 1, seq: 1 })"]);
    assert_eq!(h.all_sent(), strs(&[(0, "unlock"), (2, "unlock")]));
    assert_eq!(h.conn(), ["answer [OK,OK]"]);
    assert!(h.idle());
}

#[test]
fn a_read_only_transaction_is_not_logged() {
    let mut h = H::new(1, 3);
    h.ex.effects.set_enabled(true);
    let (a, b) = (key_on("a", 0, 3), key_on("b", 2, 3));
    let op = h.start(&[&["GET", &a], &["GET", &b]], true, &[]);
    h.all_sent();
    h.locked(op, false);
    // Unlogged: the last shard unlocks itself, as without a log.
    assert!(h.all_sent().iter().any(|(s, m)| *s == 2 && m == "unlock"));
    h.locked(op, false);
    h.reply(op, 0, 0, "$-1\r\n");
    h.reply(op, 1, 0, "$-1\r\n");
    let mut recs = Vec::new();
    h.ex.effects.take_records(|r| recs.push(format!("{r:?}")));
    assert!(recs.is_empty(), "{recs:?}");
}

#[test]
fn a_woken_move_served_drops_its_waiter_before_the_unlock() {
    let mut h = H::new(1, 3);
    let (src, dst) = (key_on("s", 0, 3), key_on("d", 2, 3));
    let op = h.start_woken(&["BMOVE", &src, &dst, "0"]);
    // Each shard is asked for its copies right behind its lock request.
    assert_eq!(
        h.all_sent(),
        strs(&[(0, "lock 1"), (0, &format!("export {src}"))])
    );
    h.locked(op, false);
    assert_eq!(
        h.all_sent(),
        strs(&[(2, "lock 1"), (2, &format!("export {dst}"))])
    );
    // A copy that comes in while locks are still being taken is kept.
    h.exported(op, &[(&src, Some("x,y"))]);
    h.locked(op, false);
    assert!(h.all_sent().is_empty(), "every copy is asked already");
    h.exported(op, &[(&dst, None)]);
    // Moved: the write-backs, then on the source's shard the waiter leaves
    // its queue ahead of the unlock.
    assert_eq!(
        h.all_sent(),
        strs(&[
            (0, &format!("import {src}=y")),
            (0, "unpark"),
            (0, "unlock"),
            (2, &format!("import {dst}=x")),
            (2, "unlock"),
        ])
    );
    assert_eq!(h.conn(), ["answer x"]);
    assert!(h.idle());
}

#[test]
fn a_woken_move_that_finds_nothing_waits_on_in_place() {
    let mut h = H::new(1, 3);
    let (src, dst) = (key_on("s", 0, 3), key_on("d", 2, 3));
    let op = h.start_woken(&["BMOVE", &src, &dst, "0"]);
    h.all_sent();
    h.locked(op, false);
    h.all_sent();
    h.locked(op, false);
    h.all_sent();
    h.exported(op, &[(&src, None)]);
    h.exported(op, &[(&dst, None)]);
    // Taken meanwhile: parked again on the source's shard only (where the
    // waiter keeps its place), before that shard's unlock; no answer.
    assert_eq!(
        h.all_sent(),
        strs(&[
            (0, &format!("park BMOVE {src} {dst} 0")),
            (0, "unlock"),
            (2, "unlock"),
        ])
    );
    assert_eq!(h.conn(), ["waits on [0]"]);
    assert!(h.idle());
}

#[test]
fn publish_in_a_transaction_reaches_every_shard_in_its_turn() {
    let mut h = H::new(1, 3);
    h.home_subscribers = 2;
    let (a, b) = (key_on("a", 0, 3), key_on("b", 2, 3));
    let op = h.start(
        &[
            &["SET", &a, "1"],
            &["PUBLISH", "ch", "m"],
            &["SET", &b, "2"],
        ],
        true,
        &[],
    );
    // Not early: every lock first.
    assert_eq!(h.all_sent(), strs(&[(0, "lock 1")]));
    h.locked(op, false);
    assert_eq!(h.all_sent(), strs(&[(2, "lock 1")]));
    h.locked(op, false);
    // The message waits for the commands before it to have run (their
    // keyspace events go first); then it goes to the other shards, the
    // home shard delivers in its turn, and only then goes the next command.
    assert_eq!(h.all_sent(), strs(&[(0, &format!("run 0.0 SET {a} 1"))]));
    assert!(h.conn().is_empty(), "nothing published before SET answered");
    h.reply(op, 0, 0, "+OK\r\n");
    assert_eq!(h.conn(), ["publish here m"]);
    assert_eq!(
        h.all_sent(),
        strs(&[
            (0, "publish 1.0 ch m"),
            (0, "unlock"),
            (2, "publish 1.2 ch m"),
            (2, &format!("run 2.0 SET {b} 2")),
            (2, "unlock"),
        ])
    );
    h.reply(op, 1, 2, ":3\r\n");
    h.reply(op, 2, 0, "+OK\r\n");
    assert!(h.conn().is_empty(), "shard 0's count is still to come");
    h.reply(op, 1, 0, ":1\r\n");
    assert_eq!(h.conn(), ["answer [OK,6,OK]"]);
    assert!(h.idle());
}

#[test]
fn finished_transactions_lend_their_buffers_to_the_next_ones_within_bounds() {
    // Home shard 0 of 2: each MGET runs its home part inline and sends the
    // rest with the lock request. Transactions one after the other, and
    // then many at once, each answered right: a reused transaction, split
    // plan or fan-out carries nothing over.
    let mut h = H::new(0, 2);
    for i in 0..3 {
        let (a, b) = (
            key_on(&format!("a{i}x"), 0, 2),
            key_on(&format!("b{i}x"), 1, 2),
        );
        let op = h.start(&[&["MGET", &b, &a, &b]], false, &[]);
        assert_eq!(
            h.all_sent(),
            strs(&[
                (1, "lock 1 read last"),
                (1, &format!("run 0.0 MGET {b} {b}")),
                (1, "unlock"),
            ])
        );
        h.locked(op, false);
        h.reply(op, 0, 0, &format!("*2\r\n$2\r\nb{i}\r\n$2\r\nb{i}\r\n"));
        assert_eq!(
            h.conn(),
            ["reads on".to_string(), format!("answer [b{i},nil,b{i}]")]
        );
        assert!(h.idle());
    }
    // One at a time, one of each is kept and reused.
    assert_eq!(h.coord.spare_txs.len(), 1);
    assert_eq!(h.coord.spare_fans.len(), 1);
    assert_eq!(h.coord.spare_splits.len(), 1);
    // Many in flight, answered out of order.
    h.any_seq = true;
    let mut ops = Vec::new();
    for i in 0..100 {
        let (a, b) = (
            key_on(&format!("m{i}x"), 0, 2),
            key_on(&format!("n{i}x"), 1, 2),
        );
        ops.push(h.start(&[&["MGET", &a, &b]], false, &[]));
    }
    h.all_sent();
    h.conn();
    for &op in ops.iter().rev() {
        h.locked(op, false);
        h.reply(op, 0, 1, "*1\r\n$1\r\nz\r\n");
    }
    assert_eq!(h.conn().len(), 100);
    assert!(h.idle());
    assert!(h.coord.spare_txs.len() <= SPARE_TXS);
    assert!(h.coord.spare_fans.len() <= SPARE_TXS);
    assert!(h.coord.spare_splits.len() <= SPARE_TXS);
}

#[test]
fn a_home_above_the_other_shard_takes_its_locks_first_and_asks_not_to_wait() {
    let mut h = H::new(1, 2);
    let (a, b) = (key_on("a", 0, 2), key_on("b", 1, 2));
    let op = h.start(&[&["MSET", &a, "1", &b, "2"]], false, &[]);
    // The home keys are held out of order; shard 0 gets one message: its
    // lock request (not to wait), its part and its unlock.
    assert_eq!(
        h.all_sent(),
        strs(&[
            (0, "lock 1 last no-wait"),
            (0, &format!("run 0.0 MSET {a} 1")),
            (0, "unlock"),
        ])
    );
    assert_eq!(h.ex.locks.holders_of(b.as_bytes()), 1);
    assert_eq!(
        h.ex.shard.get(&b),
        None,
        "the home part waits for the grant"
    );
    assert!(h.conn().is_empty(), "a refusal would send it again");
    // Granted: the home part runs, the home locks go, and nothing more
    // goes to shard 0 (it let go by itself).
    h.locked(op, false);
    assert_eq!(h.ex.shard.get(&b).as_deref(), Some("2"));
    assert!(h.ex.locks.is_idle());
    assert!(h.all_sent().is_empty());
    assert_eq!(h.conn(), ["reads on"]);
    h.reply(op, 0, 0, "+OK\r\n");
    assert_eq!(h.conn(), ["answer OK"]);
    assert!(h.idle());
}

#[test]
fn a_refused_try_starts_over_in_shard_order_and_later_ones_do_not_try() {
    let mut h = H::new(1, 2);
    let (a, b) = (key_on("a", 0, 2), key_on("b", 1, 2));
    let op = h.start(&[&["MGET", &a, &b]], false, &[]);
    assert_eq!(
        h.all_sent(),
        strs(&[
            (0, "lock 1 read last no-wait"),
            (0, &format!("run 0.0 MGET {a}")),
            (0, "unlock"),
        ])
    );
    // Shard 0's keys are taken: nothing ran there. The home locks go and
    // the transaction asks shard 0 first, waiting there this time.
    h.coord.refused(&mut h.ex, &mut h.rings, op);
    h.pump();
    assert!(h.ex.locks.is_idle(), "the home locks went");
    assert_eq!(
        h.all_sent(),
        strs(&[(0, "lock 1 read"), (0, &format!("run 0.0 MGET {a}"))])
    );
    assert!(h.conn().is_empty());
    h.locked(op, false);
    assert_eq!(h.all_sent(), strs(&[(0, "unlock")]));
    assert_eq!(h.conn(), ["reads on"]);
    h.reply(op, 0, 0, "*1\r\n$1\r\nx\r\n");
    assert_eq!(h.conn(), ["answer [x,nil]"]);
    assert!(h.idle());
    // The next transactions on shard 0 lock in order for a while.
    for _ in 0..TRY_BACKOFF {
        let op = h.start(&[&["MGET", &a, &b]], false, &[]);
        assert_eq!(h.all_sent()[0], (0, "lock 1 read".to_string()));
        h.locked(op, false);
        h.all_sent();
        h.reply(op, 0, 0, "*1\r\n$1\r\nx\r\n");
        h.conn();
        assert!(h.idle());
    }
    h.start(&[&["MGET", &a, &b]], false, &[]);
    assert_eq!(
        h.all_sent()[0],
        (0, "lock 1 read last no-wait".to_string()),
        "then it tries again"
    );
}

#[test]
fn a_request_not_to_wait_is_refused_when_its_keys_are_taken() {
    let mut h = H::new(0, 2);
    let a = key_on("a", 0, 2);
    let held = Claim {
        keys: vec![key_id(a.as_bytes())],
        client: 9,
        ..Claim::default()
    };
    assert!(h
        .ex
        .lock_request(&mut h.rings, 1, 0, held, false, false, false, 0));
    std::mem::take(&mut h.rings.0[1]);
    let writer = Claim {
        keys: vec![key_id(a.as_bytes())],
        client: 10,
        ..Claim::default()
    };
    assert!(!h
        .ex
        .lock_request(&mut h.rings, 1, 1, writer, false, true, true, 0));
    let answer = std::mem::take(&mut h.rings.0[1]);
    assert!(matches!(
        answer.resps[..],
        [crate::msg::Resp::Refused { op: 1 }]
    ));
    assert_eq!(h.ex.locks.counts(), (1, 0), "nothing queued");
    h.ex.unlock(&mut h.rings, tx_id(1, 0));
    assert!(h.ex.locks.is_idle());
}

/// Two-shard keys for the group tests: `a` on the home shard 0, `b` on
/// shard 1, `a` holding 10 and `b` (sent as a copy) 10.
fn group_setup() -> (H, String, String) {
    let mut h = H::new(0, 2);
    let (a, b) = (key_on("a", 0, 2), key_on("b", 1, 2));
    h.ex.shard
        .map
        .insert(a.clone().into_bytes(), b"10".to_vec());
    (h, a, b)
}

#[test]
fn commands_on_the_same_keys_join_a_group_and_run_in_order_on_one_copy() {
    let (mut h, a, b) = group_setup();
    let op = h.start(&[&["XFER", &a, &b]], false, &[]);
    // Its home lock taken inline; shard 1's lock with the copy behind it.
    assert_eq!(
        h.all_sent(),
        strs(&[(1, "lock 1"), (1, &format!("export {b}"))])
    );
    // Other connections' commands on the same keys (in either order)
    // join it while it waits: nothing more is sent.
    assert_eq!(h.offer(8, &["XFER", &a, &b], true), (op, true));
    assert_eq!(h.offer(9, &["XFER", &b, &a], true), (op, true));
    assert!(h.all_sent().is_empty());
    // The copy and the lock: the leader, then each member, on one copy;
    // one write-back per key, one unlock.
    h.exported(op, &[(&b, Some("10"))]);
    h.locked(op, false);
    assert_eq!(
        h.all_sent(),
        strs(&[(1, &format!("import {b}=11")), (1, "unlock")])
    );
    assert_eq!(h.ex.shard.get(&a).as_deref(), Some("9"));
    // Answers in order: the leader's, then its members'.
    assert_eq!(h.conn(), ["answer 11", "answer@8 12", "answer@9 9"]);
    assert!(h.idle());
    // The group is gone: a later command starts its own transaction.
    let (op2, joined) = h.offer(10, &["XFER", &a, &b], true);
    assert!(!joined);
    assert_eq!(
        h.all_sent(),
        strs(&[(1, "lock 1"), (1, &format!("export {b}"))])
    );
    h.exported(op2, &[(&b, Some("11"))]);
    h.locked(op2, false);
    assert_eq!(h.conn(), ["answer@10 12"]);
}

#[test]
fn a_command_whose_connection_is_owed_a_reply_does_not_join() {
    let (mut h, a, b) = group_setup();
    let op = h.start(&[&["XFER", &a, &b]], false, &[]);
    h.all_sent();
    // Owed an earlier reply: that command may still be on its way to a
    // shard whose copy the group took, so it runs on its own, behind.
    let (op2, joined) = h.offer(8, &["XFER", &a, &b], false);
    assert!(!joined);
    assert_ne!(op, op2);
    // Queued behind the group's home lock: nothing sent yet.
    assert!(h.all_sent().is_empty());
    // Other keys, or the group's own connection, do not join either.
    let c = key_on("c", 1, 2);
    assert!(!h.offer(9, &["XFER", &a, &c], true).1);
    h.exported(op, &[(&b, Some("10"))]);
    h.locked(op, false);
    assert_eq!(h.conn(), ["answer 11"]);
}

#[test]
fn a_member_that_asks_to_run_again_is_taken_back_alone() {
    let (mut h, a, b) = group_setup();
    let c = key_on("c", 1, 2);
    let op = h.start(&[&["XFER", &a, &b]], false, &[]);
    h.all_sent();
    assert!(h.offer(8, &["ESC", &a, &b, &c], true).1);
    assert!(h.offer(9, &["XFER", &a, &b], true).1);
    assert!(h.offer(11, &["ESC", &a, &b, "-"], true).1);
    h.exported(op, &[(&b, Some("10"))]);
    h.locked(op, false);
    // Member 8 added to a and b, then reached c: its writes are taken back
    // and the members after it see the leader's and member 9's only.
    assert_eq!(
        h.all_sent(),
        strs(&[(1, &format!("import {b}=13")), (1, "unlock")])
    );
    assert_eq!(h.ex.shard.get(&a).as_deref(), Some("9"));
    assert_eq!(
        h.conn(),
        ["answer 11", "runs again@8", "answer@9 12", "answer@11 22"]
    );
    assert!(h.idle());
}

#[test]
fn a_leader_that_asks_to_run_again_leaves_its_members_running() {
    let (mut h, a, b) = group_setup();
    let c = key_on("c", 1, 2);
    let op = h.start(&[&["ESC", &a, &b, &c]], false, &[]);
    h.all_sent();
    assert!(h.offer(8, &["XFER", &a, &b], true).1);
    h.exported(op, &[(&b, Some("10"))]);
    h.locked(op, false);
    assert_eq!(
        h.all_sent(),
        strs(&[(1, &format!("import {b}=11")), (1, "unlock")])
    );
    assert_eq!(h.ex.shard.get(&a).as_deref(), Some("9"));
    assert_eq!(h.conn(), ["runs again", "answer@8 11"]);
    assert!(h.idle());
}

#[test]
fn a_closed_members_command_still_runs_and_only_its_answer_is_dropped() {
    let (mut h, a, b) = group_setup();
    let op = h.start(&[&["XFER", &a, &b]], false, &[]);
    h.all_sent();
    assert!(h.offer(8, &["XFER", &a, &b], true).1);
    assert!(h.offer(9, &["XFER", &a, &b], true).1);
    h.coord.closed(8, GEN);
    h.exported(op, &[(&b, Some("10"))]);
    h.locked(op, false);
    assert_eq!(
        h.all_sent(),
        strs(&[(1, &format!("import {b}=13")), (1, "unlock")])
    );
    assert_eq!(h.conn(), ["answer 11", "answer@9 13"]);
}

#[test]
fn a_logged_group_answers_every_member_after_its_decision() {
    let (mut h, a, b) = group_setup();
    h.ex.effects.set_enabled(true);
    let op = h.start(&[&["XFER", &a, &b]], false, &[]);
    h.all_sent();
    assert!(h.offer(8, &["XFER", &a, &b], true).1);
    h.exported(op, &[(&b, Some("10"))]);
    h.locked(op, false);
    // The write-back, and no unlock before the decision.
    assert_eq!(h.all_sent(), strs(&[(1, &format!("import {b}=12"))]));
    assert!(h.conn().is_empty());
    // The write-back is acknowledged (logged there): one decision for the
    // group, then the unlock and every answer.
    h.reply(op, u32::MAX, 0, "+OK\r\n");
    let mut decided = Vec::new();
    h.ex.effects.take_records(|r| {
        if let crate::exec::Record::Commit(t) = r {
            decided.push(t)
        }
    });
    assert_eq!(decided, [TxTag { coord: 0, seq: 1 }]);
    assert_eq!(h.all_sent(), strs(&[(1, "unlock")]));
    assert_eq!(h.conn(), ["answer 11", "answer@8 12"]);
    assert!(h.idle());
}

#[test]
fn a_group_takes_at_most_its_cap_and_the_rest_queue_behind_it() {
    let (mut h, a, b) = group_setup();
    let op = h.start(&[&["XFER", &a, &b]], false, &[]);
    h.all_sent();
    for i in 0..GROUP_CAP as u32 {
        assert_eq!(h.offer(100 + i, &["XFER", &a, &b], true), (op, true));
    }
    // Full: the next starts its own transaction, which waits for the
    // home lock behind the group and becomes the next group's leader.
    let late = 100 + GROUP_CAP as u32;
    let (op2, joined) = h.offer(late, &["XFER", &a, &b], true);
    assert!(!joined);
    assert!(h.all_sent().is_empty());
    assert_eq!(h.offer(500, &["XFER", &a, &b], true), (op2, true));
    h.exported(op, &[(&b, Some("10"))]);
    h.locked(op, false);
    let answers = h.conn();
    assert_eq!(answers.len(), 1 + GROUP_CAP);
    assert_eq!(
        answers[GROUP_CAP],
        format!("answer@{} {}", late - 1, 11 + GROUP_CAP)
    );
    // The group let go: the next one takes the home lock and asks shard 1.
    assert_eq!(
        h.all_sent(),
        strs(&[
            (1, &format!("import {b}={}", 11 + GROUP_CAP)),
            (1, "unlock"),
            (1, "lock 1"),
            (1, &format!("export {b}")),
        ])
    );
    h.exported(op2, &[(&b, Some(&(11 + GROUP_CAP).to_string()))]);
    h.locked(op2, false);
    assert_eq!(
        h.conn(),
        [
            format!("answer@{late} {}", 12 + GROUP_CAP),
            format!("answer@500 {}", 13 + GROUP_CAP)
        ]
    );
    assert!(h.idle());
}

/// Keys named `{prefix}{i}` until one is found on each of `n` shards.
fn key_per_shard(prefix: &str, n: usize) -> Vec<String> {
    let mut found = vec![String::new(); n];
    for i in 0.. {
        let k = format!("{prefix}{i}");
        let s = shard_of(k.as_bytes(), n);
        if found[s].is_empty() {
            found[s] = k;
        }
        if found.iter().all(|f| !f.is_empty()) {
            return found;
        }
    }
    unreachable!()
}

/// What `split_effects` gives each of three shards for `effects` (one
/// command per line, `db:` before it) and the keys written back:
/// `None` for a shard that falls back, else its share as lines.
fn split(effects: &[&str], dirty: &[&str]) -> Vec<Option<Vec<String>>> {
    let mut e = crate::exec::Effects::default();
    e.set_enabled(true);
    for line in effects {
        let (db, cmd) = line.split_once(':').expect("db:command");
        let words: Vec<&[u8]> = cmd.split(' ').map(str::as_bytes).collect();
        e.emit(db.parse().unwrap(), words.into_iter());
    }
    let dirty: Vec<(Vec<u8>, Option<Vec<u8>>)> = dirty
        .iter()
        .map(|k| (k.as_bytes().to_vec(), None))
        .collect();
    split_effects(&Toy, &e, &dirty, &crate::SlotMap::new(3))
        .into_iter()
        .map(|share| {
            share.map(|share| {
                let mut out = crate::exec::Effects::default();
                out.set_enabled(true);
                out.emit_share(&share);
                let mut lines = Vec::new();
                out.each(|db, _, args| {
                    let words: Vec<_> = args.iter().map(String::from_utf8_lossy).collect();
                    lines.push(format!("{db}:{}", words.join(" ")));
                });
                lines
            })
        })
        .collect()
}

#[test]
fn effects_run_by_copy_split_per_owner_or_fall_back() {
    let k = key_per_shard("k", 3);
    let (a, b, c) = (&k[0][..], &k[1][..], &k[2][..]);
    let same = |x: &str| format!("{{{x}}}same");
    // Each command on its key's owner, in order, with its database.
    let got = split(
        &[
            &format!("0:INCR {a}"),
            &format!("0:SET {b} 1"),
            &format!("3:INCR {a}"),
            &format!("0:RENAME {a} {}", same(a)),
        ],
        &[a, b, &same(a)],
    );
    assert_eq!(
        got,
        [
            Some(vec![
                format!("0:INCR {a}"),
                format!("3:INCR {a}"),
                format!("0:RENAME {a} {}", same(a)),
            ]),
            Some(vec![format!("0:SET {b} 1")]),
            Some(vec![]),
        ]
    );
    // A command naming keys of two shards: those two fall back, the
    // third keeps its commands.
    let got = split(
        &[
            &format!("0:SET {a} 1"),
            &format!("0:RENAME {a} {b}"),
            &format!("0:INCR {c}"),
        ],
        &[a, b, c],
    );
    assert_eq!(got, [None, None, Some(vec![format!("0:INCR {c}")])]);
    // A key written back that no command names: its shard falls back.
    let got = split(&[&format!("0:INCR {a}")], &[a, b]);
    assert_eq!(got, [Some(vec![format!("0:INCR {a}")]), None, Some(vec![])]);
    // A command over the whole keyspace, or one the service cannot
    // route: every shard falls back.
    for whole in ["0:DBSIZE", "0:NOSUCH x"] {
        let got = split(&[&format!("0:INCR {a}"), whole], &[a]);
        assert_eq!(got, [None, None, None], "{whole}");
    }
}

#[test]
fn a_routed_split_command_is_planned_as_the_general_draft_plans_it() {
    // The routed draft finds each key's shard once, for its locks and its
    // split; the general one finds them again. Both must send the same
    // messages at every event and answer the same, on every home shard,
    // with keys repeated and out of shard order.
    for n in [2, 3] {
        for home in 0..n {
            let (a, b, c) = (key_on("a", 0, n), key_on("b", n - 1, n), key_on("c", 1, n));
            let cases: Vec<Vec<String>> = vec![
                vec!["MGET".into(), b.clone(), a.clone(), c.clone(), b.clone()],
                vec![
                    "MSET".into(),
                    a.clone(),
                    "1".into(),
                    b.clone(),
                    "2".into(),
                    c.clone(),
                    "3".into(),
                ],
                vec!["DEL".into(), c.clone(), b.clone(), a.clone(), a.clone()],
            ];
            for words in &cases {
                let words: Vec<&str> = words.iter().map(String::as_str).collect();
                let mut general = H::new(home, n);
                let mut routed = H::new(home, n);
                let op_g = general.start(&[&words], false, &[]);
                // Both ways of finding the keys' shards, by turns.
                let op_r = routed.start_routed(&words, (home + words.len()).is_multiple_of(2));
                let mut guard = 0;
                loop {
                    let (sent_g, sent_r) = (general.all_sent(), routed.all_sent());
                    assert_eq!(sent_g, sent_r, "{words:?} n={n} home={home}");
                    assert_eq!(general.conn(), routed.conn(), "{words:?}");
                    if sent_g.is_empty() {
                        break;
                    }
                    // Play every peer: grant what was asked, answer each
                    // part as the toy shard would (it holds nothing).
                    for (s, m) in sent_g {
                        let fields: Vec<&str> = m.split(' ').collect();
                        match fields[0] {
                            "lock" => {
                                general.locked(op_g, false);
                                routed.locked(op_r, false);
                            }
                            "run" => {
                                let (part, sub) = fields[1].split_once('.').expect("part.sub");
                                let (part, sub) = (part.parse().unwrap(), sub.parse().unwrap());
                                let reply = match fields[2] {
                                    "MGET" => {
                                        let nkeys = fields.len() - 3;
                                        let mut r = format!("*{nkeys}\r\n");
                                        for _ in 0..nkeys {
                                            r.push_str("$-1\r\n");
                                        }
                                        r
                                    }
                                    "DEL" => ":0\r\n".to_string(),
                                    _ => "+OK\r\n".to_string(),
                                };
                                let _ = s;
                                general.reply(op_g, part, sub, &reply);
                                routed.reply(op_r, part, sub, &reply);
                            }
                            _ => {}
                        }
                    }
                    guard += 1;
                    assert!(guard < 10, "{words:?}: no end");
                }
                assert!(general.idle() && routed.idle(), "{words:?}");
            }
        }
    }
}

#[test]
fn spares_follow_the_transactions_in_flight_and_fall_back_when_they_end() {
    // Home shard 0 of 2, MGETs over both shards: more in flight at once
    // than the least number of spares kept.
    let mut h = H::new(0, 2);
    h.any_seq = true;
    let many = SPARE_TXS * 3;
    let burst = |h: &mut H, round: usize| {
        let mut ops = Vec::new();
        for i in 0..many {
            let (a, b) = (
                key_on(&format!("m{round}.{i}x"), 0, 2),
                key_on(&format!("n{round}.{i}x"), 1, 2),
            );
            ops.push(h.start(&[&["MGET", &a, &b]], false, &[]));
        }
        h.all_sent();
        h.conn();
        for &op in &ops {
            h.locked(op, false);
            h.reply(op, 0, 1, "*1\r\n$1\r\nz\r\n");
        }
        assert_eq!(h.conn().len(), many);
        assert!(h.idle());
    };
    burst(&mut h, 0);
    // Every finished transaction was kept for the next burst ...
    assert_eq!(h.coord.spare_txs.len(), many);
    assert_eq!(h.coord.spare_fans.len(), many);
    assert_eq!(h.coord.spare_splits.len(), many);
    // ... which takes them all, and gives them all back.
    burst(&mut h, 1);
    assert_eq!(h.coord.spare_txs.len(), many);
    // Once nothing is in flight, ticks give back what is beyond the least
    // number kept.
    for _ in 0..20 {
        h.coord.tick();
    }
    assert_eq!(h.coord.spare_txs.len(), SPARE_TXS);
    assert_eq!(h.coord.spare_fans.len(), SPARE_TXS);
    assert_eq!(h.coord.spare_splits.len(), SPARE_TXS);
    assert!(h.coord.spare_args.len() <= SPARE_TXS);
}

/// Split commands of other connections on the keys of a transaction that
/// waits for its home locks ride it (crate doc, "Riders"): their parts run
/// behind its own on each shard, under its locks, with one lock request
/// and one unlock; each connection gets its own answer. A command on other
/// keys, and one whose connection owes the reply of another command, do
/// not ride.
#[test]
fn split_commands_ride_a_transaction_that_waits_for_its_home_locks() {
    let mut h = H::new(0, 2);
    let (a, b) = (key_on("a", 0, 2), key_on("b", 1, 2));
    // A transaction of shard 1 holds `a` here.
    hold_for_shard_1(&mut h, &a);
    h.rings.0[1] = Default::default();
    let op = h.start_routed(&["MSET", &a, "1", &b, "1"], true);
    assert!(h.all_sent().is_empty(), "waits for the home shard's locks");
    let mut none = None;
    // Owing nothing: rides, and so does a read of the same keys.
    assert_eq!(
        h.ride(8, &["MSET", &b, "2", &a, "2"], (8, 8), &mut none.clone()),
        (op, true)
    );
    assert_eq!(
        h.ride(11, &["MGET", &a, &b], (11, 11), &mut none.clone()),
        (op, true)
    );
    // Other keys, or owing a reply of another command: a transaction of
    // its own (queued behind, on `a`).
    let c = key_on("c", 1, 2);
    let (op9, rode9) = h.ride(9, &["MSET", &a, "3", &c, "3"], (9, 9), &mut none.clone());
    assert!(!rode9);
    let (op10, rode10) = h.ride(10, &["MSET", &a, "4", &b, "4"], (10, 9), &mut none);
    assert!(!rode10);
    assert!(h.all_sent().is_empty());
    assert_eq!(h.coord.rode, 2);
    // The holder lets go: every home part runs in arrival order, then
    // shard 1 gets one lock request with every part behind it, and one
    // unlock.
    h.ex.unlock(&mut h.rings, tx_id(1, 0));
    h.pump();
    assert_eq!(h.ex.shard.get(&a).as_deref(), Some("2"));
    assert_eq!(
        h.all_sent(),
        strs(&[
            (1, "lock 1 last"),
            (1, &format!("run 0.1 MSET {b} 1")),
            // This one named `b` first: its part for shard 1 is part 0.
            (1, &format!("run 1.0 MSET {b} 2")),
            (1, &format!("run 2.1 MGET {b}")),
            (1, "unlock"),
        ])
    );
    h.locked(op, false);
    h.reply(op, 0, 1, "+OK\r\n");
    h.reply(op, 1, 0, "+OK\r\n");
    h.reply(op, 2, 1, "*1\r\n$1\r\n2\r\n");
    let conn = h.conn();
    assert!(conn.contains(&"answer OK".to_string()), "{conn:?}");
    assert!(conn.contains(&"answer@8 OK".to_string()), "{conn:?}");
    assert!(conn.contains(&"answer@11 [2,2]".to_string()), "{conn:?}");
    // The two that did not ride run on their own, behind it.
    assert_ne!(op9, op);
    assert_ne!(op10, op);
}
