//! What every family's unit tests share: a shard and client to run
//! handlers on directly (no runtime, controllable clock) and the reply
//! bytes they compare against.

use crate::ctx::Ctx;
use crate::shard::Shard;
use crate::table::{arity_ok, Handler, RouteKind, Table};
use kevy_resp::{OwnedArgs, Reply};
use kevy_rt::ClientCtx;

/// A shard and a client to run handlers on directly (no runtime), with
/// a controllable clock.
pub struct T {
    pub shard: Shard,
    pub client: ClientCtx,
    pub table: Table,
}

impl T {
    pub fn new() -> T {
        let addr = "127.0.0.1:6379".parse().unwrap();
        let mut shard = Shard::new(0, 1);
        shard.store.set_now(1_000_000);
        T {
            shard,
            client: ClientCtx {
                id: 1,
                db: 0,
                resp3: false,
                home: 0,
                peer: addr,
                local: addr,
                created_ms: 0,
                subscribed: false,
                unix: false,
                tracking: Default::default(),
                checked: false,
                no_touch: false,
            },
            table: Table::new(),
        }
    }

    /// Runs one command (after the table's arity check and, for a
    /// custom route, its route check) and returns the reply bytes.
    pub fn run(&mut self, argv: &[&str]) -> String {
        let args = OwnedArgs::from_slices(argv);
        let id = self
            .table
            .lookup(args.args().get(0))
            .expect("known command");
        let spec = *self.table.get(id);
        if !arity_ok(spec.arity, argv.len()) {
            return format!(
                "-ERR wrong number of arguments for '{}' command\r\n",
                spec.name
            );
        }
        if let RouteKind::Custom(f) = spec.route {
            if let Err(e) = f(args.args(), &self.client, self.shard.nshards) {
                return format!("-{e}\r\n");
            }
        }
        let Handler::Shard(f) = spec.run else {
            panic!("not a shard command");
        };
        let mut buf = Vec::new();
        let mut ctx = Ctx {
            shard: &mut self.shard,
            db: self.client.db as usize,
            client: &self.client,
            args: args.args(),
            out: Reply::new(&mut buf, self.client.resp3),
        };
        f(&mut ctx);
        String::from_utf8_lossy(&buf).into_owned()
    }

    pub fn advance(&mut self, ms: u64) {
        let now = self.shard.store.now();
        self.shard.store.set_now(now + ms);
    }
}

pub const OK: &str = "+OK\r\n";
pub const NULL: &str = "$-1\r\n";
pub const NULL_ARRAY: &str = "*-1\r\n";
pub const EMPTY: &str = "*0\r\n";
pub const WRONGTYPE: &str =
    "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
pub const NOTINT: &str = "-ERR value is not an integer or out of range\r\n";
pub const SYNTAX: &str = "-ERR syntax error\r\n";
pub fn int(n: i64) -> String {
    format!(":{n}\r\n")
}
pub fn bulk(s: &str) -> String {
    format!("${}\r\n{s}\r\n", s.len())
}
pub fn arr(items: &[&str]) -> String {
    let mut s = format!("*{}\r\n", items.len());
    for i in items {
        s += &bulk(i);
    }
    s
}

/// Runs commands the way a reactor does (the service's routing, then the
/// connection handler) for the tests of the families that run on the
/// connection's home thread.
pub mod harness {
    use crate::ctx::Session;
    use crate::server::{Config, Server};
    use crate::service::Kevy;
    use crate::shard::Shard;
    use kevy_resp::{OwnedArgs, Reply};
    use kevy_rt::{ClientCtx, ConnAction, Route, Service};
    use std::sync::Arc;

    pub struct Harness {
        pub kevy: Kevy,
        pub shard: Shard,
        pub client: ClientCtx,
        pub session: Session,
        pub action: ConnAction,
    }

    /// A client with id 7 from 127.0.0.1:50000 to a two-shard server on
    /// 127.0.0.1:7777.
    pub fn harness() -> Harness {
        with_server(Server::new(Config {
            bind: "127.0.0.1".into(),
            port: 7777,
            shards: 2,
        }))
    }

    pub fn with_server(server: Server) -> Harness {
        Harness {
            kevy: Kevy::new(Arc::new(server)),
            shard: Shard::new(0, 2),
            client: ClientCtx {
                id: 7,
                db: 0,
                resp3: false,
                home: 0,
                peer: "127.0.0.1:50000".parse().unwrap(),
                local: "127.0.0.1:7777".parse().unwrap(),
                created_ms: kevy_sys::clock::unix_ms(),
                subscribed: false,
                unix: false,
                tracking: Default::default(),
                checked: false,
                no_touch: false,
            },
            session: Session::default(),
            action: ConnAction::Continue,
        }
    }

    impl Harness {
        pub fn server(&self) -> &Server {
            &self.kevy.server
        }

        pub fn raw(&mut self, argv: &[&[u8]]) -> Vec<u8> {
            let owned = OwnedArgs::from_slices(argv);
            let args = owned.args();
            let mut out = Vec::new();
            self.action = ConnAction::Continue;
            match self.kevy.route(args, &self.client, 2) {
                Err(e) => Reply::new(&mut out, self.client.resp3).error_bytes(&e),
                // Run on the connection, CLIENT LIST and KILL see the
                // caller only.
                Ok((cmd, Route::Conn | Route::Clients { .. })) => {
                    self.action = self.kevy.exec_conn(
                        &mut self.shard,
                        &mut self.client,
                        &mut self.session,
                        cmd,
                        args,
                        &mut out,
                    );
                }
                Ok((_, route)) => panic!("{argv:?} routed to {route:?}"),
            }
            out
        }

        /// One command, arguments as given; the reply as text.
        pub fn args(&mut self, argv: &[&str]) -> String {
            let argv: Vec<&[u8]> = argv.iter().map(|a| a.as_bytes()).collect();
            String::from_utf8(self.raw(&argv)).unwrap()
        }

        /// One command split on spaces.
        pub fn run(&mut self, line: &str) -> String {
            self.args(&line.split(' ').collect::<Vec<_>>())
        }
    }
}
