//! The `kevy-server` binary: reads the configuration (a redis.conf-style
//! file and `--name value` options, as redis-server takes them), binds,
//! runs the reactors until SIGINT or SIGTERM.
#![forbid(unsafe_code)]

use kevy_server::conf::{self, Fatal};
use kevy_server::settings::{self, Loaded};
use kevy_server::{log, Config, Kevy, Server};

// The allocator (jemalloc, configured as Redis runs it) is installed by
// kevy-sys; see kevy_sys::alloc.
use kevy_sys as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

const USAGE: &str = "\
Usage: kevy-server [/path/to/kevy.conf] [options]

A Redis-compatible key-value server: one pinned thread per core.

The configuration file uses redis.conf's syntax; options given on the
command line are applied after it, so they win. Every parameter is also an
option:
  --port <PORT>     TCP port to listen on (default: 6379; 0: no TCP)
  --bind <ADDR...>  addresses to listen on (default: 127.0.0.1)
  --cores <N>       cores to run on, one shard each (default: all available)
  --shards <N>      shards (reactor threads), when different from --cores;
                    shards beyond the core count share cores
  --metrics-port <PORT>
                    serve Prometheus metrics at http://<bind>:<PORT>/metrics
                    (default: off)
  --<name> <value>  any configuration parameter, as redis-server takes it
                    (--hz 20, --save '60 1', --unixsocket /tmp/kevy.sock)
  -h, --help        print this help
  -v, --version     print the version
";

/// Where a daemonized server writes its pid when `pidfile` is not set.
const DEFAULT_PIDFILE: &str = "/var/run/kevy.pid";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("-h" | "--help") => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some("-v" | "--version") => {
            println!(
                "kevy-server v={} (Redis-compatible, protocol 7.0)",
                env!("CARGO_PKG_VERSION")
            );
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    // The first argument names the config file unless it is an option.
    let (file, rest) = match args.first() {
        Some(a) if !a.starts_with('-') => (Some(conf::absolute(Path::new(a))), &args[1..]),
        _ => (None, &args[..]),
    };
    let mut loaded = Loaded::default();
    if let Err(f) = read_config(file.as_deref(), rest, &mut loaded) {
        eprint!("{}", f.message());
        return ExitCode::from(1);
    }
    settings::set_config_file(file.clone());
    let get = |n: &str| settings::current(n).unwrap_or_default();
    let num = |n: &str| get(n).parse::<u64>().unwrap_or(0);
    let daemonize = get("daemonize") == "yes";
    if daemonize {
        if let Err(e) = kevy_sys::process::daemonize() {
            eprintln!("kevy-server: cannot go to the background: {e}");
            return ExitCode::from(1);
        }
    }
    settings::apply_startup();
    log!(Warning, "oO0OoO0OoO0Oo kevy is starting oO0OoO0OoO0Oo");
    log!(
        Warning,
        "kevy version={}, Redis version={}, bits={}, pid={}, just started",
        env!("CARGO_PKG_VERSION"),
        kevy_server::families::common::REDIS_VERSION,
        usize::BITS,
        std::process::id()
    );
    match &file {
        Some(_) => log!(Warning, "Configuration loaded"),
        None => log!(
            Warning,
            "Warning: no config file specified, using the default config. In order to specify a config file use kevy-server /path/to/kevy.conf"
        ),
    }
    let mut pidfile = get("pidfile");
    if daemonize && pidfile.is_empty() {
        pidfile = DEFAULT_PIDFILE.to_string();
    }
    if !pidfile.is_empty() {
        if let Err(e) = std::fs::write(&pidfile, format!("{}\n", std::process::id())) {
            log!(Warning, "Failed to write PID file: {}", conf::os_reason(&e));
        }
    }
    let code = run(&loaded, &get, &num);
    if !pidfile.is_empty() {
        log!(Notice, "Removing the pid file.");
        let _ = std::fs::remove_file(&pidfile);
    }
    code
}

/// Reads the file and the options into the settings, as redis-server's
/// `loadServerConfig` does.
fn read_config(file: Option<&Path>, rest: &[String], loaded: &mut Loaded) -> Result<(), Fatal> {
    let options = conf::options_from_args(rest);
    // `-` first or last: more configuration on standard input.
    let from_stdin =
        rest.first().is_some_and(|a| a == "-") || rest.last().is_some_and(|a| a == "-");
    let stdin = if from_stdin {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map_err(|e| {
            Fatal::Open {
                path: "-".into(),
                why: conf::os_reason(&e),
            }
        })?;
        Some(text)
    } else {
        None
    };
    let directives = conf::load(file, stdin.as_deref(), &options)?;
    for d in &directives {
        settings::load_directive(d, loaded).map_err(|why| Fatal::at(d, why))?;
    }
    Ok(())
}

