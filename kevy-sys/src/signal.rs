//! Process shutdown via SIGINT/SIGTERM: a static flag plus a wakeup for every parked reactor.
//!
//! A signal handler may only touch async-signal-safe state, so it stores to an `AtomicBool` and
//! `write`s to eventfds whose numbers sit in a fixed static array of atomics; nothing allocates
//! or locks.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

/// Slots for wakeup fds; `-1` marks an empty slot.
pub const MAX_WAKEUP_FDS: usize = 256;

static SHUTDOWN: AtomicBool = AtomicBool::new(false);
/// A SIGINT or SIGTERM arrived and nobody took it yet.
static SIGNALLED: AtomicBool = AtomicBool::new(false);
static WAKEUP_FDS: [AtomicI32; MAX_WAKEUP_FDS] = [const { AtomicI32::new(-1) }; MAX_WAKEUP_FDS];

/// Ignores SIGPIPE and installs SIGINT and SIGTERM handlers (`SA_RESTART`) that note the
/// signal (see [`take_signal`]) and wake every fd registered with [`register_wakeup`]. Idempotent: calling it
/// again re-installs the same dispositions.
pub fn install_shutdown_handlers() -> io::Result<()> {
    set_disposition(libc::SIGPIPE, libc::SIG_IGN)?;
    let handler = on_shutdown_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    set_disposition(libc::SIGINT, handler)?;
    set_disposition(libc::SIGTERM, handler)?;
    Ok(())
}

/// Whether [`request_shutdown`] was called: every reactor stops now.
pub fn shutdown_requested() -> bool {
    SHUTDOWN.load(Ordering::Acquire)
}

/// Registers `fd` to receive an 8-byte `1` on shutdown so a reactor parked in `epoll_wait`
/// wakes. Registering the same fd twice keeps one slot. If all [`MAX_WAKEUP_FDS`] slots are in
/// use the fd is not registered and a warning is printed; its reactor then notices shutdown
/// only at its next timeout.
pub fn register_wakeup(fd: RawFd) {
    if fd < 0 {
        return;
    }
    if WAKEUP_FDS
        .iter()
        .any(|slot| slot.load(Ordering::Acquire) == fd)
    {
        return;
    }
    for slot in &WAKEUP_FDS {
        if slot
            .compare_exchange(-1, fd, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            return;
        }
    }
    eprintln!(
        "kevy-sys: all {MAX_WAKEUP_FDS} shutdown wakeup slots are taken; fd {fd} not registered"
    );
}

/// Removes `fd` from the wakeup set. [`crate::EventFd`] calls this when dropped, so a later
/// signal never writes into an unrelated file that reuses the number.
pub fn unregister_wakeup(fd: RawFd) {
    if fd < 0 {
        return;
    }
    for slot in &WAKEUP_FDS {
        // Only clears slots holding `fd`; the failed exchanges are the other fds.
        let _ = slot.compare_exchange(fd, -1, Ordering::AcqRel, Ordering::Acquire);
    }
}

/// Sets the shutdown flag and wakes registered fds exactly as a signal would.
pub fn request_shutdown() {
    SHUTDOWN.store(true, Ordering::Release);
    wake_all();
}

/// Whether a SIGINT or SIGTERM arrived since the last call: the process decides how to
/// stop (a final save first, as Redis does, or at once with [`request_shutdown`]).
pub fn take_signal() -> bool {
    SIGNALLED.load(Ordering::Acquire) && SIGNALLED.swap(false, Ordering::AcqRel)
}

/// Clears the shutdown flag so a process (typically a test binary) can start servers again
/// after a [`request_shutdown`].
pub fn reset_shutdown() {
    SHUTDOWN.store(false, Ordering::Release);
}

extern "C" fn on_shutdown_signal(_sig: libc::c_int) {
    // The interrupted code may be between a syscall and its errno check; restore errno so the
    // handler's own writes are invisible to it.
    // SAFETY: __errno_location returns the calling thread's errno slot, valid for the life of
    // the thread; it is a plain accessor, not a syscall, and is async-signal-safe.
    let errno = unsafe { libc::__errno_location() };
    // SAFETY: `errno` points at this thread's live errno slot (see above).
    let saved = unsafe { *errno };
    SIGNALLED.store(true, Ordering::Release);
    wake_all();
    // SAFETY: `errno` points at this thread's live errno slot (see above).
    unsafe { *errno = saved };
}

