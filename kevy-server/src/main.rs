//! The `kevy-server` binary: parses flags, binds, runs the reactors until
//! SIGINT or SIGTERM.

use kevy_server::{Config, Kevy, Server};

// The allocator (jemalloc, configured as Redis runs it) is installed by
// kevy-sys; see kevy_sys::alloc.
use kevy_sys as _;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;

const USAGE: &str = "\
Usage: kevy-server [OPTIONS]

A Redis-compatible key-value server: one pinned thread per core.

Options:
  --port <PORT>     TCP port to listen on (default: 6379)
  --bind <ADDR>     address to listen on (default: 127.0.0.1)
  --cores <N>       cores to run on, one shard each (default: all available)
  --shards <N>      shards (reactor threads), when different from --cores;
                    shards beyond the core count share cores
  --metrics-port <PORT>
                    serve Prometheus metrics at http://<bind>:<PORT>/metrics
                    (default: off)
  --<name> <value>  any configuration parameter CONFIG SET knows, as
                    redis-server takes it (--hz 20, --save '60 1')
  -h, --help        print this help
  -v, --version     print the version
";

struct Opts {
    port: u16,
    bind: String,
    cores: Option<usize>,
    shards: Option<usize>,
    /// Other parameters, in the order given.
    params: Vec<(String, String)>,
}

enum Parsed {
    Run(Opts),
    Exit(ExitCode),
}

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Parsed, String> {
    let mut o = Opts {
        port: 6379,
        bind: "127.0.0.1".into(),
        cores: None,
        shards: None,
        params: Vec::new(),
    };
    while let Some(arg) = it.next() {
        // Accept both `--flag value` and `--flag=value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| format!("option '{name}' needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(Parsed::Exit(ExitCode::SUCCESS));
            }
            "-v" | "--version" => {
                println!(
                    "kevy-server v={} (Redis-compatible, protocol 7.0)",
                    env!("CARGO_PKG_VERSION")
                );
                return Ok(Parsed::Exit(ExitCode::SUCCESS));
            }
            "--port" => {
                let v = value("--port")?;
                o.port = v.parse().map_err(|_| {
                    format!("invalid port '{v}': expected a number from 0 to 65535")
                })?;
            }
            "--bind" => {
                let v = value("--bind")?;
                v.parse::<IpAddr>().map_err(|_| {
                    format!("invalid bind address '{v}': expected an IPv4 or IPv6 address")
                })?;
                o.bind = v;
            }
            "--cores" => {
                let v = value("--cores")?;
                o.cores = Some(positive(&v, "--cores")?);
            }
            "--shards" => {
                let v = value("--shards")?;
                o.shards = Some(positive(&v, "--shards")?);
            }
            other => match other.strip_prefix("--") {
                Some(name) if !name.is_empty() => {
                    let v = value(other)?;
                    o.params.push((name.to_ascii_lowercase(), v));
                }
                _ => return Err(format!("unknown option '{other}'")),
            },
        }
    }
    Ok(Parsed::Run(o))
}

fn positive(v: &str, name: &str) -> Result<usize, String> {
    match v.parse::<usize>() {
        Ok(n) if (1..=1024).contains(&n) => Ok(n),
        _ => Err(format!(
            "invalid value '{v}' for {name}: expected a number from 1 to 1024"
        )),
    }
}

fn main() -> ExitCode {
    let opts = match parse_args(std::env::args().skip(1)) {
        Ok(Parsed::Run(o)) => o,
        Ok(Parsed::Exit(code)) => return code,
        Err(e) => {
            eprintln!("kevy-server: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let available = kevy_sys::affinity::available_cores();
    let ncores = opts.cores.unwrap_or(available.len().max(1));
    let shards = opts.shards.unwrap_or(ncores);
    // Pin to the first `ncores` usable cores when they exist; a machine
    // with fewer cores than asked runs unpinned rather than doubling up.
    let cores: Vec<usize> = if available.len() >= ncores {
        available[..ncores].to_vec()
    } else {
        Vec::new()
    };
    let ip: IpAddr = opts.bind.parse().expect("validated above");
    let addr = SocketAddr::new(ip, opts.port);
    let bound = match kevy_rt::bind(kevy_rt::Config {
        addr,
        shards,
        cores,
    }) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("kevy-server: could not listen on {addr}: {e}");
            return ExitCode::from(1);
        }
    };
    let local = bound.local_addr().unwrap_or(addr);
    let server = Arc::new(Server::new(Config {
        bind: opts.bind.clone(),
        port: local.port(),
        shards,
    }));
    for (name, value) in &opts.params {
        if let Err(e) = kevy_server::settings::set_at_startup(&server, name, value) {
            eprintln!("kevy-server: {e}");
            return ExitCode::from(2);
        }
    }
    let metrics_port = kevy_server::settings::current("metrics-port")
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or(0);
    let bound = if metrics_port == 0 {
        bound
    } else {
        let at = SocketAddr::new(ip, metrics_port);
        match bound.with_metrics(at) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("kevy-server: could not serve metrics on {at}: {e}");
                return ExitCode::from(1);
            }
        }
    };
    if let Err(e) = kevy_server::acl::startup() {
        eprintln!("kevy-server: {e}");
        return ExitCode::from(1);
    }
    // With appendonly the log alone holds the data, as in Redis. The
    // shards load it while they serve (kevy_server::loading).
    let kevy = if kevy_server::aof::layout().is_some() {
        Kevy::new(server.clone()).with_aof()
    } else {
        match Kevy::new(server.clone()).with_rdb() {
            Ok(k) => k,
            Err(e) => {
                eprintln!("kevy-server: fatal error loading the DB: {e}. Exiting.");
                return ExitCode::from(1);
            }
        }
    };
    let stats = server.rt_stats.clone();
    eprintln!(
        "kevy-server {} pid {}: {} shard(s) on {} core(s), ready to accept connections on {local}",
        env!("CARGO_PKG_VERSION"),
        std::process::id(),
        shards,
        ncores
    );
    match bound.run(Arc::new(kevy), stats) {
        Ok(()) => {
            eprintln!("kevy-server: shutting down");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("kevy-server: fatal: {e}");
            ExitCode::from(1)
        }
    }
}