fn run(loaded: &Loaded, get: &dyn Fn(&str) -> String, num: &dyn Fn(&str) -> u64) -> ExitCode {
    kevy_server::server::set_databases(num("databases") as usize);
    let available = kevy_sys::affinity::available_cores();
    let ncores = match num("cores") as usize {
        0 => available.len().max(1),
        n => n,
    };
    let shards = match num("shards") as usize {
        0 => ncores,
        n => n,
    };
    // Pin to the first `ncores` usable cores when they exist; a machine
    // with fewer cores than asked runs unpinned rather than doubling up.
    let cores: Vec<usize> = if available.len() >= ncores {
        available[..ncores].to_vec()
    } else {
        Vec::new()
    };
    // Redis's `server_cpulist`: every shard thread may run on these CPUs.
    // Malformed, it leaves the threads as they are, as Redis does.
    let cpulist = get("server_cpulist");
    let cpu_mask = settings::parse_cpulist(&cpulist).unwrap_or_default();
    if !cpulist.is_empty() && cpu_mask.is_empty() {
        log!(
            Warning,
            "Invalid server_cpulist '{cpulist}': shard threads are not pinned"
        );
    }
    adjust_open_files_limit(shards);
    let limits = Arc::new(kevy_rt::Limits::new(settings::limit_values()));
    // rename-command is part of reading the configuration, as in Redis: a
    // bad one is reported before anything listens (and whatever holds the
    // port cannot hide it behind a bind error).
    let mut renamed = kevy_server::table::Table::new();
    for d in &loaded.renames {
        if let Err(why) = renamed.rename(&d.args[1], &d.args[2]) {
            eprint!("{}", Fatal::at(d, why).message());
            return ExitCode::from(1);
        }
    }
    drop(renamed);
    let port = num("port") as u16;
    let bind = get("bind");
    let listen = if port == 0 {
        Vec::new()
    } else {
        settings::parse_bind(&bind, port).unwrap_or_default()
    };
    let unixsocket = get("unixsocket");
    let unix = (!unixsocket.is_empty()).then(|| {
        let perm = u32::from_str_radix(&get("unixsocketperm"), 8).unwrap_or(0);
        (PathBuf::from(&unixsocket), perm)
    });
    if listen.is_empty() && unix.is_none() {
        log!(Warning, "Configured to not listen anywhere, exiting.");
        return ExitCode::from(1);
    }
    let backlog = num("tcp-backlog").min(i32::MAX as u64) as i32;
    let bound = match kevy_rt::bind(kevy_rt::Config {
        listen,
        unix,
        backlog,
        shards,
        cores: if cpu_mask.is_empty() {
            cores
        } else {
            Vec::new()
        },
        cpu_mask,
        limits: limits.clone(),
    }) {
        Ok(b) => b,
        Err(e) => {
            let why = conf::os_reason(&e);
            match why.strip_prefix(&format!("{unixsocket}: ")) {
                Some(rest) if !unixsocket.is_empty() => {
                    log!(Warning, "Failed opening Unix socket: {rest}");
                }
                _ => {
                    log!(
                        Warning,
                        "Warning: Could not create server TCP listening socket {why}"
                    );
                    log!(Warning, "Failed listening on port {port} (TCP), aborting.");
                }
            }
            return ExitCode::from(1);
        }
    };
    let local_port = bound.local_addr().map_or(port, |a| a.port());
    let mut server = Server::new(Config {
        bind,
        port: local_port,
        shards,
    });
    server.limits = limits;
    for d in &loaded.renames {
        // Checked above on a table of the same commands.
        let _ = server.table.rename(&d.args[1], &d.args[2]);
    }
    let server = Arc::new(server);
    settings::apply_all(&server);
    log!(
        Notice,
        "Running mode=standalone, port={local_port}, shards={shards}, cores={ncores}."
    );
    warn_about_the_system(backlog);
    log!(Warning, "Server initialized");
    if let Err(e) = kevy_server::acl::startup() {
        log!(Warning, "{e}");
        return ExitCode::from(1);
    }
    let metrics_port = num("metrics-port") as u16;
    let bound = if metrics_port == 0 {
        bound
    } else {
        // On the first address the server listens on (loopback with only
        // a Unix socket).
        let ip = bound
            .local_addrs()
            .first()
            .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |a| a.ip());
        let at = SocketAddr::new(ip, metrics_port);
        match bound.with_metrics(at) {
            Ok(b) => b,
            Err(e) => {
                log!(Warning, "Could not serve metrics on {at}: {e}");
                return ExitCode::from(1);
            }
        }
    };
    // With appendonly the log alone holds the data, as in Redis. The
    // shards load it while they serve (kevy_server::loading).
    let kevy = if kevy_server::aof::layout().is_some() {
        Kevy::new(server.clone()).with_aof()
    } else {
        match Kevy::new(server.clone()).with_rdb() {
            Ok(k) => k,
            Err(e) => {
                log!(Warning, "Fatal error loading the DB: {e}. Exiting.");
                return ExitCode::from(1);
            }
        }
    };
    let stats = server.rt_stats.clone();
    if !bound.local_addrs().is_empty() {
        log!(Notice, "Ready to accept connections tcp");
    }
    if !get("unixsocket").is_empty() {
        log!(Notice, "Ready to accept connections unix");
    }
    if matches!(get("supervised").as_str(), "systemd" | "auto") {
        notify_systemd();
    }
    match bound.run(Arc::new(kevy), stats) {
        Ok(()) => {
            log!(Warning, "kevy is now ready to exit, bye bye...");
            ExitCode::SUCCESS
        }
        Err(e) => {
            log!(Warning, "Fatal: {e}");
            ExitCode::from(1)
        }
    }
}

