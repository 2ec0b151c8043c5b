//! kevy-server started the way redis-server is: a config file (comments,
//! quotes, units, include) with command-line options after it, CONFIG SET
//! and CONFIG REWRITE round trips, and the operational parameters (idle
//! timeout, maxclients, the Unix socket, port 0, daemonize with pidfile,
//! logfile, rename-command) seen from outside the process.

mod common;

use common::{free_port, have_program, kevy_bin, wait_timeout, TempDir};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A kevy-server process, killed on drop; its output goes to `out` in its
/// directory.
struct Proc {
    child: Child,
    dir: PathBuf,
}

impl Proc {
    fn start(dir: &Path, args: &[&str]) -> Proc {
        let out = std::fs::File::create(dir.join("out")).unwrap();
        let child = Command::new(kevy_bin())
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("run kevy-server");
        Proc {
            child,
            dir: dir.to_path_buf(),
        }
    }

    fn output(&self) -> String {
        std::fs::read_to_string(self.dir.join("out")).unwrap_or_default()
    }

    fn wait_tcp(&mut self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!("kevy-server exited ({st}):\n{}", self.output());
            }
            if common::ping(port) {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("kevy-server did not answer on {port}:\n{}", self.output());
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client(port: u16) -> redis::Connection {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .unwrap()
        .get_connection()
        .unwrap()
}

fn config_get(con: &mut redis::Connection, pattern: &str) -> BTreeMap<String, String> {
    let flat: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg(pattern)
        .query(con)
        .unwrap();
    flat.chunks(2)
        .map(|kv| (kv[0].clone(), kv[1].clone()))
        .collect()
}

fn get1(con: &mut redis::Connection, name: &str) -> String {
    config_get(con, name).remove(name).unwrap_or_default()
}

/// Sends a RESP command on a raw stream and reads what comes back until
/// the reply is complete or the peer closes.
fn raw_call<S: Read + Write>(s: &mut S, cmd: &[u8]) -> Vec<u8> {
    s.write_all(cmd).unwrap();
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf).unwrap_or(0);
    buf[..n].to_vec()
}

/// True when the server closed `s` within `within`.
fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    let mut b = [0u8; 64];
    matches!(s.read(&mut b), Ok(0))
}

#[test]
fn file_with_quotes_units_and_include_then_flags_override_it() {
    let dir = TempDir::new("conf-file");
    let port = free_port();
    let inc = dir.path().join("extra.conf");
    std::fs::write(&inc, "# included\nhz 25\ntimeout 7\n").unwrap();
    let conf = dir.path().join("kevy.conf");
    std::fs::write(
        &conf,
        format!(
            "# a comment, then settings as redis.conf writes them\n\
             \n\
             port {port}\n\
             bind 127.0.0.1\n\
             save \"\"\n\
             client-query-buffer-limit 2mb\n\
             \tmaxclients 1000   \n\
             syslog-ident 'my \\'kevy\\''\n\
             unixsocketperm 700\n\
             include {}\n\
             save 900 1\n\
             save 300 10\n\
             # overridden by the command line\n\
             tcp-keepalive 100\n\
             HASH-MAX-ZIPLIST-ENTRIES 64\n\
             loglevel verbose\n",
            inc.display()
        ),
    )
    .unwrap();
    let mut p = Proc::start(
        dir.path(),
        &[
            conf.to_str().unwrap(),
            "--tcp-keepalive",
            "50",
            "--timeout",
            "9",
            "--cores",
            "1",
        ],
    );
    p.wait_tcp(port);
    let mut con = client(port);
    let want = [
        ("port", port.to_string()),
        ("bind", "127.0.0.1".into()),
        ("save", "900 1 300 10".into()),
        ("client-query-buffer-limit", (2 << 20).to_string()),
        ("maxclients", "1000".into()),
        ("syslog-ident", "my 'kevy'".into()),
        ("unixsocketperm", "700".into()),
        ("hz", "25".into()),
        ("timeout", "9".into()),
        ("tcp-keepalive", "50".into()),
        ("hash-max-listpack-entries", "64".into()),
        ("loglevel", "verbose".into()),
    ];
    for (name, value) in want {
        assert_eq!(get1(&mut con, name), value, "{name}\n{}", p.output());
    }
}

