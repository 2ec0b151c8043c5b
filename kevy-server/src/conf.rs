//! The configuration file and command line, read as redis-server reads
//! them: lines split with Redis's `sdssplitargs` quoting, `include`
//! expanded where it stands, and the command-line options appended after
//! the file as more lines (so they win). Applying a line is the
//! settings' business ([`crate::settings::load_directive`]); this module
//! only yields the lines in order and words an error as Redis does.

use std::path::{Path, PathBuf};

/// Includes nested deeper than this are refused (a file including itself).
const MAX_INCLUDE_DEPTH: usize = 16;

/// Splits a line into arguments as Redis's `sdssplitargs`: blanks separate
/// words; `"…"` takes `\n`, `\r`, `\t`, `\b`, `\a`, `\xHH` and `\<char>`
/// escapes; `'…'` takes `\'`; a closing quote must end the word. `None`
/// for unbalanced quotes.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut p = 0;
    let n = line.len();
    let is_space = |b: u8| matches!(b, b' ' | b'\n' | b'\r' | b'\t' | 0x0b | 0x0c);
    loop {
        while p < n && is_space(line[p]) {
            p += 1;
        }
        if p >= n {
            return Some(out);
        }
        let mut cur = Vec::new();
        let (mut inq, mut insq) = (false, false);
        loop {
            if inq {
                if p >= n {
                    return None;
                }
                if line[p] == b'\\'
                    && p + 3 < n
                    && line[p + 1] == b'x'
                    && line[p + 2].is_ascii_hexdigit()
                    && line[p + 3].is_ascii_hexdigit()
                {
                    let hex = |b: u8| (b as char).to_digit(16).unwrap_or(0) as u8;
                    cur.push(hex(line[p + 2]) * 16 + hex(line[p + 3]));
                    p += 3;
                } else if line[p] == b'\\' && p + 1 < n {
                    p += 1;
                    cur.push(match line[p] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        c => c,
                    });
                } else if line[p] == b'"' {
                    // The closing quote must be followed by a blank or the end.
                    if p + 1 < n && !is_space(line[p + 1]) {
                        return None;
                    }
                    p += 1;
                    break;
                } else {
                    cur.push(line[p]);
                }
            } else if insq {
                if p >= n {
                    return None;
                }
                if line[p] == b'\\' && p + 1 < n && line[p + 1] == b'\'' {
                    p += 1;
                    cur.push(b'\'');
                } else if line[p] == b'\'' {
                    if p + 1 < n && !is_space(line[p + 1]) {
                        return None;
                    }
                    p += 1;
                    break;
                } else {
                    cur.push(line[p]);
                }
            } else {
                if p >= n {
                    break;
                }
                match line[p] {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => break,
                    b'"' => inq = true,
                    b'\'' => insq = true,
                    c => cur.push(c),
                }
            }
            p += 1;
        }
        out.push(cur);
    }
}

