//! The server log in Redis's format: `pid:M dd Mon yyyy hh:mm:ss.mmm L msg`,
//! where `L` is the level (`.` debug, `-` verbose, `*` notice, `#`
//! warning). Lines below `loglevel` cost one atomic load; the others go to
//! `logfile` (opened for each line, as Redis does, so a rotated file is
//! followed), or standard output when it is empty, and to syslog when
//! `syslog-enabled` is set.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering::Relaxed};
use std::sync::Mutex;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug = 0,
    Verbose = 1,
    Notice = 2,
    Warning = 3,
}

impl Level {
    /// `loglevel`'s names.
    pub fn parse(name: &str) -> Option<Level> {
        Some(match name {
            "debug" => Level::Debug,
            "verbose" => Level::Verbose,
            "notice" => Level::Notice,
            "warning" => Level::Warning,
            _ => return None,
        })
    }

    fn mark(self) -> char {
        ['.', '-', '*', '#'][self as usize]
    }
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Notice as u8);
static SYSLOG: AtomicBool = AtomicBool::new(false);
/// `logfile`; empty: standard output.
static FILE: Mutex<String> = Mutex::new(String::new());

pub fn set_level(l: Level) {
    LEVEL.store(l as u8, Relaxed);
}

pub fn set_file(path: &str) {
    *FILE.lock().unwrap_or_else(|e| e.into_inner()) = path.to_string();
}

/// Turns syslog on with Redis's `syslog-ident` and `syslog-facility`.
pub fn enable_syslog(ident: &str, facility: &str) {
    kevy_sys::process::open_syslog(ident, facility);
    SYSLOG.store(true, Relaxed);
}

/// Whether a line at `level` would be written.
#[inline]
pub fn enabled(level: Level) -> bool {
    level as u8 >= LEVEL.load(Relaxed)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// One log line, without the newline, as Redis's `serverLogRaw` makes it.
pub fn format_line(pid: u32, unix_ms: u64, level: Level, msg: &str) -> String {
    let (y, mon, d, h, m, s) = kevy_sys::process::local_time((unix_ms / 1000) as i64);
    format!(
        "{pid}:M {d:02} {} {y} {h:02}:{m:02}:{s:02}.{:03} {} {msg}",
        MONTHS[mon as usize % 12],
        unix_ms % 1000,
        level.mark()
    )
}

/// Writes `msg` at `level` if `loglevel` lets it through.
pub fn log(level: Level, msg: std::fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    let msg = msg.to_string();
    let mut line = format_line(std::process::id(), kevy_sys::clock::unix_ms(), level, &msg);
    // One write per line, so lines of several threads never interleave.
    line.push('\n');
    let file = FILE.lock().unwrap_or_else(|e| e.into_inner());
    if file.is_empty() {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(line.as_bytes());
        let _ = out.flush();
    } else if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&*file)
    {
        let _ = f.write_all(line.as_bytes());
    }
    drop(file);
    if SYSLOG.load(Relaxed) {
        kevy_sys::process::syslog(level as usize, &msg);
    }
}

/// `log!(Notice, "DB saved on disk")`: a line at a level, formatted.
#[macro_export]
macro_rules! log {
    ($level:ident, $($arg:tt)*) => {
        $crate::log::log($crate::log::Level::$level, format_args!($($arg)*))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_look_like_redis() {
        let line = format_line(42, 1_700_000_000_123, Level::Notice, "Ready");
        // 42:M 14 Nov 2023 22:13:20.123 * Ready (the hour follows TZ).
        let (head, rest) = line.split_once(' ').unwrap();
        assert_eq!(head, "42:M");
        let parts: Vec<&str> = rest.splitn(6, ' ').collect();
        assert_eq!(parts.len(), 6, "{line}");
        assert!(parts[0].len() == 2 && parts[0].bytes().all(|b| b.is_ascii_digit()));
        assert!(MONTHS.contains(&parts[1]), "{line}");
        assert_eq!(parts[2], "2023");
        assert!(parts[3].ends_with(".123") && parts[3].len() == 12, "{line}");
        assert_eq!(parts[4], "*");
        assert_eq!(parts[5], "Ready");
        assert!(format_line(1, 0, Level::Warning, "x").contains(" # x"));
        assert!(format_line(1, 0, Level::Debug, "x").contains(" . x"));
        assert!(format_line(1, 0, Level::Verbose, "x").contains(" - x"));
    }

    #[test]
    fn level_names_parse() {
        assert_eq!(Level::parse("verbose"), Some(Level::Verbose));
        assert_eq!(Level::parse("loud"), None);
        assert!(Level::Warning > Level::Notice);
    }
}
