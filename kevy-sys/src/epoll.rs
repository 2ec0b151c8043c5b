//! epoll: a [`Poller`] owns one epoll fd and reports which registered fds are ready; level-triggered unless an interest asks for [`Interest::EDGE`].
//!
//! Each registration carries a [`Token`] in the event's 64-bit user data, so a ready event maps
//! straight back to the caller's connection slot without any lookup on the kernel side.

use std::io;
use std::os::fd::{AsRawFd, RawFd};

/// Caller-chosen identifier stored with a registration and returned with its events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Token(pub usize);

/// Readiness a registration asks for; combine with [`Interest::add`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interest(u32);

impl Interest {
    /// Input is available. Also asks for `EPOLLRDHUP`, so a peer's half-close is reported as
    /// [`Event::hup`] even while the reactor only reads.
    pub const READABLE: Interest = Interest(libc::EPOLLIN as u32 | libc::EPOLLRDHUP as u32);
    /// Output buffer space is available.
    pub const WRITABLE: Interest = Interest(libc::EPOLLOUT as u32);

    /// Edge-triggered: one event per change, not one per wait while ready.
    /// For an eventfd used as a waker, every write is a change, so the
    /// counter need not be read back after each wake-up.
    pub const EDGE: Interest = Interest(libc::EPOLLET as u32);

    /// Union of both interests.
    pub const fn add(self, other: Interest) -> Interest {
        Interest(self.0 | other.0)
    }

    /// Whether this interest includes [`Interest::READABLE`].
    pub const fn is_readable(self) -> bool {
        self.0 & libc::EPOLLIN as u32 != 0
    }

    /// Whether this interest includes [`Interest::WRITABLE`].
    pub const fn is_writable(self) -> bool {
        self.0 & libc::EPOLLOUT as u32 != 0
    }

    /// The raw epoll event mask.
    pub const fn bits(self) -> u32 {
        self.0
    }
}

/// One readiness report.
///
/// `hup` can arrive together with `readable`: the peer closed or half-closed, but bytes it sent
/// before that may still be queued. Read until `Ok(0)` before dropping the connection.
#[derive(Clone, Copy, Debug)]
pub struct Event {
    pub token: Token,
    pub readable: bool,
    pub writable: bool,
    /// `EPOLLHUP`, `EPOLLRDHUP` or `EPOLLERR`.
    pub hup: bool,
}

impl Event {
    fn from_raw(raw: &libc::epoll_event) -> Event {
        // Copy the fields out by value: `epoll_event` is packed on x86_64, so no references.
        let bits = raw.events;
        let data = raw.u64;
        Event {
            token: Token(data as usize),
            readable: bits & libc::EPOLLIN as u32 != 0,
            writable: bits & libc::EPOLLOUT as u32 != 0,
            hup: bits & (libc::EPOLLHUP | libc::EPOLLRDHUP | libc::EPOLLERR) as u32 != 0,
        }
    }
}

/// Buffer that [`Poller::wait`] fills; reuse one per reactor to avoid allocating per wait.
pub struct Events {
    buf: Vec<libc::epoll_event>,
}

impl Events {
    /// Room for `n` events per wait (at least 1: `epoll_wait` rejects a zero-sized buffer).
    pub fn with_capacity(n: usize) -> Events {
        let n = n.clamp(1, i32::MAX as usize);
        Events {
            buf: Vec::with_capacity(n),
        }
    }

    /// The events delivered by the last [`Poller::wait`].
    pub fn iter(&self) -> impl Iterator<Item = Event> + '_ {
        self.buf.iter().map(Event::from_raw)
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Maximum number of events one wait can deliver.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    pub fn clear(&mut self) {
        self.buf.clear();
    }
}

/// An epoll instance (created with `EPOLL_CLOEXEC`). Registrations are level-triggered.
///
/// All methods take `&self`: the kernel serialises `epoll_ctl` and `epoll_wait`, so another
/// thread may register fds while the owner waits.
#[derive(Debug)]
pub struct Poller {
    fd: RawFd,
}