/// Redis's `adjustOpenFilesLimit`: room for `maxclients` connections plus
/// the server's own files, lowering `maxclients` when the system refuses.
fn adjust_open_files_limit(shards: usize) {
    let Some(maxclients) = settings::current("maxclients").and_then(|v| v.parse::<u64>().ok())
    else {
        return;
    };
    let reserved = settings::reserved_fds(shards);
    let want = maxclients + reserved;
    let got = match kevy_sys::process::raise_open_files_limit(want) {
        Ok(n) => n,
        Err(_) => kevy_sys::process::open_files_limit().map_or(want, |(cur, _)| cur),
    };
    if got >= want {
        return;
    }
    let allowed = got.saturating_sub(reserved).max(1);
    log!(
        Warning,
        "You requested maxclients of {maxclients} requiring at least {want} max file descriptors."
    );
    log!(
        Warning,
        "Server can't set maximum open files to {want} because of OS error: Operation not permitted."
    );
    log!(
        Warning,
        "Current maximum open files is {got}. maxclients has been reduced to {allowed} to compensate for low ulimit. If you need higher maxclients increase 'ulimit -n'."
    );
    let _ = settings::set_value("maxclients", &allowed.to_string());
}

/// `supervised systemd`: tells systemd the service is ready, as Redis's
/// `redisCommunicateSystemd` does, through the datagram socket named in
/// `NOTIFY_SOCKET` (a path, or an abstract name after `@`).
fn notify_systemd() {
    use std::os::linux::net::SocketAddrExt;
    let Some(target) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let target = target.to_string_lossy().into_owned();
    log!(Notice, "supervised by systemd, will signal readiness");
    let addr = match target.strip_prefix('@') {
        Some(name) => std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()),
        None => std::os::unix::net::SocketAddr::from_pathname(&target),
    };
    let sent = addr.and_then(|addr| {
        let sock = std::os::unix::net::UnixDatagram::unbound()?;
        sock.send_to_addr(b"STATUS=Ready to accept connections\nREADY=1\n", &addr)
    });
    if let Err(e) = sent {
        log!(
            Warning,
            "systemd supervision error: {}",
            conf::os_reason(&e)
        );
    }
}

/// The kernel settings Redis warns about at start-up.
fn warn_about_the_system(backlog: i32) {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .ok()
            .map(|s| s.trim().to_string())
    };
    if let Some(max) = read("/proc/sys/net/core/somaxconn").and_then(|v| v.parse::<i32>().ok()) {
        if max < backlog {
            log!(
                Warning,
                "WARNING: The TCP backlog setting of {backlog} cannot be enforced because /proc/sys/net/core/somaxconn is set to the lower value of {max}."
            );
        }
    }
    if read("/proc/sys/vm/overcommit_memory").is_some_and(|v| v != "1") {
        log!(
            Warning,
            "WARNING Memory overcommit must be enabled! Without it, a background save or replication may fail under low memory condition. Being disabled, it can can also cause failures without low memory condition, see https://github.com/jemalloc/jemalloc/issues/1328. To fix this issue add 'vm.overcommit_memory = 1' to /etc/sysctl.conf and then reboot or run the command 'sysctl vm.overcommit_memory=1' for this to take effect."
        );
    }
}