#[test]
fn config_errors_are_reported_as_redis_reports_them() {
    let dir = TempDir::new("conf-err");
    let conf = dir.path().join("bad.conf");
    let cases: &[(&str, &[&str], &str)] = &[
        (
            "port 1\n\nnosuch 1\n",
            &[],
            "at line 3\n>>> 'nosuch 1'\nBad directive or wrong number of arguments",
        ),
        (
            "hz 1 2\n",
            &[],
            "at line 1\n>>> 'hz 1 2'\nwrong number of arguments",
        ),
        (
            "timeout \"5\n",
            &[],
            "at line 1\n>>> 'timeout \"5'\nUnbalanced quotes in configuration line",
        ),
        (
            "maxclients 0\n",
            &[],
            "argument must be between 1 and 4294967295 inclusive",
        ),
        (
            "",
            &["--port", "x"],
            "at line 2\n>>> 'port \"x\"'\nargument couldn't be parsed into an integer",
        ),
        (
            "rename-command NOSUCH x\n",
            &[],
            "No such command in rename-command",
        ),
        (
            "cluster-enabled yes\n",
            &[],
            "'cluster-enabled yes' is not supported by kevy",
        ),
        (
            "replicaof 10.0.0.1 6379\n",
            &[],
            "'replicaof 10.0.0.1 6379' is not supported by kevy",
        ),
        (
            "replicaof \"10.0.0.1 6379\"\n",
            &[],
            "is not supported by kevy",
        ),
    ];
    for (text, flags, want) in cases {
        std::fs::write(&conf, text).unwrap();
        let out = Command::new(kevy_bin())
            .arg(&conf)
            .args(*flags)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{text}: {err}");
        assert!(err.contains("*** FATAL CONFIG FILE ERROR (Redis "), "{err}");
        assert!(err.contains(want), "{text:?}: want {want:?} in\n{err}");
    }
    let out = Command::new(kevy_bin())
        .arg(dir.path().join("missing.conf"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Fatal error, can't open config file") && err.contains("missing.conf"),
        "{err}"
    );
}

#[test]
fn config_set_then_rewrite_round_trips_through_a_restart() {
    let dir = TempDir::new("conf-rewrite");
    let port = free_port();
    let conf = dir.path().join("kevy.conf");
    let original = format!(
        "# Operator's notes stay.\nport {port}\nsave 900 1\nsave 300 10\nhz 20\n\
         # keep me too\nrename-command KEYS allkeys\ntimeout 30\n"
    );
    std::fs::write(&conf, &original).unwrap();
    let before;
    {
        let mut p = Proc::start(dir.path(), &[conf.to_str().unwrap(), "--cores", "1"]);
        p.wait_tcp(port);
        let mut con = client(port);
        let ok: String = redis::cmd("CONFIG")
            .arg("SET")
            .arg("hz")
            .arg("10")
            .arg("save")
            .arg("60 5")
            .arg("maxclients")
            .arg("500")
            .arg("notify-keyspace-events")
            .arg("KEA")
            .arg("client-query-buffer-limit")
            .arg("64mb")
            .query(&mut con)
            .unwrap();
        assert_eq!(ok, "OK");
        let ok: String = redis::cmd("CONFIG").arg("REWRITE").query(&mut con).unwrap();
        assert_eq!(ok, "OK");
        before = config_get(&mut con, "*");
        let _: redis::RedisResult<()> = redis::cmd("SHUTDOWN").arg("NOSAVE").query(&mut con);
        assert!(wait_timeout(&mut p.child, Duration::from_secs(10)).is_some());
    }
    let text = std::fs::read_to_string(&conf).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // Comments and order kept; changed lines replaced in place; a line
    // with nothing left to say blanked; new values under the signature.
    assert_eq!(
        &lines[..9],
        &[
            "# Operator's notes stay.",
            &format!("port {port}"),
            "save 60 5",
            "",
            "hz 10",
            "# keep me too",
            "rename-command KEYS allkeys",
            "timeout 30",
            "",
        ],
        "{text}"
    );
    assert_eq!(lines[9], "# Generated by CONFIG REWRITE", "{text}");
    for want in [
        "maxclients 500",
        "client-query-buffer-limit 64mb",
        "cores 1",
        "notify-keyspace-events \"AKE\"",
    ] {
        assert!(lines[10..].contains(&want), "{want} missing:\n{text}");
    }
    let mut p = Proc::start(dir.path(), &[conf.to_str().unwrap()]);
    p.wait_tcp(port);
    let mut con = client(port);
    let after = config_get(&mut con, "*");
    assert_eq!(before, after, "{text}");
    // Without a file there is nothing to rewrite.
    let tmp = TempDir::new("conf-nofile");
    let port2 = free_port();
    let mut q = Proc::start(tmp.path(), &["--port", &port2.to_string(), "--cores", "1"]);
    q.wait_tcp(port2);
    let err = redis::cmd("CONFIG")
        .arg("REWRITE")
        .query::<String>(&mut client(port2))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("The server is running without a config file"),
        "{err}"
    );
}