impl Poller {
    pub fn new() -> io::Result<Poller> {
        // SAFETY: epoll_create1 takes only a flag word and touches no caller memory.
        let fd = syscall!(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        Ok(Poller { fd })
    }

    /// Registers `fd`; fails with `EEXIST` if it is already registered.
    pub fn add(&self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, token, interest)
    }

    /// Replaces the token and interest of an already registered `fd`.
    pub fn modify(&self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd, token, interest)
    }

    /// Unregisters `fd`. Closing an fd (with no duplicates) unregisters it implicitly, so this is
    /// only needed for fds that stay open.
    pub fn delete(&self, fd: RawFd) -> io::Result<()> {
        // Linux ignores the event for EPOLL_CTL_DEL, but kernels before 2.6.9 required a
        // non-null pointer; passing one costs nothing.
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: self.fd is a live epoll fd owned by self and `ev` is a valid epoll_event
        // that outlives the call.
        syscall!(unsafe { libc::epoll_ctl(self.fd, libc::EPOLL_CTL_DEL, fd, &mut ev) })?;
        Ok(())
    }

    /// Waits for events and stores them in `events`, replacing its previous contents.
    ///
    /// `timeout_ms`: -1 blocks, 0 polls. A signal interrupting the wait (`EINTR`) returns
    /// `Ok(0)` so the caller can check its shutdown flag.
    pub fn wait(&self, events: &mut Events, timeout_ms: i32) -> io::Result<usize> {
        events.buf.clear();
        let cap = events.buf.capacity().min(i32::MAX as usize) as i32;
        // SAFETY: the buffer has room for `cap` epoll_events (capacity is at least 1) and the
        // kernel writes at most `cap` of them; self.fd is a live epoll fd owned by self.
        let res = syscall!(unsafe {
            libc::epoll_wait(self.fd, events.buf.as_mut_ptr(), cap, timeout_ms)
        });
        match res {
            Ok(n) => {
                let n = n as usize;
                // SAFETY: epoll_wait initialised exactly the first `n` (<= cap) entries.
                unsafe { events.buf.set_len(n) };
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(0),
            Err(e) => Err(e),
        }
    }

    pub fn fd(&self) -> RawFd {
        self.fd
    }

    fn ctl(&self, op: i32, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: interest.0,
            u64: token.0 as u64,
        };
        // SAFETY: self.fd is a live epoll fd owned by self and `ev` is a valid epoll_event
        // that outlives the call; the kernel copies it and keeps no pointer.
        syscall!(unsafe { libc::epoll_ctl(self.fd, op, fd, &mut ev) })?;
        Ok(())
    }
}

impl AsRawFd for Poller {
    fn as_raw_fd(&self) -> RawFd {
        self.fd
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        // SAFETY: self.fd is owned by this Poller and closed exactly once, here.
        if let Err(e) = syscall!(unsafe { libc::close(self.fd) }) {
            eprintln!("kevy-sys: close(epoll fd {}) failed: {e}", self.fd);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EventFd;

    #[test]
    fn interest_combines_and_queries() {
        let r = Interest::READABLE;
        let w = Interest::WRITABLE;
        assert!(r.is_readable() && !r.is_writable());
        assert!(w.is_writable() && !w.is_readable());
        let rw = r.add(w);
        assert!(rw.is_readable() && rw.is_writable());
        assert_eq!(rw, w.add(r));
    }

    #[test]
    fn readable_asks_for_rdhup_so_half_close_is_seen() {
        assert_ne!(Interest::READABLE.bits() & libc::EPOLLRDHUP as u32, 0);
        // Level-triggered: no EPOLLET bit may sneak into any interest.
        let all = Interest::READABLE.add(Interest::WRITABLE).bits();
        assert_eq!(all & libc::EPOLLET as u32, 0);
        assert_eq!(all & libc::EPOLLONESHOT as u32, 0);
    }

    #[test]
    fn event_decodes_raw_bits() {
        let raw = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLERR) as u32,
            u64: usize::MAX as u64,
        };
        let ev = Event::from_raw(&raw);
        assert_eq!(ev.token, Token(usize::MAX));
        assert!(ev.readable && !ev.writable && ev.hup);
        for bit in [libc::EPOLLHUP, libc::EPOLLRDHUP, libc::EPOLLERR] {
            let raw = libc::epoll_event {
                events: bit as u32,
                u64: 0,
            };
            assert!(Event::from_raw(&raw).hup);
        }
    }

