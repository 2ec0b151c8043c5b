//! The process as an operator sees it: going to the background
//! (`daemonize`), the local time the log is stamped with, syslog, and the
//! kernel settings Redis warns about at start-up.

use std::ffi::CString;
use std::io;
use std::sync::OnceLock;

/// Redis's `daemonize`: forks, the parent exits at once, the child starts a
/// new session and points stdin, stdout and stderr at `/dev/null`. Call it
/// before any thread starts: only the calling thread survives a fork.
pub fn daemonize() -> io::Result<()> {
    // SAFETY: fork takes no arguments; the caller runs single-threaded, so
    // the child holds no lock another thread owned.
    let pid = syscall!(unsafe { libc::fork() })?;
    if pid != 0 {
        // SAFETY: _exit ends the parent without running the child's share
        // of atexit handlers or flushing buffers twice.
        unsafe { libc::_exit(0) };
    }
    // SAFETY: setsid takes no arguments.
    syscall!(unsafe { libc::setsid() })?;
    // SAFETY: the path is a NUL-terminated literal.
    let fd = syscall!(unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR, 0) })?;
    for target in [libc::STDIN_FILENO, libc::STDOUT_FILENO, libc::STDERR_FILENO] {
        // SAFETY: dup2 takes integers; fd is open.
        syscall!(unsafe { libc::dup2(fd, target) })?;
    }
    if fd > libc::STDERR_FILENO {
        // SAFETY: fd was opened above and is closed once.
        syscall!(unsafe { libc::close(fd) })?;
    }
    // jemalloc turns its purging thread off in a forked child; the
    // daemon wants it as the foreground process has it.
    let _ = tikv_jemalloc_ctl::background_thread::write(true);
    Ok(())
}

/// The broken-down local time of `unix_secs`: (year, month 0–11, day of
/// month, hour, minute, second), as `localtime_r` gives it (`TZ` applies).
pub fn local_time(unix_secs: i64) -> (i32, u32, u32, u32, u32, u32) {
    let t: libc::time_t = unix_secs as libc::time_t;
    // SAFETY: an all-zero tm is a valid value for localtime_r to overwrite.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are to live values of the right types.
    let ok = !unsafe { libc::localtime_r(&t, &mut tm) }.is_null();
    if !ok {
        return (1970, 0, 1, 0, 0, 0);
    }
    (
        tm.tm_year + 1900,
        tm.tm_mon as u32,
        tm.tm_mday as u32,
        tm.tm_hour as u32,
        tm.tm_min as u32,
        tm.tm_sec as u32,
    )
}

/// Syslog priorities of Redis's log levels, most verbose first (`debug`,
/// `verbose`, `notice`, `warning`).
const SYSLOG_LEVELS: [libc::c_int; 4] = [
    libc::LOG_DEBUG,
    libc::LOG_INFO,
    libc::LOG_NOTICE,
    libc::LOG_WARNING,
];

/// Opens syslog with `ident` and `facility` (`local0`…`local7` or `user`),
/// as Redis's `syslog-ident` and `syslog-facility`. Later calls are ignored:
/// openlog keeps the ident pointer, so it must live for the process.
pub fn open_syslog(ident: &str, facility: &str) {
    static IDENT: OnceLock<CString> = OnceLock::new();
    let fac = match facility {
        "local0" => libc::LOG_LOCAL0,
        "local1" => libc::LOG_LOCAL1,
        "local2" => libc::LOG_LOCAL2,
        "local3" => libc::LOG_LOCAL3,
        "local4" => libc::LOG_LOCAL4,
        "local5" => libc::LOG_LOCAL5,
        "local6" => libc::LOG_LOCAL6,
        "local7" => libc::LOG_LOCAL7,
        _ => libc::LOG_USER,
    };
    if IDENT.get().is_some() {
        return;
    }
    let c = IDENT.get_or_init(|| CString::new(ident.replace('\0', "")).unwrap_or_default());
    // SAFETY: `c` lives in a static for the rest of the process, as openlog
    // requires of its ident.
    unsafe {
        libc::openlog(
            c.as_ptr(),
            libc::LOG_PID | libc::LOG_NDELAY | libc::LOG_NOWAIT,
            fac,
        )
    };
}

/// Sends `msg` to syslog at Redis log level `level` (0 = debug … 3 = warning).
pub fn syslog(level: usize, msg: &str) {
    let Ok(c) = CString::new(msg.replace('\0', "")) else {
        return;
    };
    let prio = SYSLOG_LEVELS[level.min(3)];
    // SAFETY: the format is a literal taking one string, and `c` is a
    // NUL-terminated string that outlives the call.
    unsafe { libc::syslog(prio, c"%s".as_ptr(), c.as_ptr()) };
}

/// The open-files limit (`RLIMIT_NOFILE`): soft and hard.
pub fn open_files_limit() -> io::Result<(u64, u64)> {
    // SAFETY: an all-zero rlimit is valid for getrlimit to overwrite.
    let mut r: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: `r` is a live rlimit.
    syscall!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) })?;
    Ok((r.rlim_cur, r.rlim_max))
}

/// Raises the soft open-files limit to `want` (at most the hard limit).
pub fn raise_open_files_limit(want: u64) -> io::Result<u64> {
    let (cur, max) = open_files_limit()?;
    if cur >= want {
        return Ok(cur);
    }
    let r = libc::rlimit {
        rlim_cur: want.min(max),
        rlim_max: max,
    };
    // SAFETY: `r` is a live rlimit.
    syscall!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) })?;
    Ok(r.rlim_cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_time_breaks_down_a_known_instant() {
        // Whatever the zone, the year and a sane range come back.
        let (y, mon, d, h, m, s) = local_time(86_400 * 365 * 30);
        assert!((1999..=2000).contains(&y), "{y}");
        assert!(mon < 12 && (1..=31).contains(&d) && h < 24 && m < 60 && s < 61);
    }

    #[test]
    fn open_files_limit_reads() {
        let (cur, max) = open_files_limit().unwrap();
        assert!(cur <= max);
    }
}
