//! What spans every shard's connections: CLIENT LIST/INFO/KILL and MONITOR.
//!
//! CLIENT LIST and KILL gather a [`ClientInfo`] from every shard (each
//! reactor describes its own connections), hand them to the service to
//! filter and format, and for KILL close the chosen connections on their
//! home shards before answering, so a client that sees the reply no longer
//! sees the killed connections in CLIENT LIST.
//!
//! MONITOR lines are made on a command's home shard when it is dispatched,
//! so one connection's commands appear in the order it sent them (commands
//! of a transaction at EXEC, then EXEC, as Redis shows them), and are sent
//! to every shard that has a monitor, in the batch going there.

use super::Reactor;
use crate::conn::ConnState;
use crate::msg::{Dest, Req};
use crate::service::{ClientCtx, ClientInfo, Service};
use kevy_resp::{Args, OwnedArgs};
use kevy_sys::clock;

/// Unsent output above which a monitor is disconnected: a monitor that
/// cannot keep up would otherwise grow without bound.
const MONITOR_OUTPUT_LIMIT: usize = 64 << 20;

/// A CLIENT LIST/KILL this reactor coordinates.
pub(super) struct ClientsOp<S: Service> {
    dest: Dest,
    cmd: S::Cmd,
    args: OwnedArgs,
    infos: Vec<ClientInfo>,
    /// Shards still to answer (infos, then kill acknowledgements).
    left: usize,
    /// The reply, once formatted (waits for the kills).
    reply: Option<Vec<u8>>,
    /// The caller itself is among the killed: close after the reply.
    kill_caller: bool,
}

impl<S: Service> Reactor<S> {
    // ---- CLIENT LIST / INFO / KILL -------------------------------------

    /// Describes one of this shard's connections.
    pub(super) fn describe(
        &self,
        st: &ConnState<S>,
        io: Option<&crate::conn::ConnIo>,
    ) -> ClientInfo {
        let now_ms = clock::unix_ms();
        let (qbuf, qbuf_free, fd, interest) = match io {
            Some(io) => (
                io.rend - io.rpos,
                io.rbuf.len() - io.rend,
                io.stream.fd(),
                io.interest,
            ),
            None => (0, 0, -1, None),
        };
        let events = match interest {
            Some(i) if i.is_readable() && i.is_writable() => "rw",
            Some(i) if i.is_readable() => "r",
            Some(i) if i.is_writable() => "w",
            _ => "",
        };
        let (multi, multi_mem) = match &st.multi {
            Some(q) => (q.cmds.len() as i64, q.bytes),
            None => (-1, 0),
        };
        let omem = st.output_weight();
        let mut info = ClientInfo {
            no_evict: false,
            no_touch: st.client.no_touch,
            id: st.client.id,
            home: self.id as u32,
            peer: st.client.peer,
            local: st.client.local,
            unix: st.client.unix,
            fd,
            name: Vec::new(),
            lib_name: Vec::new(),
            lib_ver: Vec::new(),
            user: b"default".to_vec(),
            cmd: String::new(),
            age_secs: (now_ms / 1000).saturating_sub(st.client.created_ms / 1000),
            idle_secs: now_ms.saturating_sub(st.last_active_ms) / 1000,
            db: st.client.db,
            resp: if st.client.resp3 { 3 } else { 2 },
            multi,
            multi_mem,
            monitor: st.monitor,
            sub: st.subs.as_ref().map_or(0, |s| s.sets[0].len()),
            psub: st.subs.as_ref().map_or(0, |s| s.sets[1].len()),
            ssub: st.subs.as_ref().map_or(0, |s| s.sets[2].len()),
            qbuf,
            qbuf_free,
            obl: st.unsent(),
            oll: st.pending_count(),
            omem,
            tot_mem: qbuf + qbuf_free + st.wbuf.capacity() + multi_mem + omem,
            events,
            is_caller: false,
            blocked: st.waiting.is_some(),
            paused: st.pause_blocked,
            tracking: st.client.tracking,
            redirect: 0,
        };
        self.svc.describe(&st.session, st.last_cmd, &mut info);
        info
    }