/// The lines CONFIG REWRITE left for `client-output-buffer-limit`, with
/// the marker comment between the file's own two, in file order.
fn output_limit_lines(conf: &Path) -> Vec<String> {
    std::fs::read_to_string(conf)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("client-output-buffer-limit") || *l == "# between")
        .map(str::to_string)
        .collect()
}

/// `client-output-buffer-limit` through a config file and CONFIG REWRITE,
/// side by side with redis-server: the file's lines (one class each) add
/// up, CONFIG SET changes the classes it names, and the rewrite puts a line
/// per class in place of the file's lines, appending one only for a class
/// off its default; kevy's rewritten file loads back to the same limits.
#[test]
fn output_buffer_limits_load_and_rewrite_as_redis_does() {
    if common::skip_redis_tools() {
        return;
    }
    common::require_program("redis-server");
    let write_conf = |dir: &Path, port: u16| {
        std::fs::write(
            dir.join("s.conf"),
            format!(
                "port {port}\nsave \"\"\nclient-output-buffer-limit slave 1 1 1\n\
                 # between\nclient-output-buffer-limit normal 0 0 0\n\
                 client-output-buffer-limit pubsub 1kb 1000 0\n"
            ),
        )
        .unwrap();
    };
    // Killed on drop, so that a failed assertion leaves no server behind.
    struct Running(Child);
    impl Drop for Running {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let start = |program: &str, dir: &Path, port: u16| -> Running {
        let conf = dir.join("s.conf");
        let out = std::fs::File::create(dir.join("out")).unwrap();
        let child = Command::new(program)
            .arg(&conf)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !common::ping(port) {
            assert!(Instant::now() < deadline, "{program} did not start");
            std::thread::sleep(Duration::from_millis(25));
        }
        Running(child)
    };
    let (rdir, kdir) = (TempDir::new("obuf-redis"), TempDir::new("obuf-kevy"));
    let (rport, kport) = (free_port(), free_port());
    write_conf(rdir.path(), rport);
    write_conf(kdir.path(), kport);
    let _redis_proc = start("redis-server", rdir.path(), rport);
    let mut kevy_proc = start(kevy_bin(), kdir.path(), kport);
    let (mut r, mut k) = (client(rport), client(kport));
    let name = "client-output-buffer-limit";
    assert_eq!(get1(&mut k, name), get1(&mut r, name));
    for value in [
        "pubsub 1mb 3000 5 normal 4gb 1 0",
        "pubsub 32mb 8mb 60 normal 0 0 0 replica 256mb 64mb 60",
        "replica 1gb 1kb 7",
    ] {
        for con in [&mut r, &mut k] {
            let ok: String = redis::cmd("CONFIG")
                .arg("SET")
                .arg(name)
                .arg(value)
                .query(con)
                .unwrap();
            assert_eq!(ok, "OK");
            let ok: String = redis::cmd("CONFIG").arg("REWRITE").query(con).unwrap();
            assert_eq!(ok, "OK");
        }
        assert_eq!(get1(&mut k, name), get1(&mut r, name), "after {value}");
        assert_eq!(
            output_limit_lines(&kdir.path().join("s.conf")),
            output_limit_lines(&rdir.path().join("s.conf")),
            "after {value}"
        );
    }
    let before = get1(&mut k, name);
    let _: redis::RedisResult<()> = redis::cmd("SHUTDOWN").arg("NOSAVE").query(&mut k);
    assert!(wait_timeout(&mut kevy_proc.0, Duration::from_secs(10)).is_some());
    let _again = start(kevy_bin(), kdir.path(), kport);
    assert_eq!(get1(&mut client(kport), name), before);
}

#[test]
fn idle_clients_are_closed_after_timeout_but_not_subscribers() {
    let dir = TempDir::new("conf-timeout");
    let port = free_port();
    let mut p = Proc::start(
        dir.path(),
        &[
            "--port",
            &port.to_string(),
            "--cores",
            "2",
            "--timeout",
            "1",
            "--loglevel",
            "verbose",
        ],
    );
    p.wait_tcp(port);
    let mut idle = TcpStream::connect(("127.0.0.1", port)).unwrap();
    assert_eq!(raw_call(&mut idle, b"*1\r\n$4\r\nPING\r\n"), b"+PONG\r\n");
    let mut sub = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let r = raw_call(&mut sub, b"*2\r\n$9\r\nSUBSCRIBE\r\n$2\r\nch\r\n");
    assert!(r.starts_with(b"*3\r\n"), "{}", String::from_utf8_lossy(&r));
    // A busy client is not idle: PING every half second for two seconds.
    let mut busy = TcpStream::connect(("127.0.0.1", port)).unwrap();
    for _ in 0..4 {
        assert_eq!(raw_call(&mut busy, b"*1\r\n$4\r\nPING\r\n"), b"+PONG\r\n");
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(closed_within(&mut idle, Duration::from_secs(3)));
    let log = p.output();
    assert!(log.contains(" - Closing idle client"), "{log}");
    assert!(log.contains(" - Accepted 127.0.0.1:"), "{log}");
    assert!(log.contains(" - Client closed connection id="), "{log}");
    assert_eq!(raw_call(&mut busy, b"*1\r\n$4\r\nPING\r\n"), b"+PONG\r\n");
    sub.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut b = [0u8; 16];
    assert!(
        matches!(sub.read(&mut b), Err(ref e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the subscriber stays connected"
    );
    // CONFIG SET timeout 0 takes effect on every shard.
    let mut con = client(port);
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("timeout")
        .arg("0")
        .query(&mut con)
        .unwrap();
    let mut idle2 = TcpStream::connect(("127.0.0.1", port)).unwrap();
    assert_eq!(raw_call(&mut idle2, b"*1\r\n$4\r\nPING\r\n"), b"+PONG\r\n");
    assert!(!closed_within(&mut idle2, Duration::from_millis(2500)));
}

#[test]
fn maxclients_refuses_past_the_limit_across_shards_and_follows_config_set() {
    let dir = TempDir::new("conf-maxclients");
    let port = free_port();
    let mut p = Proc::start(
        dir.path(),
        &[
            "--port",
            &port.to_string(),
            "--cores",
            "2",
            "--maxclients",
            "3",
        ],
    );
    p.wait_tcp(port);
    // The readiness probe's connection counts until its shard sees it
    // close, which a shard starved of its core may see late: the first
    // of the three waits until it is the only one.
    let mut first = client(port);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info: String = redis::cmd("INFO").arg("clients").query(&mut first).unwrap();
        if info.contains("\r\nconnected_clients:1\r\n") {
            break;
        }
        assert!(Instant::now() < deadline, "{info}");
        std::thread::sleep(Duration::from_millis(10));
    }
    let _held: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            assert_eq!(raw_call(&mut s, b"*1\r\n$4\r\nPING\r\n"), b"+PONG\r\n");
            s
        })
        .collect();
    let mut extra = TcpStream::connect(("127.0.0.1", port)).unwrap();
    extra
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut got = Vec::new();
    let _ = extra.read_to_end(&mut got);
    assert_eq!(got, b"-ERR max number of clients reached\r\n");
    let () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxclients")
        .arg("10")
        .query(&mut first)
        .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let mut now_ok = TcpStream::connect(("127.0.0.1", port)).unwrap();
    assert_eq!(raw_call(&mut now_ok, b"*1\r\n$4\r\nPING\r\n"), b"+PONG\r\n");
    let mut con = client(port);
    let info: String = redis::cmd("INFO").arg("stats").query(&mut con).unwrap();
    assert!(info.contains("rejected_connections:1"), "{info}");
}

#[test]
fn unix_socket_serves_redis_cli_and_port_0_listens_on_no_tcp() {
    let dir = TempDir::new("conf-unix");
    let sock = dir.path().join("kevy.sock");
    let mut p = Proc::start(
        dir.path(),
        &[
            "--port",
            "0",
            "--unixsocket",
            sock.to_str().unwrap(),
            "--unixsocketperm",
            "700",
            "--cores",
            "2",
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut s = loop {
        if let Ok(s) = UnixStream::connect(&sock) {
            break s;
        }
        assert!(Instant::now() < deadline, "{}", p.output());
        if let Ok(Some(st)) = p.child.try_wait() {
            panic!("exited {st}: {}", p.output());
        }
        std::thread::sleep(Duration::from_millis(25));
    };
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
    assert_eq!(raw_call(&mut s, b"*1\r\n$4\r\nPING\r\n"), b"+PONG\r\n");
    // Several connections spread over the shards, all served.
    for i in 0..8 {
        let mut c = UnixStream::connect(&sock).unwrap();
        let set = format!("*3\r\n$3\r\nSET\r\n$2\r\nk{i}\r\n$1\r\n{i}\r\n");
        assert_eq!(raw_call(&mut c, set.as_bytes()), b"+OK\r\n");
    }
    let r = raw_call(&mut s, b"*1\r\n$6\r\nDBSIZE\r\n");
    assert_eq!(r, b":8\r\n");
    // CLIENT INFO names the socket and flags the client as Redis does.
    let info = String::from_utf8_lossy(&raw_call(&mut s, b"*2\r\n$6\r\nCLIENT\r\n$4\r\nINFO\r\n"))
        .into_owned();
    let path = sock.to_str().unwrap();
    assert!(
        info.contains(&format!(" addr={path}:0 laddr={path}:0 ")) && info.contains(" flags=U "),
        "{info}"
    );
    let r = raw_call(&mut s, b"*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$4\r\nport\r\n");
    assert_eq!(r, b"*2\r\n$4\r\nport\r\n$1\r\n0\r\n");
    if have_program("redis-cli") {
        let out = Command::new("redis-cli")
            .args(["-s", sock.to_str().unwrap(), "GET", "k5"])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "5\n");
    }
    // Port 0: nothing listens on 6379 on kevy's behalf; the process has no
    // TCP listening socket at all.
    let pid = p.child.id();
    let tcp = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default()
        + &std::fs::read_to_string("/proc/net/tcp6").unwrap_or_default();
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            l.strip_prefix("socket:[")
                .and_then(|r| r.strip_suffix(']'))
                .map(str::to_string)
        })
        .collect();
    for line in tcp.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        // State 0A is LISTEN; field 9 is the inode.
        if f.len() > 9 && f[3] == "0A" {
            assert!(
                !inodes.contains(&f[9].to_string()),
                "a TCP listener: {line}"
            );
        }
    }
    // No listener at all is refused, as Redis refuses it.
    let out = Command::new(kevy_bin())
        .args(["--port", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains("Configured to not listen anywhere, exiting."));
}

