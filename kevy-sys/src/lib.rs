//! kevy's OS boundary: epoll, sockets, eventfd, signals, clocks, CPU
//! affinity and cache hints ([`hint`]); and its one other C boundary, Lua's C API for the functions
//! scripts call ([`lua`]).
//!
//! This is the only crate in kevy that calls libc or Lua's C API, and the
//! only one with `unsafe` code besides kevy-rt's ring. Every libc call goes
//! through the `syscall!` macro, which turns the C `-1`-and-`errno`
//! convention into `io::Result`, and every `unsafe` block carries a
//! `// SAFETY:` line saying why it holds (enforced by
//! `clippy::undocumented_unsafe_blocks`). What is exported is safe to call.
//!
//! The [`Poller`] is level-triggered for connections (an eventfd waker may
//! ask for [`Interest::EDGE`]), not edge-triggered. A reactor gives each
//! connection a per-iteration budget and stops reading when it runs out; with
//! level triggering the kernel keeps reporting the fd while bytes remain, so a
//! connection cut short by its budget is simply reported again on the next
//! `wait`. Edge triggering would force the reactor to track "still has unread
//! data" itself or risk a stalled connection, and that bookkeeping buys nothing
//! for kevy's small, fair batches.
//!
//! Linux only: epoll, eventfd and `accept4` have no portable equivalents.

#![deny(clippy::undocumented_unsafe_blocks)]
#![deny(unsafe_op_in_unsafe_fn)]

#[cfg(not(target_os = "linux"))]
compile_error!("kevy-sys supports Linux only (epoll, eventfd, accept4)");

/// Evaluates a libc call and maps its `-1` error return to
/// `Err(io::Error::last_os_error())`; any other value is `Ok(value)`.
///
/// The argument is the full `unsafe { libc::... }` expression, so the unsafe
/// block and its `// SAFETY:` comment stay at the call site where the
/// invariants are known.
macro_rules! syscall {
    ($call:expr) => {{
        let res = $call;
        if res == -1 {
            Err(::std::io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}

pub mod affinity;
pub mod alloc;
pub mod clock;
pub mod epoll;
pub mod eventfd;
pub mod hint;
pub mod lua;
pub mod process;
pub mod signal;
pub mod socket;
pub mod unix;

pub use epoll::{Event, Events, Interest, Poller, Token};
pub use eventfd::EventFd;
pub use socket::{TcpListener, TcpStream};
pub use unix::UnixListener;

#[cfg(test)]
mod tests {
    use std::io;

    #[test]
    fn syscall_maps_minus_one_to_last_os_error() {
        // SAFETY: close on an fd that is never open only returns EBADF.
        let err = syscall!(unsafe { libc::close(-1) }).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
    }

    #[test]
    fn syscall_passes_other_values_through() {
        let ok: io::Result<isize> = syscall!(7isize);
        assert_eq!(ok.unwrap(), 7);
        let ok: io::Result<i32> = syscall!(0i32);
        assert_eq!(ok.unwrap(), 0);
    }
}