    /// Every connection of this shard but the one being run (which the
    /// caller describes from its state).
    fn local_infos(&self, out: &mut Vec<ClientInfo>) {
        for c in self.conns.iter().flatten() {
            out.push(self.describe(&c.st, Some(&c.io)));
        }
    }

    /// CLIENT LIST/INFO/KILL: gathers the connections it is about, then
    /// lets the service answer.
    pub(super) fn clients(
        &mut self,
        idx: u32,
        gen: u32,
        st: &mut ConnState<S>,
        cmd: S::Cmd,
        args: Args<'_>,
        all: bool,
    ) {
        let mut me = self.describe(st, None);
        me.is_caller = true;
        me.idle_secs = 0;
        let mut infos = vec![me];
        if all {
            self.local_infos(&mut infos);
        }
        if !all || self.n == 1 {
            let mut out = self.pool.get();
            let chosen = self.svc.exec_clients(
                &mut self.ex.shard,
                &mut st.client,
                &mut st.session,
                cmd,
                args,
                &infos,
                &mut out,
            );
            st.push_ready(&out);
            self.pool.put(out);
            for id in chosen.unblock {
                self.unblock_local(id, chosen.unblock_error);
            }
            for id in chosen.kill {
                if id == st.client.id {
                    st.closing = true;
                } else {
                    self.kill_local(id);
                }
            }
            if chosen.recheck {
                self.recheck_local();
                st.client.checked = true;
                st.sync_gate();
            }
            return;
        }
        let dest = Dest {
            conn: idx,
            gen,
            seq: st.next_seq(),
            part: 0,
        };
        st.await_remote();
        // Like Redis, which runs it at once, the connection's next command
        // sees what it did (a kill, tracking turned on).
        st.blocked = true;
        let op = self.new_clients_op(ClientsOp {
            dest,
            cmd,
            args: args.to_owned_args(),
            infos,
            left: self.n - 1,
            reply: None,
            kill_caller: false,
        });
        let me = self.id;
        for s in (0..self.n).filter(|&s| s != me) {
            self.batch(s).reqs.push(Req::Clients { op });
        }
    }

    fn new_clients_op(&mut self, op: ClientsOp<S>) -> u32 {
        match self.free_cops.pop() {
            Some(i) => {
                self.cops[i as usize] = Some(op);
                i
            }
            None => {
                self.cops.push(Some(op));
                (self.cops.len() - 1) as u32
            }
        }
    }

    /// A peer asks for this shard's connections.
    pub(super) fn send_infos(&mut self, peer: usize, op: u32) {
        let mut infos = Vec::new();
        self.local_infos(&mut infos);
        let b = self.batch(peer);
        let n = infos.len() as u32;
        b.infos.extend(infos);
        b.resps.push(crate::msg::Resp::Clients { op, n });
    }

    /// A peer's connections arrived.
    pub(super) fn clients_arrived(&mut self, op: u32, infos: impl Iterator<Item = ClientInfo>) {
        let Some(c) = self.cops.get_mut(op as usize).and_then(Option::as_mut) else {
            return;
        };
        c.infos.extend(infos);
        c.left -= 1;
        if c.left == 0 {
            self.clients_gathered(op);
        }
    }