/// Quotes `s` as Redis's `sdscatrepr`: a double-quoted string that
/// [`split_args`] reads back as `s`.
pub fn repr(s: &[u8]) -> String {
    let mut out = String::from("\"");
    for &b in s {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x07 => out.push_str("\\a"),
            0x08 => out.push_str("\\b"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
    out
}

/// A line of configuration, split; `args[0]` lowercased.
#[derive(Debug, Clone)]
pub struct Directive {
    pub args: Vec<String>,
    /// Line number in its file (or in the file plus options) and its text,
    /// for the error message.
    pub lineno: usize,
    pub text: String,
}

/// Why the configuration cannot be used: printed as Redis prints it, then
/// the process exits with status 1.
#[derive(Debug)]
pub enum Fatal {
    /// A line Redis would refuse: its number, its text, the reason.
    Line {
        lineno: usize,
        text: String,
        why: String,
    },
    /// A file that cannot be read.
    Open { path: String, why: String },
}

impl Fatal {
    pub fn at(d: &Directive, why: impl Into<String>) -> Fatal {
        Fatal::Line {
            lineno: d.lineno,
            text: d.text.clone(),
            why: why.into(),
        }
    }

    /// The message, as redis-server writes it to standard error.
    pub fn message(&self) -> String {
        match self {
            Fatal::Line { lineno, text, why } => format!(
                "\n*** FATAL CONFIG FILE ERROR (Redis {}) ***\n\
                 Reading the configuration file, at line {lineno}\n>>> '{text}'\n{why}\n",
                crate::families::common::REDIS_VERSION
            ),
            Fatal::Open { path, why } => {
                format!("Fatal error, can't open config file '{path}': {why}")
            }
        }
    }
}

/// The command line after the config file name, turned into configuration
/// lines as redis-server does: `--name` starts a line, the words after it
/// are its arguments (quoted), `--save` with no value is `save ""`.
pub fn options_from_args(args: &[String]) -> String {
    let mut options = String::new();
    let mut handled_last = true;
    let mut j = 0;
    while j < args.len() {
        let a = &args[j];
        if a == "-" && (j == 0 || j + 1 == args.len()) {
            // The configuration on standard input (see `load`).
        } else if handled_last && a.starts_with("--") {
            if !options.is_empty() {
                options.push('\n');
            }
            options.push_str(&a[2..]);
            options.push(' ');
            let words = split_args(a.as_bytes()).map_or(0, |w| w.len());
            if words == 1 {
                handled_last = false;
                let next_is_flag = args.get(j + 1).is_some_and(|n| n.starts_with("--"));
                if a.eq_ignore_ascii_case("--save") && (next_is_flag || j + 1 == args.len()) {
                    options.push_str("\"\"");
                    handled_last = true;
                }
            } else {
                handled_last = true;
            }
        } else {
            options.push_str(&repr(a.as_bytes()));
            options.push(' ');
            handled_last = true;
        }
        j += 1;
    }
    options
}

/// Reads `file` (if any), then `stdin` (redis-server's `-` argument),
/// then `options`, expanding `include` lines, into directives in the
/// order they apply.
pub fn load(
    file: Option<&Path>,
    stdin: Option<&str>,
    options: &str,
) -> Result<Vec<Directive>, Fatal> {
    let mut text = String::new();
    if let Some(path) = file {
        text = read(path)?;
    }
    if let Some(more) = stdin {
        text.push('\n');
        text.push_str(more);
    }
    text.push('\n');
    text.push_str(options);
    let mut out = Vec::new();
    parse(&text, 0, &mut out)?;
    Ok(out)
}

fn read(path: &Path) -> Result<String, Fatal> {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .map_err(|e| Fatal::Open {
            path: path.display().to_string(),
            why: os_reason(&e),
        })
}

/// The C library's wording of an error (`strerror`), without Rust's
/// " (os error N)".
pub fn os_reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

fn parse(text: &str, depth: usize, out: &mut Vec<Directive>) -> Result<(), Fatal> {
    for (i, raw) in text.split('\n').enumerate() {
        let line = raw.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'));
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let lineno = i + 1;
        let Some(words) = split_args(line.as_bytes()) else {
            return Err(Fatal::Line {
                lineno,
                text: line.to_string(),
                why: "Unbalanced quotes in configuration line".into(),
            });
        };
        if words.is_empty() {
            continue;
        }
        let mut args: Vec<String> = words
            .iter()
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .collect();
        args[0].make_ascii_lowercase();
        if args[0] == "include" && args.len() == 2 {
            if depth >= MAX_INCLUDE_DEPTH {
                return Err(Fatal::Line {
                    lineno,
                    text: line.to_string(),
                    why: "Too many nested includes".into(),
                });
            }
            for path in include_paths(Path::new(&args[1])) {
                let inner = read(&path)?;
                parse(&inner, depth + 1, out)?;
            }
            continue;
        }
        out.push(Directive {
            args,
            lineno,
            text: line.to_string(),
        });
    }
    Ok(())
}

/// The files an `include` names: the path itself, or, when its file name
/// is a glob pattern (`include /etc/kevy/conf.d/*.conf`), the matching
/// files of that directory in name order (none is no error, as with
/// Redis's `glob`).
fn include_paths(path: &Path) -> Vec<PathBuf> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !name.contains(['*', '?', '[']) {
        return vec![path.to_path_buf()];
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter(|e| {
            kevy_store::glob::matches_with(
                name.as_bytes(),
                e.file_name().to_string_lossy().as_bytes(),
                false,
            )
        })
        .map(|e| e.path())
        .collect();
    found.sort();
    found
}

/// The absolute form of the config file's path (CONFIG REWRITE writes it
/// after the working directory may have changed).
pub fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_path_buf();
    }
    std::env::current_dir()
        .map(|d| d.join(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &str) -> Option<Vec<String>> {
        split_args(s.as_bytes()).map(|v| {
            v.into_iter()
                .map(|w| String::from_utf8_lossy(&w).into_owned())
                .collect()
        })
    }

    #[test]
    fn splits_like_sdssplitargs() {
        let cases: &[(&str, Option<&[&str]>)] = &[
            ("", Some(&[])),
            ("   ", Some(&[])),
            ("port 6379", Some(&["port", "6379"])),
            ("  save  900   1 ", Some(&["save", "900", "1"])),
            ("a\tb", Some(&["a", "b"])),
            (
                r#"logfile "/tmp/my log""#,
                Some(&["logfile", "/tmp/my log"]),
            ),
            (r#"x "a\"b\\c""#, Some(&["x", "a\"b\\c"])),
            (r#"x "\x41\x7a\n""#, Some(&["x", "Az\n"])),
            (r#"x "\xZZ""#, Some(&["x", "xZZ"])),
            ("x 'it\\'s'", Some(&["x", "it's"])),
            ("x 'a\\nb'", Some(&["x", "a\\nb"])),
            (r#"x """#, Some(&["x", ""])),
            ("x ''", Some(&["x", ""])),
            (r#"x ab"cd""#, Some(&["x", "abcd"])),
            (r#"x "ab"cd"#, None),
            (r#"x "abc"#, None),
            ("x 'abc", None),
            ("x 'a'b", None),
        ];
        for (line, want) in cases {
            let want = want.map(|w| w.iter().map(|s| s.to_string()).collect::<Vec<_>>());
            assert_eq!(split(line), want, "{line:?}");
        }
    }

    #[test]
    fn repr_reads_back() {
        for s in [
            &b"plain"[..],
            b"",
            b"a b",
            b"q\"uote\\",
            b"\x00\x01\xff\n\t\r",
            b"it's",
        ] {
            let line = format!("x {}", repr(s));
            let back = split_args(line.as_bytes()).unwrap();
            assert_eq!(back[1], s, "{line}");
        }
        assert_eq!(repr(b"a\nb\x01"), r#""a\nb\x01""#);
    }

    fn opts(a: &[&str]) -> String {
        options_from_args(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn command_line_becomes_lines() {
        assert_eq!(opts(&["--port", "7000"]), "port \"7000\" ");
        assert_eq!(opts(&["--save", "--port", "1"]), "save \"\"\nport \"1\" ");
        assert_eq!(opts(&["--save"]), "save \"\"");
        assert_eq!(opts(&["--save", ""]), "save \"\" ");
        assert_eq!(opts(&["--bind", "a", "b"]), "bind \"a\" \"b\" ");
        assert_eq!(opts(&["--port 7000"]), "port 7000 ");
        // `-` first or last reads standard input; it is no option.
        assert_eq!(opts(&["-", "--port", "1"]), "port \"1\" ");
        assert_eq!(opts(&["--port", "1", "-"]), "port \"1\" ");
    }

    #[test]
    fn loads_files_with_includes_in_place() {
        let dir = std::env::temp_dir().join(format!("kevy-conf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let inc = dir.join("inc.conf");
        std::fs::write(&inc, "hz 20\n").unwrap();
        let main = dir.join("main.conf");
        std::fs::write(
            &main,
            format!(
                "# c\nPORT 1\n\n  include {}\nmaxmemory 1mb\n",
                inc.display()
            ),
        )
        .unwrap();
        let ds = load(Some(&main), None, "port \"2\" ").unwrap();
        let got: Vec<(Vec<String>, usize)> =
            ds.iter().map(|d| (d.args.clone(), d.lineno)).collect();
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            got,
            vec![
                (s(&["port", "1"]), 2),
                (s(&["hz", "20"]), 1),
                (s(&["maxmemory", "1mb"]), 5),
                (s(&["port", "2"]), 7),
            ]
        );
        std::fs::write(&main, "port \"1\nhz 1\n").unwrap();
        let err = load(Some(&main), None, "").unwrap_err().message();
        assert!(
            err.contains("at line 1\n>>> 'port \"1'\nUnbalanced quotes"),
            "{err}"
        );
        let missing = dir.join("nope.conf");
        let err = load(Some(&missing), None, "").unwrap_err().message();
        assert!(
            err.starts_with("Fatal error, can't open config file"),
            "{err}"
        );
        assert!(err.ends_with("No such file or directory"), "{err}");
        // A glob includes the matching files in name order.
        std::fs::create_dir_all(dir.join("d")).unwrap();
        std::fs::write(dir.join("d/b.conf"), "hz 2\n").unwrap();
        std::fs::write(dir.join("d/a.conf"), "hz 1\n").unwrap();
        std::fs::write(dir.join("d/skip.txt"), "hz 3\n").unwrap();
        std::fs::write(
            &main,
            format!(
                "include {}/d/*.conf\ninclude {}/none/*.conf\n",
                dir.display(),
                dir.display()
            ),
        )
        .unwrap();
        let ds = load(Some(&main), None, "").unwrap();
        let hz: Vec<&str> = ds.iter().map(|d| d.args[1].as_str()).collect();
        assert_eq!(hz, ["1", "2"]);
        std::fs::write(&main, format!("include {}\n", main.display())).unwrap();
        assert!(load(Some(&main), None, "").is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