#[test]
fn daemonize_writes_the_pidfile_and_logfile_in_redis_format() {
    let dir = TempDir::new("conf-daemon");
    let port = free_port();
    let pidfile = dir.path().join("kevy.pid");
    let logfile = dir.path().join("kevy.log");
    let status = Command::new(kevy_bin())
        .args([
            "--port",
            &port.to_string(),
            "--cores",
            "1",
            "--daemonize",
            "yes",
            "--pidfile",
            pidfile.to_str().unwrap(),
            "--logfile",
            logfile.to_str().unwrap(),
            "--dir",
            dir.path().to_str().unwrap(),
        ])
        .stdin(Stdio::null())
        .status()
        .unwrap();
    // The parent returns at once; the daemon serves.
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !common::ping(port) {
        assert!(Instant::now() < deadline, "daemon did not come up");
        std::thread::sleep(Duration::from_millis(25));
    }
    let pid: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut con = client(port);
    let info: String = redis::cmd("INFO").arg("server").query(&mut con).unwrap();
    assert!(info.contains(&format!("process_id:{pid}")), "{info}");
    let _: redis::RedisResult<()> = redis::cmd("SHUTDOWN").arg("NOSAVE").query(&mut con);
    let deadline = Instant::now() + Duration::from_secs(10);
    while Path::new(&format!("/proc/{pid}")).exists() {
        assert!(Instant::now() < deadline, "daemon did not exit");
        std::thread::sleep(Duration::from_millis(25));
    }
    assert!(!pidfile.exists(), "the pid file is removed on exit");
    let log = std::fs::read_to_string(&logfile).unwrap();
    // pid:M dd Mon yyyy hh:mm:ss.mmm L message
    for line in log.lines() {
        let (head, rest) = line.split_once(' ').unwrap();
        assert_eq!(head, format!("{pid}:M"), "{line}");
        let f: Vec<&str> = rest.splitn(6, ' ').collect();
        assert_eq!(f.len(), 6, "{line}");
        assert!(
            f[0].len() == 2 && f[0].bytes().all(|b| b.is_ascii_digit()),
            "{line}"
        );
        assert_eq!(f[1].len(), 3, "{line}");
        assert_eq!(f[2].len(), 4, "{line}");
        assert_eq!(f[3].len(), 12, "{line}");
        assert!(matches!(f[4], "." | "-" | "*" | "#"), "{line}");
    }
    for want in [
        "# oO0OoO0OoO0Oo kevy is starting oO0OoO0OoO0Oo",
        &format!("pid={pid}, just started"),
        &format!("* Running mode=standalone, port={port}, shards=1, cores=1."),
        "* Ready to accept connections tcp",
        "# User requested shutdown...",
        "* Removing the pid file.",
    ] {
        assert!(log.contains(want), "{want:?} missing from the log:\n{log}");
    }
}

