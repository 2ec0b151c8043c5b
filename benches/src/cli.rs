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

/// The command line, option by option, for a tool whose usage text is
/// `usage`: `--help` prints it and exits; a missing value or an unknown
/// option dies with it.
pub struct Args {
    rest: std::iter::Skip<std::env::Args>,
    usage: &'static str,
}

impl Args {
    pub fn new(usage: &'static str) -> Args {
        Args {
            rest: std::env::args().skip(1),
            usage,
        }
    }

    /// The next option; `--help` is answered here.
    pub fn next_opt(&mut self) -> Option<String> {
        let a = self.rest.next()?;
        if a == "--help" {
            println!("{}", self.usage);
            exit(0);
        }
        Some(a)
    }

    /// The value of option `name`.
    pub fn value(&mut self, name: &str) -> String {
        let usage = self.usage;
        self.rest
            .next()
            .unwrap_or_else(|| die(format_args!("{name} needs a value\n{usage}")))
    }

    /// The numeric value of option `name`, at least `min`.
    pub fn num<T>(&mut self, name: &str, min: T) -> T
    where
        T: std::str::FromStr + PartialOrd + fmt::Display,
    {
        num(&self.value(name), name, min)
    }

    /// Every argument left, unread.
    pub fn rest(&mut self) -> Vec<String> {
        self.rest.by_ref().collect()
    }

    /// Dies: `a` is no option of this tool.
    pub fn unknown(&self, a: &str) -> ! {
        die(format_args!("unknown argument {a:?}\n{}", self.usage))
    }
}
