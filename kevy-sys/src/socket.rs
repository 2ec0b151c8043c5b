//! Non-blocking TCP sockets: a `SO_REUSEPORT` listener per reactor and the streams it accepts.
//!
//! Every socket is created non-blocking and close-on-exec in the same syscall (`SOCK_NONBLOCK |
//! SOCK_CLOEXEC`), so no window exists where a blocking or inheritable fd is visible, and
//! `SO_REUSEPORT` lets each core bind its own listener so the kernel spreads connections.

use std::io;
use std::mem::{size_of, MaybeUninit};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, RawFd};

/// Linux's `IOV_MAX`: the most slices one `writev`/`sendmsg` accepts.
pub const IOV_MAX: usize = 1024;

/// A listening TCP socket; owns its fd.
#[derive(Debug)]
pub struct TcpListener {
    fd: RawFd,
}

impl TcpListener {
    /// `socket(SOCK_NONBLOCK | SOCK_CLOEXEC)`, `SO_REUSEADDR` + `SO_REUSEPORT`, `bind`,
    /// `listen(backlog)`. Works for IPv4 and IPv6 addresses.
    pub fn bind_reuseport(addr: SocketAddr, backlog: i32) -> io::Result<TcpListener> {
        let domain = match addr {
            SocketAddr::V4(_) => libc::AF_INET,
            SocketAddr::V6(_) => libc::AF_INET6,
        };
        let ty = libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
        // SAFETY: socket takes only integer arguments and touches no caller memory.
        let fd = syscall!(unsafe { libc::socket(domain, ty, 0) })?;
        // Owned from here on, so every early return below closes the fd.
        let listener = TcpListener { fd };
        setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
        setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
        // An IPv6 listener takes only IPv6, as Redis's `anetV6Only`, so
        // `bind * ::*` can hold both wildcards on one port.
        if addr.is_ipv6() {
            setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1)?;
        }
        let (storage, len) = socket_addr_to_raw(&addr);
        // SAFETY: `storage` holds a valid sockaddr of `len` bytes for this address family and
        // outlives the call; fd is owned by `listener`.
        syscall!(unsafe {
            libc::bind(fd, (&storage as *const libc::sockaddr_storage).cast(), len)
        })?;
        // SAFETY: listen takes only integer arguments; fd is owned by `listener`.
        syscall!(unsafe { libc::listen(fd, backlog) })?;
        Ok(listener)
    }

    /// Binds `addr` without `SO_REUSEPORT` and lets it go: fails with
    /// `EADDRINUSE` when anyone listens there, even with `SO_REUSEPORT`.
    /// IPv6 is bound IPv6-only, as the listeners are.
    pub fn probe(addr: SocketAddr) -> io::Result<()> {
        let domain = match addr {
            SocketAddr::V4(_) => libc::AF_INET,
            SocketAddr::V6(_) => libc::AF_INET6,
        };
        let ty = libc::SOCK_STREAM | libc::SOCK_CLOEXEC;
        // SAFETY: socket takes only integer arguments and touches no caller memory.
        let fd = syscall!(unsafe { libc::socket(domain, ty, 0) })?;
        let owned = TcpListener { fd };
        setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
        if addr.is_ipv6() {
            setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1)?;
        }
        let (storage, len) = socket_addr_to_raw(&addr);
        // SAFETY: `storage` holds a valid sockaddr of `len` bytes for this address family and
        // outlives the call; fd is owned by `owned`.
        syscall!(unsafe {
            libc::bind(fd, (&storage as *const libc::sockaddr_storage).cast(), len)
        })?;
        drop(owned);
        Ok(())
    }

    /// Accepts one pending connection as a non-blocking, close-on-exec stream with
    /// `TCP_NODELAY` set.
    ///
    /// `Ok(None)` means no connection is ready now (`EAGAIN`). `EINTR`, `ECONNABORTED` and the
    /// network errors Linux passes through from an already-failed connection are retried
    /// internally: they concern one dead connection, not the listener. If `TCP_NODELAY` cannot
    /// be set the new connection is closed and that error returned.
    pub fn accept(&self) -> io::Result<Option<(TcpStream, SocketAddr)>> {
        loop {
            let mut storage = zeroed_storage();
            let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            let flags = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
            // SAFETY: `storage` is a writable sockaddr_storage and `len` holds its size, so the
            // kernel writes at most that many bytes; self.fd is owned by self.
            let res = syscall!(unsafe {
                libc::accept4(
                    self.fd,
                    (&mut storage as *mut libc::sockaddr_storage).cast(),
                    &mut len,
                    flags,
                )
            });
            let fd = match res {
                Ok(fd) => fd,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) if is_transient_accept_error(&e) => continue,
                Err(e) => return Err(e),
            };
            let stream = TcpStream { fd };
            stream.set_nodelay(true)?;
            let peer = raw_to_socket_addr(&storage, len)?;
            return Ok(Some((stream, peer)));
        }
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        sock_name(self.fd, SockName::Local)
    }

    pub fn fd(&self) -> RawFd {
        self.fd
    }
}

