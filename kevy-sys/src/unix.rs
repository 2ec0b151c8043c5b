//! A listening Unix stream socket (Redis's `unixsocket`): bound to a path,
//! made non-blocking and close-on-exec at creation, shared by every reactor
//! through duplicated fds (Unix sockets have no `SO_REUSEPORT` spreading;
//! whichever reactor accepts first serves the connection).

use crate::socket::TcpStream;
use std::ffi::CString;
use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// A listening Unix stream socket; owns its fd.
#[derive(Debug)]
pub struct UnixListener {
    fd: RawFd,
}

impl UnixListener {
    /// Removes a stale socket file at `path` (as Redis does), binds,
    /// listens, and sets the file's mode to `perm` when it is not zero.
    pub fn bind(path: &Path, backlog: i32, perm: u32) -> io::Result<UnixListener> {
        let bytes = path.as_os_str().as_bytes();
        // SAFETY: an all-zero sockaddr_un is a valid empty address.
        let mut sun: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        if bytes.len() >= sun.sun_path.len() || bytes.contains(&0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "unix socket path too long",
            ));
        }
        sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (d, s) in sun.sun_path.iter_mut().zip(bytes) {
            *d = *s as libc::c_char;
        }
        let _ = std::fs::remove_file(path);
        let ty = libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
        // SAFETY: socket takes only integer arguments.
        let fd = syscall!(unsafe { libc::socket(libc::AF_UNIX, ty, 0) })?;
        let listener = UnixListener { fd };
        let len = size_of::<libc::sockaddr_un>() as libc::socklen_t;
        // SAFETY: `sun` is a valid sockaddr_un of `len` bytes that outlives the call.
        syscall!(unsafe { libc::bind(fd, (&sun as *const libc::sockaddr_un).cast(), len) })?;
        if perm != 0 {
            let c = CString::new(bytes).map_err(|_| io::ErrorKind::InvalidInput)?;
            // SAFETY: `c` is a NUL-terminated path that outlives the call.
            syscall!(unsafe { libc::chmod(c.as_ptr(), perm as libc::mode_t) })?;
        }
        // SAFETY: listen takes only integer arguments; fd is owned by `listener`.
        syscall!(unsafe { libc::listen(fd, backlog) })?;
        Ok(listener)
    }

    /// Another fd for the same socket (close-on-exec), for another reactor.
    pub fn try_clone(&self) -> io::Result<UnixListener> {
        // SAFETY: fcntl(F_DUPFD_CLOEXEC) takes integers; self.fd is open.
        let fd = syscall!(unsafe { libc::fcntl(self.fd, libc::F_DUPFD_CLOEXEC, 0) })?;
        Ok(UnixListener { fd })
    }

    /// Accepts one pending connection as a non-blocking, close-on-exec
    /// stream; `Ok(None)` when none is ready (another reactor may have
    /// taken it).
    pub fn accept(&self) -> io::Result<Option<TcpStream>> {
        loop {
            let flags = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
            // SAFETY: null address pointers ask for no peer address; self.fd is owned.
            let res = syscall!(unsafe {
                libc::accept4(self.fd, std::ptr::null_mut(), std::ptr::null_mut(), flags)
            });
            match res {
                Ok(fd) => return Ok(Some(TcpStream::from_owned_fd(fd))),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::ECONNABORTED)) => {
                    continue
                }
                Err(e) => return Err(e),
            }
        }
    }

    pub fn fd(&self) -> RawFd {
        self.fd
    }
}

impl AsRawFd for UnixListener {
    fn as_raw_fd(&self) -> RawFd {
        self.fd
    }
}

impl Drop for UnixListener {
    fn drop(&mut self) {
        // SAFETY: self.fd is owned by this listener and closed exactly once, here.
        if let Err(e) = syscall!(unsafe { libc::close(self.fd) }) {
            eprintln!("kevy-sys: close(unix listener fd {}) failed: {e}", self.fd);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn unix_listener_accepts_and_streams_bytes() {
        let dir = std::env::temp_dir().join(format!("kevy-unix-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("s.sock");
        let l = UnixListener::bind(&path, 16, 0o700).unwrap();
        let mode = std::fs::metadata(&path).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(mode.permissions().mode() & 0o777, 0o700);
        let other = l.try_clone().unwrap();
        assert!(other.accept().unwrap().is_none());
        let mut c = std::os::unix::net::UnixStream::connect(&path).unwrap();
        let s = loop {
            if let Some(s) = other.accept().unwrap() {
                break s;
            }
        };
        c.write_all(b"ping").unwrap();
        let mut buf = [0u8; 4];
        loop {
            match s.read(&mut buf) {
                Ok(4) => break,
                Ok(n) => panic!("short read {n}"),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(&buf, b"ping");
        s.write(b"pong").unwrap();
        let mut back = [0u8; 4];
        c.read_exact(&mut back).unwrap();
        assert_eq!(&back, b"pong");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
