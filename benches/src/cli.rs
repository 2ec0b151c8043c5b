//! Argument handling shared by the load tools in src/bin/.

use std::fmt;
use std::process::exit;

/// Prints `<program>: msg` and exits with status 1.
pub fn die(msg: impl fmt::Display) -> ! {
    let prog = std::env::args()
        .next()
        .and_then(|p| {
            std::path::Path::new(&p)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    eprintln!("{prog}: {msg}");
    exit(1);
}

/// Parses a numeric option value of at least `min`, or dies naming it.
pub fn num<T>(v: &str, name: &str, min: T) -> T
where
    T: std::str::FromStr + PartialOrd + fmt::Display,
{
    match v.parse::<T>() {
        Ok(n) if n >= min => n,
        _ => die(format_args!(
            "{name}: expected a number >= {min}, got {v:?}"
        )),
    }
}
