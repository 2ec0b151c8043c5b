//! Cross-thread wakeup for a parked reactor: an eventfd registered in its [`crate::Poller`].
//!
//! The kernel keeps a 64-bit counter; any write makes the fd readable and one read resets it, so
//! any number of wakes between two waits collapse into a single readable event.

use std::io;
use std::os::fd::{AsRawFd, RawFd};

/// A non-blocking, close-on-exec eventfd. `Send + Sync`: wake from any thread through an `Arc`.
#[derive(Debug)]
pub struct EventFd {
    fd: RawFd,
}

impl EventFd {
    pub fn new() -> io::Result<EventFd> {
        // SAFETY: eventfd takes an initial value and flags and touches no caller memory.
        let fd = syscall!(unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) })?;
        Ok(EventFd { fd })
    }

    /// Adds 1 to the counter, making the fd readable. A full counter (`EAGAIN`) already means
    /// "readable", so it counts as success.
    pub fn wake(&self) -> io::Result<()> {
        let one: u64 = 1;
        loop {
            // SAFETY: `one` is a live 8-byte value, the size eventfd requires; self.fd is owned.
            let res = syscall!(unsafe {
                libc::write(self.fd, (&one as *const u64).cast(), size_of::<u64>())
            });
            match res {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }

    /// Resets the counter to zero so the fd stops being readable. Reads until `EAGAIN` so a
    /// wake racing with the drain is consumed too, never left half-seen.
    pub fn drain(&self) -> io::Result<()> {
        let mut value: u64 = 0;
        loop {
            // SAFETY: `value` is a live, writable 8-byte buffer; self.fd is owned by self.
            let res = syscall!(unsafe {
                libc::read(self.fd, (&mut value as *mut u64).cast(), size_of::<u64>())
            });
            match res {
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }

    pub fn fd(&self) -> RawFd {
        self.fd
    }
}

impl AsRawFd for EventFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd
    }
}

impl Drop for EventFd {
    fn drop(&mut self) {
        // A signal handler must never write to this fd number once it is closed and reused.
        crate::signal::unregister_wakeup(self.fd);
        // SAFETY: self.fd is owned by this EventFd and closed exactly once, here.
        if let Err(e) = syscall!(unsafe { libc::close(self.fd) }) {
            eprintln!("kevy-sys: close(eventfd {}) failed: {e}", self.fd);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Events, Interest, Poller, Token};

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn eventfd_is_send_and_sync() {
        assert_send_sync::<EventFd>();
    }

    #[test]
    fn eventfd_is_nonblocking_and_cloexec() {
        let e = EventFd::new().unwrap();
        // SAFETY: F_GETFL only reads the status flags of the fd owned by `e`.
        let fl = syscall!(unsafe { libc::fcntl(e.fd(), libc::F_GETFL) }).unwrap();
        assert_ne!(fl & libc::O_NONBLOCK, 0);
        // SAFETY: F_GETFD only reads the descriptor flags of the fd owned by `e`.
        let fd_fl = syscall!(unsafe { libc::fcntl(e.fd(), libc::F_GETFD) }).unwrap();
        assert_ne!(fd_fl & libc::FD_CLOEXEC, 0);
    }

    #[test]
    fn wake_makes_poller_readable_and_drain_clears_it() {
        let p = Poller::new().unwrap();
        let e = EventFd::new().unwrap();
        p.add(e.fd(), Token(42), Interest::READABLE).unwrap();
        let mut events = Events::with_capacity(4);
        assert_eq!(p.wait(&mut events, 0).unwrap(), 0);

        e.wake().unwrap();
        e.wake().unwrap();
        assert_eq!(p.wait(&mut events, 0).unwrap(), 1);
        let ev = events.iter().next().unwrap();
        assert_eq!(ev.token, Token(42));
        assert!(ev.readable && !ev.hup);

        e.drain().unwrap();
        assert_eq!(p.wait(&mut events, 0).unwrap(), 0);
    }

    #[test]
    fn drain_on_empty_counter_is_ok() {
        let e = EventFd::new().unwrap();
        e.drain().unwrap();
        e.drain().unwrap();
    }

    #[test]
    fn wake_on_full_counter_is_ok() {
        let e = EventFd::new().unwrap();
        // Fill the counter to its maximum (u64::MAX - 1) so the next write would block.
        let max: u64 = u64::MAX - 1;
        // SAFETY: `max` is a live 8-byte value; e.fd() is owned by `e`.
        syscall!(unsafe { libc::write(e.fd(), (&max as *const u64).cast(), 8) }).unwrap();
        e.wake().unwrap();
        e.drain().unwrap();
    }

    #[test]
    fn wake_from_many_threads() {
        let e = std::sync::Arc::new(EventFd::new().unwrap());
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let e = e.clone();
                std::thread::spawn(move || {
                    for _ in 0..100 {
                        e.wake().unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let mut value: u64 = 0;
        // SAFETY: `value` is a live writable 8-byte buffer; e.fd() is owned by `e`.
        syscall!(unsafe { libc::read(e.fd(), (&mut value as *mut u64).cast(), 8) }).unwrap();
        assert_eq!(value, 400);
    }
}