    #[test]
    fn events_capacity_is_at_least_one() {
        let ev = Events::with_capacity(0);
        assert!(ev.capacity() >= 1);
        assert!(ev.is_empty());
        assert_eq!(ev.len(), 0);
    }

    #[test]
    fn poller_fd_is_cloexec() {
        let p = Poller::new().unwrap();
        // SAFETY: F_GETFD only reads the flags of the fd owned by `p`.
        let flags = syscall!(unsafe { libc::fcntl(p.fd(), libc::F_GETFD) }).unwrap();
        assert_ne!(flags & libc::FD_CLOEXEC, 0);
    }

    #[test]
    fn wait_with_zero_timeout_returns_nothing_when_idle() {
        let p = Poller::new().unwrap();
        let mut events = Events::with_capacity(8);
        assert_eq!(p.wait(&mut events, 0).unwrap(), 0);
        assert!(events.is_empty());
    }

    #[test]
    fn level_triggered_reports_again_until_drained() {
        let p = Poller::new().unwrap();
        let efd = EventFd::new().unwrap();
        p.add(efd.fd(), Token(7), Interest::READABLE).unwrap();
        efd.wake().unwrap();
        let mut events = Events::with_capacity(4);
        for _ in 0..3 {
            assert_eq!(p.wait(&mut events, 0).unwrap(), 1);
            let ev = events.iter().next().unwrap();
            assert_eq!(ev.token, Token(7));
            assert!(ev.readable);
        }
        efd.drain().unwrap();
        assert_eq!(p.wait(&mut events, 0).unwrap(), 0);
    }

    #[test]
    fn modify_changes_token_and_interest_and_delete_stops_reports() {
        let p = Poller::new().unwrap();
        let efd = EventFd::new().unwrap();
        let mut events = Events::with_capacity(4);
        // An eventfd with a zero counter is writable but not readable.
        p.add(efd.fd(), Token(1), Interest::READABLE).unwrap();
        assert_eq!(p.wait(&mut events, 0).unwrap(), 0);
        p.modify(efd.fd(), Token(2), Interest::WRITABLE).unwrap();
        assert_eq!(p.wait(&mut events, 0).unwrap(), 1);
        let ev = events.iter().next().unwrap();
        assert_eq!(ev.token, Token(2));
        assert!(ev.writable && !ev.readable && !ev.hup);
        p.delete(efd.fd()).unwrap();
        assert_eq!(p.wait(&mut events, 0).unwrap(), 0);
        let err = p.delete(efd.fd()).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
    }

    #[test]
    fn add_twice_is_eexist() {
        let p = Poller::new().unwrap();
        let efd = EventFd::new().unwrap();
        p.add(efd.fd(), Token(1), Interest::READABLE).unwrap();
        let err = p.add(efd.fd(), Token(1), Interest::READABLE).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EEXIST));
    }

    #[test]
    fn wait_respects_small_capacity() {
        let p = Poller::new().unwrap();
        let fds: Vec<EventFd> = (0..3).map(|_| EventFd::new().unwrap()).collect();
        for (i, e) in fds.iter().enumerate() {
            p.add(e.fd(), Token(i), Interest::WRITABLE).unwrap();
        }
        let mut events = Events::with_capacity(2);
        assert_eq!(p.wait(&mut events, 0).unwrap(), 2);
        assert_eq!(events.iter().count(), 2);
    }

    #[test]
    fn blocking_wait_wakes_from_another_thread() {
        let p = Poller::new().unwrap();
        let efd = std::sync::Arc::new(EventFd::new().unwrap());
        p.add(efd.fd(), Token(3), Interest::READABLE).unwrap();
        let waker = efd.clone();
        let t = std::thread::spawn(move || waker.wake().unwrap());
        let mut events = Events::with_capacity(4);
        // Bounded so a broken wake fails the test instead of hanging it.
        assert_eq!(p.wait(&mut events, 5_000).unwrap(), 1);
        t.join().unwrap();
    }
}