#[test]
fn rename_command_renames_and_disables() {
    let dir = TempDir::new("conf-rename");
    let port = free_port();
    let conf = dir.path().join("kevy.conf");
    let long = "b840fc02d524045429941cc15f59e41cb7be6c52";
    std::fs::write(
        &conf,
        format!(
            "port {port}\nrename-command SET put\nrename-command FLUSHALL \"\"\n\
             rename-command CONFIG {long}\nrename-command SHUTDOWN \"\"\n"
        ),
    )
    .unwrap();
    let mut p = Proc::start(dir.path(), &[conf.to_str().unwrap(), "--cores", "2"]);
    p.wait_tcp(port);
    let mut con = client(port);
    let ok: String = redis::cmd("PUT").arg("k").arg("v").query(&mut con).unwrap();
    assert_eq!(ok, "OK");
    let v: String = redis::cmd("GET").arg("k").query(&mut con).unwrap();
    assert_eq!(v, "v");
    for cmd in ["SET", "FLUSHALL", "CONFIG", "SHUTDOWN"] {
        let err = redis::cmd(cmd)
            .arg("x")
            .arg("y")
            .query::<String>(&mut con)
            .unwrap_err();
        assert!(err.to_string().contains("unknown command"), "{cmd}: {err}");
    }
    let hz: Vec<String> = redis::cmd(long)
        .arg("GET")
        .arg("hz")
        .query(&mut con)
        .unwrap();
    assert_eq!(hz, vec!["hz", "10"]);
    // The server's own SHUTDOWN on SIGTERM still runs.
    let st = Command::new("kill")
        .args(["-TERM", &p.child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let exit = wait_timeout(&mut p.child, Duration::from_secs(10));
    assert!(
        exit.is_some_and(|s| s.success()),
        "{exit:?}\n{}",
        p.output()
    );
}

#[test]
fn several_bind_addresses_with_optional_ones_and_databases() {
    let dir = TempDir::new("conf-bind");
    let port = free_port();
    // 192.0.2.1 (TEST-NET-1) is on no interface: optional, it is skipped.
    let bind = "127.0.0.1 -::1 -192.0.2.1";
    let mut p = Proc::start(
        dir.path(),
        &[
            "--port",
            &port.to_string(),
            "--bind",
            bind,
            "--databases",
            "4",
            "--cores",
            "2",
        ],
    );
    p.wait_tcp(port);
    let mut con = client(port);
    assert_eq!(get1(&mut con, "bind"), bind);
    assert_eq!(get1(&mut con, "databases"), "4");
    let ok: String = redis::cmd("SELECT").arg(3).query(&mut con).unwrap();
    assert_eq!(ok, "OK");
    let err = redis::cmd("SELECT")
        .arg(4)
        .query::<String>(&mut con)
        .unwrap_err();
    assert!(
        err.to_string().contains("DB index is out of range"),
        "{err}"
    );
    if std::net::TcpListener::bind("[::1]:0").is_ok() {
        let mut s = TcpStream::connect(("::1", port)).unwrap();
        assert_eq!(raw_call(&mut s, b"*1\r\n$4\r\nPING\r\n"), b"+PONG\r\n");
    }
    // The same address without `-` is an error, as in Redis.
    let out = Command::new(kevy_bin())
        .args([
            "--port",
            &free_port().to_string(),
            "--bind",
            "127.0.0.1 192.0.2.1",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(
        log.contains("192.0.2.1") && log.contains("aborting"),
        "{log}"
    );
}

/// The kernel's view of the server's side of a connection from
/// `client_port`: its `/proc/net/tcp` timer field (`02`: keep-alive).
fn server_side_timer(server_port: u16, client_port: u16) -> Option<String> {
    let tcp = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let local = format!(":{server_port:04X}");
    let remote = format!(":{client_port:04X}");
    tcp.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        (f.len() > 5 && f[1].ends_with(&local) && f[2].ends_with(&remote))
            .then(|| f[5].split(':').next().unwrap_or("").to_string())
    })
}

#[test]
fn tcp_keepalive_is_set_on_accepted_sockets_and_follows_config_set() {
    let dir = TempDir::new("conf-keepalive");
    let port = free_port();
    let mut p = Proc::start(
        dir.path(),
        &[
            "--port",
            &port.to_string(),
            "--cores",
            "1",
            "--tcp-keepalive",
            "100",
        ],
    );
    p.wait_tcp(port);
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    assert_eq!(raw_call(&mut s, b"*1\r\n$4\r\nPING\r\n"), b"+PONG\r\n");
    let me = s.local_addr().unwrap().port();
    assert_eq!(server_side_timer(port, me).as_deref(), Some("02"));
    let r = raw_call(
        &mut s,
        b"*4\r\n$6\r\nCONFIG\r\n$3\r\nSET\r\n$13\r\ntcp-keepalive\r\n$1\r\n0\r\n",
    );
    assert_eq!(r, b"+OK\r\n");
    let mut t = TcpStream::connect(("127.0.0.1", port)).unwrap();
    assert_eq!(raw_call(&mut t, b"*1\r\n$4\r\nPING\r\n"), b"+PONG\r\n");
    let me = t.local_addr().unwrap().port();
    assert_eq!(server_side_timer(port, me).as_deref(), Some("00"));
}

#[test]
fn loglevel_filters_the_log_and_changes_live() {
    let dir = TempDir::new("conf-loglevel");
    let port = free_port();
    let logfile = dir.path().join("k.log");
    let mut p = Proc::start(
        dir.path(),
        &[
            "--port",
            &port.to_string(),
            "--cores",
            "1",
            "--loglevel",
            "warning",
            "--logfile",
            logfile.to_str().unwrap(),
        ],
    );
    p.wait_tcp(port);
    let mut con = client(port);
    let _: String = redis::cmd("BGSAVE").query(&mut con).unwrap();
    let read = || std::fs::read_to_string(&logfile).unwrap_or_default();
    std::thread::sleep(Duration::from_millis(500));
    let log = read();
    assert!(log.contains("# Server initialized"), "{log}");
    assert!(!log.contains(" * "), "no notice lines at warning:\n{log}");
    let _: String = redis::cmd("CONFIG")
        .arg("SET")
        .arg("loglevel")
        .arg("notice")
        .query(&mut con)
        .unwrap();
    let _: String = redis::cmd("BGSAVE").query(&mut con).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !read().contains("* Background saving terminated with success") {
        assert!(Instant::now() < deadline, "{}", read());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(read().contains("* Background saving started"));
}

#[test]
fn configuration_on_standard_input() {
    let dir = TempDir::new("conf-stdin");
    let port = free_port();
    let mut child = Command::new(kevy_bin())
        .args(["-", "--cores", "1", "--save", ""])
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input
        .write_all(format!("port {port}\nhz 33\n").as_bytes())
        .unwrap();
    drop(input);
    let mut p = Proc {
        child,
        dir: dir.path().to_path_buf(),
    };
    p.wait_tcp(port);
    assert_eq!(get1(&mut client(port), "hz"), "33");
}

#[test]
fn supervised_systemd_signals_readiness() {
    let dir = TempDir::new("conf-systemd");
    let notify = dir.path().join("notify");
    let sock = std::os::unix::net::UnixDatagram::bind(&notify).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let port = free_port();
    let out = std::fs::File::create(dir.path().join("out")).unwrap();
    let child = Command::new(kevy_bin())
        .args([
            "--port",
            &port.to_string(),
            "--cores",
            "1",
            "--supervised",
            "systemd",
        ])
        .env("NOTIFY_SOCKET", &notify)
        .current_dir(dir.path())
        .stdout(out)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let p = Proc {
        child,
        dir: dir.path().to_path_buf(),
    };
    let mut buf = [0u8; 256];
    let n = sock.recv(&mut buf).expect("a readiness message");
    let msg = String::from_utf8_lossy(&buf[..n]);
    assert!(msg.contains("READY=1"), "{msg}");
    // Ready means ready: the port answers at once.
    assert!(common::ping(port), "{}", p.output());
}

/// The CPUs thread `tid` of process `pid` may run on, from /proc.
fn allowed_cpus(pid: u32, tid: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap()
        .trim()
        .to_string()
}

/// The allowed-CPU lists of the shard threads (`kevy-shard-N`) of `pid`.
fn shard_cpus(pid: u32) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let tid = e.unwrap().file_name().into_string().unwrap();
        let comm =
            std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/comm")).unwrap_or_default();
        if comm.trim().starts_with("kevy-shard-") {
            out.push(allowed_cpus(pid, &tid));
        }
    }
    out.sort();
    out
}

#[test]
fn server_cpulist_sets_every_shard_threads_cpus() {
    let cpus = kevy_sys::affinity::available_cores();
    let last = *cpus.last().unwrap();
    let dir = TempDir::new("kevy-cpulist");
    // One CPU named: both shards may run only there (Redis's mask, not
    // one core each).
    let port = free_port();
    let list = last.to_string();
    let mut p = Proc::start(
        dir.path(),
        &[
            "--port",
            &port.to_string(),
            "--cores",
            "2",
            "--save",
            "",
            "--server_cpulist",
            &list,
        ],
    );
    p.wait_tcp(port);
    assert_eq!(shard_cpus(p.child.id()), vec![list.clone(), list.clone()]);
    let mut con = client(port);
    assert_eq!(get1(&mut con, "server_cpulist"), list);
    drop(p);
    // Without it, on a machine with a core per shard, each shard is pinned
    // to a core of its own.
    if cpus.len() >= 2 {
        let port = free_port();
        let mut p = Proc::start(
            dir.path(),
            &["--port", &port.to_string(), "--cores", "2", "--save", ""],
        );
        p.wait_tcp(port);
        let mut want = vec![cpus[0].to_string(), cpus[1].to_string()];
        want.sort();
        assert_eq!(shard_cpus(p.child.id()), want);
    }
    // Malformed: left alone, with a warning, as Redis leaves it.
    let port = free_port();
    let mut p = Proc::start(
        dir.path(),
        &[
            "--port",
            &port.to_string(),
            "--cores",
            "1",
            "--save",
            "",
            "--server_cpulist",
            "3-1",
        ],
    );
    p.wait_tcp(port);
    assert!(
        p.output().contains("Invalid server_cpulist"),
        "{}",
        p.output()
    );
}