impl AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> RawFd {
        self.fd
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        // SAFETY: self.fd is owned by this listener and closed exactly once, here.
        if let Err(e) = syscall!(unsafe { libc::close(self.fd) }) {
            eprintln!("kevy-sys: close(listener fd {}) failed: {e}", self.fd);
        }
    }
}

/// A connected, non-blocking TCP socket; owns its fd.
#[derive(Debug)]
pub struct TcpStream {
    fd: RawFd,
}

impl TcpStream {
    /// Takes ownership of a connected stream socket's fd (a Unix socket
    /// accepted by `UnixListener` reads and writes the same way).
    pub(crate) fn from_owned_fd(fd: RawFd) -> TcpStream {
        TcpStream { fd }
    }

    /// Reads into `buf`. `Ok(0)` is EOF (or an empty `buf`); no data yet is `Err` of kind
    /// `WouldBlock`. `EINTR` is retried.
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let (ptr, len) = (buf.as_mut_ptr().cast(), buf.len());
            // SAFETY: `ptr` is a live writable slice of `len` bytes and the kernel writes at
            // most that many; self.fd is owned by self.
            let res = syscall!(unsafe { libc::recv(self.fd, ptr, len, 0) });
            match res {
                Ok(n) => return Ok(n as usize),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Writes from `buf` with `MSG_NOSIGNAL`, so a closed peer yields `EPIPE` instead of
    /// `SIGPIPE`. A full socket buffer is `Err` of kind `WouldBlock`. `EINTR` is retried.
    pub fn write(&self, buf: &[u8]) -> io::Result<usize> {
        loop {
            // SAFETY: `buf` is a live readable slice of `buf.len()` bytes; self.fd is owned.
            let res = syscall!(unsafe {
                libc::send(self.fd, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL)
            });
            match res {
                Ok(n) => return Ok(n as usize),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Gathers the first [`IOV_MAX`] slices of `bufs` into one write and returns the bytes
    /// written, which may stop partway through any slice.
    ///
    /// Uses `sendmsg` rather than `writev` because only `sendmsg` takes `MSG_NOSIGNAL`.
    pub fn writev(&self, bufs: &[&[u8]]) -> io::Result<usize> {
        let bufs = &bufs[..bufs.len().min(IOV_MAX)];
        if bufs.is_empty() {
            return Ok(0);
        }
        let mut iov = [const { MaybeUninit::<libc::iovec>::uninit() }; IOV_MAX];
        for (slot, buf) in iov.iter_mut().zip(bufs) {
            slot.write(libc::iovec {
                iov_base: buf.as_ptr() as *mut libc::c_void,
                iov_len: buf.len(),
            });
        }
        // SAFETY: an all-zero msghdr is valid: null name/control with zero lengths.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = iov.as_mut_ptr().cast();
        msg.msg_iovlen = bufs.len() as _;
        loop {
            // SAFETY: msg points at the first bufs.len() entries of `iov`, all initialised
            // above and each describing a live slice of `bufs`; the kernel only reads them.
            let res = syscall!(unsafe { libc::sendmsg(self.fd, &msg, libc::MSG_NOSIGNAL) });
            match res {
                Ok(n) => return Ok(n as usize),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        setsockopt_int(
            self.fd,
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            on as libc::c_int,
        )
    }

    /// `SO_KEEPALIVE` with the first probe after `secs` idle seconds, then
    /// probes every `secs / 3` seconds, three of them, as Redis's
    /// `anetKeepAlive` sets them: a dead peer is noticed after about twice
    /// `secs`.
    pub fn set_keepalive(&self, secs: u32) -> io::Result<()> {
        let secs = secs.clamp(1, i32::MAX as u32) as libc::c_int;
        setsockopt_int(self.fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1)?;
        setsockopt_int(self.fd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, secs)?;
        setsockopt_int(
            self.fd,
            libc::IPPROTO_TCP,
            libc::TCP_KEEPINTVL,
            (secs / 3).max(1),
        )?;
        setsockopt_int(self.fd, libc::IPPROTO_TCP, libc::TCP_KEEPCNT, 3)
    }

    /// The keep-alive idle time in seconds, `None` when keep-alive is off.
    pub fn keepalive(&self) -> io::Result<Option<u32>> {
        if getsockopt_int(self.fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE)? == 0 {
            return Ok(None);
        }
        Ok(Some(
            getsockopt_int(self.fd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE)? as u32,
        ))
    }

    pub fn nodelay(&self) -> io::Result<bool> {
        Ok(getsockopt_int(self.fd, libc::IPPROTO_TCP, libc::TCP_NODELAY)? != 0)
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        sock_name(self.fd, SockName::Peer)
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        sock_name(self.fd, SockName::Local)
    }

    /// Sends FIN: the peer reads EOF while this side can still read what it sends.
    pub fn shutdown_write(&self) -> io::Result<()> {
        // SAFETY: shutdown takes only integer arguments; self.fd is owned by self.
        syscall!(unsafe { libc::shutdown(self.fd, libc::SHUT_WR) })?;
        Ok(())
    }

    /// Pending socket error (`SO_ERROR`), cleared by reading it; `None` if there is none.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        let err = getsockopt_int(self.fd, libc::SOL_SOCKET, libc::SO_ERROR)?;
        Ok((err != 0).then(|| io::Error::from_raw_os_error(err)))
    }

    pub fn fd(&self) -> RawFd {
        self.fd
    }
}

impl AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> RawFd {
        self.fd
    }
}

impl Drop for TcpStream {
    fn drop(&mut self) {
        // SAFETY: self.fd is owned by this stream and closed exactly once, here.
        if let Err(e) = syscall!(unsafe { libc::close(self.fd) }) {
            eprintln!("kevy-sys: close(stream fd {}) failed: {e}", self.fd);
        }
    }
}

/// Errors after which `accept` on the same listener can succeed: an interrupted call, or a
/// connection that died in the queue. Linux reports the latter's pending network error from
/// `accept` itself; accept(2) advises treating those like `EAGAIN` and retrying.
fn is_transient_accept_error(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(
            libc::EINTR
                | libc::ECONNABORTED
                | libc::EPROTO
                | libc::ENETDOWN
                | libc::ENOPROTOOPT
                | libc::EHOSTDOWN
                | libc::ENONET
                | libc::EHOSTUNREACH
                | libc::EOPNOTSUPP
                | libc::ENETUNREACH
        )
    )
}

fn setsockopt_int(fd: RawFd, level: i32, name: i32, value: libc::c_int) -> io::Result<()> {
    // SAFETY: `value` is a live c_int and the length passed is exactly its size.
    syscall!(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

fn getsockopt_int(fd: RawFd, level: i32, name: i32) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` is a writable c_int and `len` holds its size, bounding the kernel's write.
    syscall!(unsafe {
        libc::getsockopt(
            fd,
            level,
            name,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    })?;
    Ok(value)
}

enum SockName {
    Local,
    Peer,
}

fn sock_name(fd: RawFd, which: SockName) -> io::Result<SocketAddr> {
    let mut storage = zeroed_storage();
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let ptr = (&mut storage as *mut libc::sockaddr_storage).cast();
    match which {
        // SAFETY: `storage` is writable and `len` holds its size, bounding the kernel's write.
        SockName::Local => syscall!(unsafe { libc::getsockname(fd, ptr, &mut len) })?,
        // SAFETY: as above: `storage` is writable and `len` bounds the write.
        SockName::Peer => syscall!(unsafe { libc::getpeername(fd, ptr, &mut len) })?,
    };
    raw_to_socket_addr(&storage, len)
}

fn zeroed_storage() -> libc::sockaddr_storage {
    // SAFETY: sockaddr_storage is plain integers and byte arrays; all-zero is a valid value.
    unsafe { std::mem::zeroed() }
}

/// Encodes `addr` as a C socket address, returning the storage and the length to pass.
pub fn socket_addr_to_raw(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    let mut storage = zeroed_storage();
    match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_in is plain integers; all-zero is a valid value.
            let mut sin: libc::sockaddr_in = unsafe { std::mem::zeroed() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            // octets() is network order already; from_ne_bytes keeps the bytes as they are.
            sin.sin_addr.s_addr = u32::from_ne_bytes(a.ip().octets());
            // SAFETY: sockaddr_storage is larger than and at least as aligned as sockaddr_in,
            // as POSIX requires, so writing one at its start stays in bounds.
            unsafe {
                (&mut storage as *mut libc::sockaddr_storage)
                    .cast::<libc::sockaddr_in>()
                    .write(sin)
            };
            (storage, size_of::<libc::sockaddr_in>() as libc::socklen_t)
        }
        SocketAddr::V6(a) => {
            // SAFETY: sockaddr_in6 is plain integers and bytes; all-zero is a valid value.
            let mut sin6: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_flowinfo = a.flowinfo();
            sin6.sin6_addr.s6_addr = a.ip().octets();
            sin6.sin6_scope_id = a.scope_id();
            // SAFETY: sockaddr_storage is larger than and at least as aligned as sockaddr_in6,
            // as POSIX requires, so writing one at its start stays in bounds.
            unsafe {
                (&mut storage as *mut libc::sockaddr_storage)
                    .cast::<libc::sockaddr_in6>()
                    .write(sin6)
            };
            (storage, size_of::<libc::sockaddr_in6>() as libc::socklen_t)
        }
    }
}

/// Decodes a C socket address of `len` bytes; fails on families other than IPv4/IPv6 or on a
/// length too short for the family.
pub fn raw_to_socket_addr(
    storage: &libc::sockaddr_storage,
    len: libc::socklen_t,
) -> io::Result<SocketAddr> {
    let len = len as usize;
    match storage.ss_family as libc::c_int {
        libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family is AF_INET and `len` covers a whole sockaddr_in, which fits in
            // and is no more aligned than sockaddr_storage.
            let sin = unsafe {
                (storage as *const libc::sockaddr_storage)
                    .cast::<libc::sockaddr_in>()
                    .read()
            };
            let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
            let port = u16::from_be(sin.sin_port);
            Ok(SocketAddr::V4(SocketAddrV4::new(ip, port)))
        }
        libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
            // SAFETY: the family is AF_INET6 and `len` covers a whole sockaddr_in6, which fits
            // in and is no more aligned than sockaddr_storage.
            let sin6 = unsafe {
                (storage as *const libc::sockaddr_storage)
                    .cast::<libc::sockaddr_in6>()
                    .read()
            };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            let port = u16::from_be(sin6.sin6_port);
            Ok(SocketAddr::V6(SocketAddrV6::new(
                ip,
                port,
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        family => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("unsupported socket address (family {family}, {len} bytes)"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalive_sets_idle_interval_and_count() {
        let l = TcpListener::bind_reuseport("127.0.0.1:0".parse().unwrap(), 8).unwrap();
        let _c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let s = loop {
            if let Some((s, _)) = l.accept().unwrap() {
                break s;
            }
        };
        assert_eq!(s.keepalive().unwrap(), None);
        s.set_keepalive(300).unwrap();
        assert_eq!(s.keepalive().unwrap(), Some(300));
        assert_eq!(
            getsockopt_int(s.fd(), libc::IPPROTO_TCP, libc::TCP_KEEPINTVL).unwrap(),
            100
        );
        assert_eq!(
            getsockopt_int(s.fd(), libc::IPPROTO_TCP, libc::TCP_KEEPCNT).unwrap(),
            3
        );
    }

    #[test]
    fn probe_fails_on_a_port_a_reuseport_listener_holds() {
        let l = TcpListener::bind_reuseport("127.0.0.1:0".parse().unwrap(), 8).unwrap();
        let err = TcpListener::probe(l.local_addr().unwrap()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        // IPv6-only: `::` on the same port does not collide with IPv4's.
        let v4 = TcpListener::bind_reuseport("0.0.0.0:0".parse().unwrap(), 8).unwrap();
        let port = v4.local_addr().unwrap().port();
        let v6: SocketAddr = format!("[::]:{port}").parse().unwrap();
        if let Ok(l6) = TcpListener::bind_reuseport(v6, 8) {
            drop(l6);
            TcpListener::probe(v6).unwrap();
        }
    }
    use crate::{Events, Interest, Poller, Token};
    use std::io::{Read, Write};
    use std::net::TcpStream as StdStream;

    fn listener() -> TcpListener {
        TcpListener::bind_reuseport("127.0.0.1:0".parse().unwrap(), 128).unwrap()
    }

    /// Accepts the next connection, polling briefly: the handshake completes asynchronously.
    fn accept_one(l: &TcpListener) -> (TcpStream, SocketAddr) {
        let p = Poller::new().unwrap();
        p.add(l.fd(), Token(0), Interest::READABLE).unwrap();
        let mut events = Events::with_capacity(1);
        p.wait(&mut events, 5_000).unwrap();
        l.accept().unwrap().expect("a pending connection")
    }

    fn pair() -> (TcpStream, StdStream) {
        let l = listener();
        let client = StdStream::connect(l.local_addr().unwrap()).unwrap();
        let (server, _) = accept_one(&l);
        (server, client)
    }

    fn fd_flags(fd: RawFd) -> (i32, i32) {
        // SAFETY: F_GETFL only reads the status flags of an fd the caller keeps open.
        let fl = syscall!(unsafe { libc::fcntl(fd, libc::F_GETFL) }).unwrap();
        // SAFETY: F_GETFD only reads the descriptor flags of an fd the caller keeps open.
        let fd_fl = syscall!(unsafe { libc::fcntl(fd, libc::F_GETFD) }).unwrap();
        (fl, fd_fl)
    }

    /// Reads from a non-blocking stream, waiting up to a few seconds for data to arrive.
    fn read_ready(s: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
        let p = Poller::new().unwrap();
        p.add(s.fd(), Token(0), Interest::READABLE).unwrap();
        let mut events = Events::with_capacity(1);
        p.wait(&mut events, 5_000).unwrap();
        s.read(buf)
    }

    #[test]
    fn listener_is_nonblocking_cloexec_and_reuses() {
        let l = listener();
        let (fl, fd_fl) = fd_flags(l.fd());
        assert_ne!(fl & libc::O_NONBLOCK, 0);
        assert_ne!(fd_fl & libc::FD_CLOEXEC, 0);
        assert_eq!(
            getsockopt_int(l.fd(), libc::SOL_SOCKET, libc::SO_REUSEPORT).unwrap(),
            1
        );
        assert_eq!(
            getsockopt_int(l.fd(), libc::SOL_SOCKET, libc::SO_REUSEADDR).unwrap(),
            1
        );
        let addr = l.local_addr().unwrap();
        assert_eq!(addr.ip(), Ipv4Addr::LOCALHOST);
        assert_ne!(addr.port(), 0);
    }

    #[test]
    fn accept_without_pending_connection_is_none() {
        let l = listener();
        assert!(l.accept().unwrap().is_none());
    }

    #[test]
    fn accepted_stream_is_nonblocking_cloexec_nodelay() {
        let l = listener();
        let client = StdStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, peer) = accept_one(&l);
        let (fl, fd_fl) = fd_flags(s.fd());
        assert_ne!(fl & libc::O_NONBLOCK, 0);
        assert_ne!(fd_fl & libc::FD_CLOEXEC, 0);
        assert!(s.nodelay().unwrap());
        assert_eq!(peer, client.local_addr().unwrap());
        assert_eq!(s.peer_addr().unwrap(), client.local_addr().unwrap());
        assert_eq!(s.local_addr().unwrap(), client.peer_addr().unwrap());
        s.set_nodelay(false).unwrap();
        assert!(!s.nodelay().unwrap());
        assert!(s.take_error().unwrap().is_none());
    }

    #[test]
    fn poller_reports_listener_then_stream_readable() {
        let l = listener();
        let p = Poller::new().unwrap();
        p.add(l.fd(), Token(1), Interest::READABLE).unwrap();
        let mut events = Events::with_capacity(8);

        let mut client = StdStream::connect(l.local_addr().unwrap()).unwrap();
        assert_eq!(p.wait(&mut events, 5_000).unwrap(), 1);
        assert_eq!(events.iter().next().unwrap().token, Token(1));
        let (s, _) = l.accept().unwrap().unwrap();

        p.add(s.fd(), Token(2), Interest::READABLE).unwrap();
        assert_eq!(p.wait(&mut events, 0).unwrap(), 0);
        client.write_all(b"PING\r\n").unwrap();
        assert_eq!(p.wait(&mut events, 5_000).unwrap(), 1);
        let ev = events.iter().next().unwrap();
        assert_eq!(ev.token, Token(2));
        assert!(ev.readable && !ev.hup);
    }

    #[test]
    fn read_would_block_then_data_then_eof() {
        let (s, mut client) = pair();
        let mut buf = [0u8; 64];
        let err = s.read(&mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);

        client.write_all(b"hello").unwrap();
        let n = read_ready(&s, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"hello");

        drop(client);
        assert_eq!(read_ready(&s, &mut buf).unwrap(), 0);
    }

    #[test]
    fn peer_close_is_reported_as_hup() {
        let (s, client) = pair();
        let p = Poller::new().unwrap();
        p.add(s.fd(), Token(5), Interest::READABLE).unwrap();
        drop(client);
        let mut events = Events::with_capacity(4);
        assert_eq!(p.wait(&mut events, 5_000).unwrap(), 1);
        let ev = events.iter().next().unwrap();
        assert!(ev.hup && ev.readable);
    }

    #[test]
    fn write_reaches_client() {
        let (s, mut client) = pair();
        assert_eq!(s.write(b"+OK\r\n").unwrap(), 5);
        let mut buf = [0u8; 5];
        client.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"+OK\r\n");
    }

    #[test]
    fn writev_writes_concatenation() {
        let (s, mut client) = pair();
        let parts: [&[u8]; 4] = [b"*2\r\n", b"", b"$3\r\nfoo\r\n", b"$3\r\nbar\r\n"];
        let total: usize = parts.iter().map(|p| p.len()).sum();
        assert_eq!(s.writev(&parts).unwrap(), total);
        let mut buf = vec![0u8; total];
        client.read_exact(&mut buf).unwrap();
        assert_eq!(buf, parts.concat());
        assert_eq!(s.writev(&[]).unwrap(), 0);
    }

    #[test]
    fn writev_caps_at_iov_max_slices() {
        let (s, mut client) = pair();
        let one = [b'x'];
        let bufs: Vec<&[u8]> = vec![&one; IOV_MAX + 10];
        assert_eq!(s.writev(&bufs).unwrap(), IOV_MAX);
        let mut buf = vec![0u8; IOV_MAX];
        client.read_exact(&mut buf).unwrap();
        assert!(buf.iter().all(|&b| b == b'x'));
    }

    #[test]
    fn write_fills_buffer_then_would_block() {
        let (s, _client) = pair();
        let chunk = vec![0u8; 1 << 16];
        let mut last = Ok(0);
        // The client never reads, so the socket buffers fill within a few MiB.
        for _ in 0..10_000 {
            last = s.write(&chunk);
            if last.is_err() {
                break;
            }
        }
        assert_eq!(last.unwrap_err().kind(), io::ErrorKind::WouldBlock);
        let err = s.writev(&[&chunk]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn write_to_closed_peer_errors_instead_of_signalling() {
        let (s, client) = pair();
        drop(client);
        let mut buf = [0u8; 8];
        assert_eq!(read_ready(&s, &mut buf).unwrap(), 0);
        // The first send may be accepted before the peer's RST arrives; keep going until the
        // error surfaces. MSG_NOSIGNAL makes it EPIPE/ECONNRESET rather than SIGPIPE.
        let mut result = Ok(0);
        for _ in 0..100 {
            result = s.write(b"x");
            if result.is_err() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let code = result.unwrap_err().raw_os_error();
        assert!(
            code == Some(libc::EPIPE) || code == Some(libc::ECONNRESET),
            "{code:?}"
        );
    }

    #[test]
    fn shutdown_write_gives_client_eof_but_keeps_reading() {
        let (s, mut client) = pair();
        s.write(b"bye").unwrap();
        s.shutdown_write().unwrap();
        let mut got = Vec::new();
        client.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"bye");
        client.write_all(b"still here").unwrap();
        let mut buf = [0u8; 32];
        let n = read_ready(&s, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"still here");
    }

    #[test]
    fn two_reuseport_listeners_share_a_port() {
        let a = listener();
        let addr = a.local_addr().unwrap();
        let b = TcpListener::bind_reuseport(addr, 128).unwrap();
        assert_eq!(b.local_addr().unwrap(), addr);
    }

    #[test]
    fn plain_listener_on_taken_port_fails() {
        let a = listener();
        let taken = a.local_addr().unwrap();
        // std's listener lacks SO_REUSEPORT, so the kernel refuses to share the port.
        let err = std::net::TcpListener::bind(taken).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    }

    #[test]
    fn ipv6_listener_accepts_when_available() {
        let l = match TcpListener::bind_reuseport("[::1]:0".parse().unwrap(), 16) {
            Ok(l) => l,
            // Containers without IPv6 cannot run this test.
            Err(e)
                if e.raw_os_error() == Some(libc::EADDRNOTAVAIL)
                    || e.raw_os_error() == Some(libc::EAFNOSUPPORT) =>
            {
                return
            }
            Err(e) => panic!("{e}"),
        };
        let addr = l.local_addr().unwrap();
        assert!(addr.is_ipv6());
        let client = StdStream::connect(addr).unwrap();
        let (s, peer) = accept_one(&l);
        assert_eq!(peer, client.local_addr().unwrap());
        assert!(s.nodelay().unwrap());
    }

    #[test]
    fn sockaddr_round_trips() {
        let addrs: [SocketAddr; 4] = [
            "127.0.0.1:6379".parse().unwrap(),
            "10.1.2.3:1".parse().unwrap(),
            "[::1]:6380".parse().unwrap(),
            SocketAddr::V6(SocketAddrV6::new(
                "fe80::1".parse().unwrap(),
                65535,
                0x12345,
                7,
            )),
        ];
        for addr in addrs {
            let (storage, len) = socket_addr_to_raw(&addr);
            assert_eq!(raw_to_socket_addr(&storage, len).unwrap(), addr);
        }
    }

    #[test]
    fn sockaddr_in_is_network_byte_order() {
        let (storage, len) = socket_addr_to_raw(&"1.2.3.4:258".parse().unwrap());
        assert_eq!(len as usize, size_of::<libc::sockaddr_in>());
        // SAFETY: socket_addr_to_raw wrote a sockaddr_in at the start of the storage.
        let sin = unsafe {
            (&storage as *const libc::sockaddr_storage)
                .cast::<libc::sockaddr_in>()
                .read()
        };
        assert_eq!(sin.sin_port.to_ne_bytes(), [1, 2]);
        assert_eq!(sin.sin_addr.s_addr.to_ne_bytes(), [1, 2, 3, 4]);
    }

    #[test]
    fn sockaddr_rejects_unknown_family_and_short_length() {
        let mut storage = zeroed_storage();
        storage.ss_family = libc::AF_UNIX as libc::sa_family_t;
        assert!(raw_to_socket_addr(&storage, 16).is_err());
        let (storage, _) = socket_addr_to_raw(&"[::1]:1".parse().unwrap());
        assert!(raw_to_socket_addr(&storage, 8).is_err());
    }

    #[test]
    fn iov_max_matches_libc() {
        assert_eq!(IOV_MAX, libc::UIO_MAXIOV as usize);
    }
}