/// Async-signal-safe: atomic loads and `write` only.
fn wake_all() {
    let one: u64 = 1;
    for slot in &WAKEUP_FDS {
        let fd = slot.load(Ordering::Acquire);
        if fd < 0 {
            continue;
        }
        // Errors are ignored: EAGAIN means the eventfd is already readable, and an fd closed
        // since it was registered (EBADF) has no reactor left to wake.
        // SAFETY: `one` is a live 8-byte value; write only reads it, whatever `fd` now is.
        let _ = syscall!(unsafe { libc::write(fd, (&one as *const u64).cast(), 8) });
    }
}

fn set_disposition(sig: libc::c_int, handler: libc::sighandler_t) -> io::Result<()> {
    // SAFETY: an all-zero sigaction is valid: SIG_DFL, empty mask, no flags.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = handler;
    action.sa_flags = libc::SA_RESTART;
    // SAFETY: action.sa_mask is a live sigset_t owned by `action`.
    syscall!(unsafe { libc::sigemptyset(&mut action.sa_mask) })?;
    // SAFETY: `action` is fully initialised and outlives the call; a null old-action pointer
    // is allowed and means the previous disposition is not returned.
    syscall!(unsafe { libc::sigaction(sig, &action, std::ptr::null_mut()) })?;
    Ok(())
}

#[cfg(test)]
fn current_disposition(sig: libc::c_int) -> io::Result<libc::sighandler_t> {
    // SAFETY: an all-zero sigaction is a valid out-buffer.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a null new action only queries; `old` is a live writable sigaction.
    syscall!(unsafe { libc::sigaction(sig, std::ptr::null(), &mut old) })?;
    Ok(old.sa_sigaction)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EventFd, Events, Interest, Poller, Token};
    use std::sync::Mutex;

    /// The shutdown flag and wakeup slots are process-global; tests that register fds or set
    /// the flag run one at a time.
    static FLAG_LOCK: Mutex<()> = Mutex::new(());

    fn readable(e: &EventFd) -> bool {
        let p = Poller::new().unwrap();
        p.add(e.fd(), Token(0), Interest::READABLE).unwrap();
        let mut events = Events::with_capacity(1);
        p.wait(&mut events, 0).unwrap() == 1
    }

    fn registered(fd: RawFd) -> usize {
        WAKEUP_FDS
            .iter()
            .filter(|s| s.load(Ordering::Acquire) == fd)
            .count()
    }

    #[test]
    fn request_shutdown_sets_flag_and_wakes_registered_eventfd() {
        let _g = FLAG_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        let e = EventFd::new().unwrap();
        register_wakeup(e.fd());
        assert!(!readable(&e));
        request_shutdown();
        assert!(shutdown_requested());
        assert!(readable(&e));
        reset_shutdown();
        assert!(!shutdown_requested());
    }

    #[test]
    fn sigterm_runs_handler_and_sigpipe_is_ignored() {
        let _g = FLAG_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        install_shutdown_handlers().unwrap();
        install_shutdown_handlers().unwrap();
        assert_eq!(current_disposition(libc::SIGPIPE).unwrap(), libc::SIG_IGN);
        let handler = on_shutdown_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        assert_eq!(current_disposition(libc::SIGINT).unwrap(), handler);

        let e = EventFd::new().unwrap();
        register_wakeup(e.fd());
        reset_shutdown();
        // raise delivers to the calling thread and the handler runs before raise returns.
        // SAFETY: raise takes only the signal number; a handler for SIGTERM is installed above.
        syscall!(unsafe { libc::raise(libc::SIGTERM) }).unwrap();
        assert!(!shutdown_requested(), "the process decides how to stop");
        assert!(readable(&e));
        assert!(take_signal());
        assert!(!take_signal(), "taken once");
    }

    #[test]
    fn register_is_deduplicated_and_unregister_clears() {
        let e = EventFd::new().unwrap();
        register_wakeup(e.fd());
        register_wakeup(e.fd());
        assert_eq!(registered(e.fd()), 1);
        unregister_wakeup(e.fd());
        assert_eq!(registered(e.fd()), 0);
        register_wakeup(-1);
        unregister_wakeup(-1);
    }

    #[test]
    fn dropping_eventfd_unregisters_it() {
        // Held so no other test reuses the closed fd number and registers it meanwhile.
        let _g = FLAG_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        let e = EventFd::new().unwrap();
        let fd = e.fd();
        register_wakeup(fd);
        drop(e);
        assert_eq!(registered(fd), 0);
    }
}
