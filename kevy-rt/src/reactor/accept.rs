//! Accepting connections into a reactor's table: the reactor's own
//! accept, and the busy desk's while a script runs long (`busy.rs`), which
//! holds the same table for that time.

use super::{Listener, ACCEPT_BUDGET, FIRST_CONN, UNIX_PEER};
use crate::conn::{Conn, ConnIo, ConnState};
use crate::service::{ClientCtx, Service};
use crate::stats::Stats;
use kevy_sys::{clock, Interest, Poller, Token};
use std::sync::atomic::{AtomicU64, Ordering};

/// What accepting a connection touches: the reactor's table, or, while a
/// script runs long, the same table lent to the busy desk.
pub(super) struct Admit<'a, S: Service> {
    pub(super) id: usize,
    pub(super) svc: &'a S,
    pub(super) stats: &'a Stats,
    pub(super) next_client_id: &'a AtomicU64,
    pub(super) poller: &'a Poller,
    pub(super) lim: &'a crate::limits::LimitValues,
    pub(super) conns: &'a mut Vec<Option<Box<Conn<S>>>>,
    pub(super) gens: &'a mut Vec<u32>,
    pub(super) free: &'a mut Vec<u32>,
    pub(super) ids: &'a mut std::collections::HashMap<u64, u32, ahash::RandomState>,
}

impl<S: Service> Admit<'_, S> {
    /// Accepts what waits on `listener` (a bounded number), each new
    /// connection's slab index pushed to `fresh` when given.
    pub(super) fn accept(&mut self, listener: &Listener, mut fresh: Option<&mut Vec<u32>>) {
        let keepalive = self.lim.keepalive_secs;
        let maxclients = self.lim.maxclients;
        for _ in 0..ACCEPT_BUDGET {
            let (stream, peer) = match listener.accept() {
                Ok(Some(x)) => x,
                Ok(None) => return,
                Err(e) => {
                    // EMFILE and friends: leave the backlog for later rather
                    // than spin; the listener stays registered.
                    eprintln!("kevy: accept failed on shard {}: {e}", self.id);
                    return;
                }
            };
            if keepalive != 0 && peer.is_some() {
                // Best effort, as Redis: a socket that refuses keep-alive
                // still serves.
                let _ = stream.set_keepalive(keepalive);
            }
            let connected = self.stats.sum(|s| &s.connected_clients);
            if connected >= maxclients {
                let _ = stream.write(b"-ERR max number of clients reached\r\n");
                self.stats.shards[self.id]
                    .rejected_connections
                    .fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let unix = peer.is_none();
            let peer = peer.unwrap_or(UNIX_PEER);
            let local = if unix {
                UNIX_PEER
            } else {
                stream.local_addr().unwrap_or(peer)
            };
            let client = ClientCtx {
                id: self.next_client_id.fetch_add(1, Ordering::Relaxed),
                db: 0,
                resp3: false,
                home: self.id as u32,
                peer,
                local,
                created_ms: clock::unix_ms(),
                subscribed: false,
                unix,
                tracking: Default::default(),
                checked: false,
                no_touch: false,
            };
            let mut st = ConnState::new(client);
            if let Err(msg) = self.svc.opened(&mut st.client, &mut st.session) {
                // Refused (protected mode): the reason, then the close.
                let _ = stream.write(&msg);
                self.stats.shards[self.id]
                    .rejected_connections
                    .fetch_add(1, Ordering::Relaxed);
                continue;
            }
            st.sync_gate();
            let unauthenticated = st.client.checked && self.svc.unauthenticated(&st.session);
            let idx = free_slot(self.conns, self.gens, self.free);
            let token = Token(idx as usize + FIRST_CONN);
            if let Err(e) = self.poller.add(stream.fd(), token, Interest::READABLE) {
                eprintln!("kevy: cannot watch a new connection: {e}");
                self.free.push(idx);
                continue;
            }
            self.svc
                .connection_event(crate::service::ConnEvent::Accepted, &client);
            self.ids.insert(client.id, idx);
            if let Some(f) = fresh.as_deref_mut() {
                f.push(idx);
            }
            self.conns[idx as usize] = Some(Box::new(Conn {
                io: ConnIo {
                    stream,
                    rbuf: Vec::new(),
                    rpos: 0,
                    rend: 0,
                    parser: {
                        let mut p = kevy_resp::Parser::new();
                        p.set_auth_required(unauthenticated);
                        p
                    },
                    interest: Some(Interest::READABLE),
                    eof: false,
                    partial: false,
                    hinted: 0,
                },
                st,
                in_ready: false,
                in_write: false,
                in_push: false,
            }));
            let s = &self.stats.shards[self.id];
            s.connected_clients.fetch_add(1, Ordering::Relaxed);
            s.total_connections.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A free index of the connection table, growing it when none is free.
pub(super) fn free_slot<C>(
    conns: &mut Vec<Option<C>>,
    gens: &mut Vec<u32>,
    free: &mut Vec<u32>,
) -> u32 {
    match free.pop() {
        Some(i) => i,
        None => {
            conns.push(None);
            gens.push(0);
            (conns.len() - 1) as u32
        }
    }
}