    /// Every shard answered: format the reply and kill what was chosen.
    fn clients_gathered(&mut self, op: u32) {
        let Some(mut c) = self.cops[op as usize].take() else {
            return;
        };
        let dest = c.dest;
        let conn = (self.gens.get(dest.conn as usize) == Some(&dest.gen))
            .then(|| self.conns[dest.conn as usize].as_mut())
            .flatten();
        let Some(conn) = conn else {
            // The caller is gone: nothing to answer.
            self.free_cops.push(op);
            return;
        };
        let mut out = Vec::new();
        let chosen = self.svc.exec_clients(
            &mut self.ex.shard,
            &mut conn.st.client,
            &mut conn.st.session,
            c.cmd,
            c.args.args(),
            &c.infos,
            &mut out,
        );
        let caller = conn.st.client.id;
        c.reply = Some(out);
        let mut remote: Vec<Vec<u64>> = (0..self.n).map(|_| Vec::new()).collect();
        let mut unblock: Vec<Vec<u64>> = (0..self.n).map(|_| Vec::new()).collect();
        let error = chosen.unblock_error;
        for id in chosen.unblock {
            let home = c.infos.iter().find(|i| i.id == id).map(|i| i.home as usize);
            match home {
                Some(h) if h == self.id => self.unblock_local(id, error),
                Some(h) if h < self.n => unblock[h].push(id),
                _ => {}
            }
        }
        for id in chosen.kill {
            if id == caller {
                c.kill_caller = true;
                continue;
            }
            let home = c.infos.iter().find(|i| i.id == id).map(|i| i.home as usize);
            match home {
                Some(h) if h == self.id => self.kill_local(id),
                Some(h) if h < self.n => remote[h].push(id),
                _ => {}
            }
        }
        c.left = 0;
        if chosen.recheck {
            // The caller is among this shard's connections.
            self.recheck_local();
            let me = self.id;
            for s in (0..self.n).filter(|&s| s != me) {
                self.batch(s).reqs.push(Req::Recheck { op });
                c.left += 1;
            }
        }
        for (s, ids) in unblock.into_iter().enumerate() {
            if !ids.is_empty() {
                let b = self.batch(s);
                let n = ids.len() as u32;
                b.ids.extend(ids);
                b.reqs.push(Req::Unblock { op, n, error });
                c.left += 1;
            }
        }
        for (s, ids) in remote.into_iter().enumerate() {
            if !ids.is_empty() {
                let b = self.batch(s);
                let n = ids.len() as u32;
                b.ids.extend(ids);
                b.reqs.push(Req::Kill { op, n });
                c.left += 1;
            }
        }
        self.cops[op as usize] = Some(c);
        if self.cops[op as usize].as_ref().is_some_and(|c| c.left == 0) {
            self.clients_done(op);
        }
    }

    /// A peer closed the connections it was asked to.
    pub(super) fn kills_done(&mut self, op: u32) {
        let Some(c) = self.cops.get_mut(op as usize).and_then(Option::as_mut) else {
            return;
        };
        c.left = c.left.saturating_sub(1);
        if c.left == 0 {
            self.clients_done(op);
        }
    }

    fn clients_done(&mut self, op: u32) {
        let Some(c) = self.cops[op as usize].take() else {
            return;
        };
        self.free_cops.push(op);
        let reply = c.reply.unwrap_or_default();
        self.deliver_local(c.dest, &reply);
        if let Some(conn) = self.conn_at(c.dest.conn, c.dest.gen) {
            conn.st.closing |= c.kill_caller;
            conn.st.blocked = false;
            if !conn.in_ready {
                conn.in_ready = true;
                self.ready.push(c.dest.conn);
            }
        }
    }

    /// Releases this shard's connection `id` from its wait (CLIENT UNBLOCK):
    /// it answers `-UNBLOCKED …` with `error`, else as a timeout would. A
    /// connection already being served keeps its element.
    pub(super) fn unblock_local(&mut self, id: u64, error: bool) {
        let found = self
            .conns
            .iter()
            .position(|c| c.as_ref().is_some_and(|c| c.st.client.id == id));
        if let Some(idx) = found {
            let gen = self.gens[idx];
            let reply: Option<&[u8]> =
                error.then_some(b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n");
            self.end_wait(idx as u32, gen, reply);
        }
    }

    /// Closes this shard's connection `id` (CLIENT KILL), dropping what it
    /// has not been sent.
    pub(super) fn kill_local(&mut self, id: u64) {
        let found = self
            .conns
            .iter()
            .position(|c| c.as_ref().is_some_and(|c| c.st.client.id == id));
        if let Some(idx) = found {
            self.close(idx as u32);
        }
    }

    // ---- MONITOR ---------------------------------------------------------

    /// Makes the connection a monitor.
    pub(super) fn start_monitor(&mut self, idx: u32, gen: u32, st: &mut ConnState<S>) {
        if st.monitor {
            return;
        }
        st.monitor = true;
        self.monitors.push((idx, gen));
        self.mesh.monitor_count(1);
    }

    /// A monitor closed.
    pub(super) fn stop_monitor(&mut self, idx: u32) {
        self.monitors.retain(|&(i, _)| i != idx);
        self.mesh.monitor_count(-1);
    }

    /// Shows a command to every monitor on every shard.
    pub(super) fn feed_monitors(&mut self, client: &ClientCtx, args: Args<'_>) {
        let mut line = std::mem::take(&mut self.monitor_line);
        line.clear();
        monitor_line(&mut line, clock::unix_us(), client, args);
        self.monitor_out(&line);
        for s in 0..self.n {
            if s != self.id && self.mesh.has_monitor(s) {
                let b = self.batch(s);
                let (first, n) = b.push_args(std::iter::once(line.as_slice()));
                b.reqs.push(Req::Monitor { first, n });
            }
        }
        self.monitor_line = line;
    }

    /// Appends monitor output to this shard's monitors.
    pub(super) fn monitor_out(&mut self, line: &[u8]) {
        let mut i = 0;
        while i < self.monitors.len() {
            let (idx, gen) = self.monitors[i];
            i += 1;
            if self.gens.get(idx as usize) != Some(&gen) {
                continue;
            }
            let Some(c) = self.conns.get_mut(idx as usize).and_then(Option::as_mut) else {
                // Taken out while it runs: it is the connection being
                // dispatched, which gets its line on its next command.
                continue;
            };
            c.st.put_out(line);
            if c.st.unsent() > MONITOR_OUTPUT_LIMIT {
                c.st.closing = true;
                c.st.wbuf.clear();
                c.st.wpos = 0;
            }
            if !c.in_write {
                c.in_write = true;
                self.writes.push(idx);
            }
        }
    }

    /// Whether any shard has a monitor (one relaxed load per command).
    #[inline]
    pub(super) fn monitored(&self) -> bool {
        self.mesh.any_monitor()
    }

    /// Feeds the commands of a transaction being executed, then EXEC.
    pub(super) fn feed_exec(&mut self, client: &ClientCtx, queued: &[(S::Cmd, OwnedArgs)]) {
        for (cmd, args) in queued {
            if self.svc.monitor_shows(*cmd) {
                self.feed_monitors(client, args.args());
            }
        }
        let exec = OwnedArgs::from_slices(["exec"]);
        self.feed_monitors(client, exec.args());
    }
}

/// Redis's MONITOR line: `+<secs>.<usecs> [<db> <addr>] "arg" "arg"`, each
/// argument quoted as `sdscatrepr` does.
pub(super) fn monitor_line(out: &mut Vec<u8>, unix_us: u64, client: &ClientCtx, args: Args<'_>) {
    use std::io::Write;
    let _ = write!(
        out,
        "+{}.{:06} [{} {}]",
        unix_us / 1_000_000,
        unix_us % 1_000_000,
        client.db,
        client.peer
    );
    for a in args.iter() {
        out.extend_from_slice(b" \"");
        for &b in a {
            match b {
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'"' => out.extend_from_slice(b"\\\""),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                0x07 => out.extend_from_slice(b"\\a"),
                0x08 => out.extend_from_slice(b"\\b"),
                0x20..=0x7e => out.push(b),
                _ => {
                    let _ = write!(out, "\\x{b:02x}");
                }
            }
        }
        out.push(b'"');
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monitor_lines_quote_as_redis() {
        let client = ClientCtx {
            id: 1,
            db: 3,
            resp3: false,
            home: 0,
            peer: "127.0.0.1:5555".parse().unwrap(),
            local: "127.0.0.1:6379".parse().unwrap(),
            created_ms: 0,
            subscribed: false,
            unix: false,
            tracking: Default::default(),
            checked: false,
            no_touch: false,
        };
        let args = OwnedArgs::from_slices([&b"set"[..], b"k", b"a \"q\"\\\n\x01\xff"]);
        let mut out = Vec::new();
        monitor_line(&mut out, 1_339_518_083_107_412, &client, args.args());
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "+1339518083.107412 [3 127.0.0.1:5555] \"set\" \"k\" \"a \\\"q\\\"\\\\\\n\\x01\\xff\"\r\n"
        );
    }
}
