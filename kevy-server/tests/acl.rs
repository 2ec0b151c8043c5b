//! Access control end to end: `requirepass` and `--user` flags, real
//! clients (the `redis` crate, `redis-cli -a`, `--user`/`--pass`), rule
//! changes reaching connections on every shard at their next command,
//! deleted users' connections closed, the ACL file saved and loaded, the
//! ACL log, and protected mode seen from another network namespace.

mod common;

use common::resp::{Conn, Value};
use common::{Server, TempDir};
use std::process::Command;
use std::time::Duration;

fn conn(port: u16) -> Conn {
    Conn::connect(port).expect("connect")
}

fn call(c: &mut Conn, args: &[&str]) -> Value {
    c.call(args).expect("reply")
}

fn text(v: &Value) -> String {
    String::from_utf8_lossy(v.bytes().expect("bulk, simple or error reply")).into_owned()
}

fn client(url: &str) -> redis::Connection {
    redis::Client::open(url)
        .expect("url")
        .get_connection()
        .expect("connect")
}

fn redis_cli(port: u16, extra: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(extra)
        .output()
        .expect("run redis-cli");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Whether the server closes `c` (EOF while reading) before it has been
/// quiet for 10 s. A close that comes is seen at once; the wait is long
/// because a shard of a loaded machine may take its time to close its
/// connections, and only a connection left open costs all of it.
fn closed(c: &mut Conn) -> bool {
    let (_, eof) = c.read_until_quiet(Duration::from_secs(10));
    eof
}

#[test]
fn requirepass_and_real_clients() {
    let server = Server::kevy(&["--cores", "2", "--requirepass", "s3cret"]);
    let port = server.port;
    let url = |auth: &str| format!("redis://{auth}127.0.0.1:{port}/");

    let mut anon = client(&url(""));
    let err = redis::cmd("GET")
        .arg("k")
        .query::<Option<String>>(&mut anon)
        .unwrap_err();
    assert_eq!(err.code(), Some("NOAUTH"), "{err}");
    // EXEC refused is an EXECABORT, as Redis's rejectCommand answers.
    let mut raw = Conn::connect(port).expect("connect");
    let exec = raw.call(&["EXEC"]).expect("a reply");
    assert_eq!(
        exec.bytes(),
        Some(&b"EXECABORT Transaction discarded because of: NOAUTH Authentication required."[..]),
        "{exec:?}"
    );

    let mut c = client(&url(":s3cret@"));
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut c).unwrap();
    let v: String = redis::cmd("GET").arg("k").query(&mut c).unwrap();
    assert_eq!(v, "v");
    let who: String = redis::cmd("ACL").arg("WHOAMI").query(&mut c).unwrap();
    assert_eq!(who, "default");
    assert!(redis::Client::open(url(":wrong@"))
        .unwrap()
        .get_connection()
        .is_err());

    if common::have_program("redis-cli") {
        assert_eq!(
            redis_cli(port, &["--no-auth-warning", "-a", "s3cret", "GET", "k"]),
            "v"
        );
        assert!(redis_cli(port, &["GET", "k"]).contains("NOAUTH Authentication required."));
    }

    // CONFIG SET requirepass "" opens the server to new connections.
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg("")
        .query(&mut c)
        .unwrap();
    let mut anon = client(&url(""));
    let v: String = redis::cmd("GET").arg("k").query(&mut anon).unwrap();
    assert_eq!(v, "v");
}

#[test]
fn users_from_flags_with_redis_cli_and_the_redis_crate() {
    let server = Server::kevy(&[
        "--cores",
        "2",
        "--user",
        "alice on >pa ~a* +@read +@connection",
        "--user",
        "bob on >pb ~* &* +@all -@dangerous",
    ]);
    let port = server.port;
    let mut admin = conn(port);
    call(&mut admin, &["SET", "a1", "x"]);
    call(&mut admin, &["SET", "b1", "y"]);
    let list = call(&mut admin, &["ACL", "USERS"]);
    let names: Vec<String> = list.items().unwrap().iter().map(text).collect();
    assert_eq!(names, ["alice", "bob", "default"]);

    let mut alice = client(&format!("redis://alice:pa@127.0.0.1:{port}/"));
    let v: String = redis::cmd("GET").arg("a1").query(&mut alice).unwrap();
    assert_eq!(v, "x");
    let err = redis::cmd("GET")
        .arg("b1")
        .query::<String>(&mut alice)
        .unwrap_err();
    assert_eq!(err.code(), Some("NOPERM"));
    let err = redis::cmd("SET")
        .arg("a1")
        .arg("z")
        .query::<()>(&mut alice)
        .unwrap_err();
    assert!(err.to_string().contains("'set' command"), "{err}");

    let mut bob = client(&format!("redis://bob:pb@127.0.0.1:{port}/"));
    let _: () = redis::cmd("SET")
        .arg("b1")
        .arg("z")
        .query(&mut bob)
        .unwrap();
    let err = redis::cmd("FLUSHALL").query::<()>(&mut bob).unwrap_err();
    assert_eq!(err.code(), Some("NOPERM"));

    if common::have_program("redis-cli") {
        let as_alice = |args: &[&str]| {
            let mut a = vec!["--no-auth-warning", "--user", "alice", "--pass", "pa"];
            a.extend_from_slice(args);
            redis_cli(port, &a)
        };
        assert_eq!(as_alice(&["GET", "a1"]), "x");
        assert!(as_alice(&["GET", "b1"]).starts_with("NOPERM"));
        assert_eq!(
            as_alice(&["ACL", "WHOAMI"]),
            "NOPERM this user has no permissions to run the 'acl|whoami' command"
        );
    }
    // CLIENT LIST names each connection's user.
    let list = text(&call(&mut admin, &["CLIENT", "LIST"]));
    assert!(list.contains("user=alice"), "{list}");
    assert!(list.contains("user=bob"), "{list}");
}

#[test]
fn rule_changes_reach_every_shard_at_the_next_command() {
    let server = Server::kevy(&["--cores", "3"]);
    let port = server.port;
    let mut admin = conn(port);
    assert_eq!(
        text(&call(
            &mut admin,
            &["ACL", "SETUSER", "eve", "on", "nopass", "~*", "+get", "+set"]
        )),
        "OK"
    );
    // Enough connections to land on every shard.
    let mut eves: Vec<Conn> = (0..9).map(|_| conn(port)).collect();
    let mut plain: Vec<Conn> = (0..9).map(|_| conn(port)).collect();
    for c in &mut eves {
        assert_eq!(text(&call(c, &["AUTH", "eve", "x"])), "OK");
        assert!(!call(c, &["GET", "k"]).is_error());
    }
    for c in &mut plain {
        assert!(!call(c, &["FLUSHDB"]).is_error());
    }
    call(&mut admin, &["ACL", "SETUSER", "eve", "-get"]);
    call(&mut admin, &["ACL", "SETUSER", "default", "-flushdb"]);
    for c in &mut eves {
        let r = call(c, &["GET", "k"]);
        assert_eq!(
            text(&r),
            "NOPERM this user has no permissions to run the 'get' command"
        );
        assert!(!call(c, &["SET", "k", "v"]).is_error());
    }
    for c in &mut plain {
        let r = call(c, &["FLUSHDB"]);
        assert!(r.is_error(), "{r:?}");
        assert!(!call(c, &["GET", "k"]).is_error());
    }
    // Not inside a transaction: the change could not reach the other
    // shards' connections before its reply.
    call(&mut admin, &["MULTI"]);
    let r = call(&mut admin, &["ACL", "SETUSER", "eve", "+get"]);
    assert_eq!(text(&r), "ERR Command not allowed inside a transaction");
    call(&mut admin, &["DISCARD"]);
    // And back: the default user with every right again.
    call(&mut admin, &["ACL", "SETUSER", "default", "+@all"]);
    for c in &mut plain {
        assert!(!call(c, &["FLUSHDB"]).is_error());
    }
}

#[test]
fn deleted_users_lose_their_connections() {
    let server = Server::kevy(&["--cores", "3"]);
    let port = server.port;
    let mut admin = conn(port);
    for u in ["carol", "dave"] {
        call(
            &mut admin,
            &["ACL", "SETUSER", u, "on", ">pw", "+@all", "~*"],
        );
    }
    let mut carols: Vec<Conn> = (0..6).map(|_| conn(port)).collect();
    let mut daves: Vec<Conn> = (0..6).map(|_| conn(port)).collect();
    for c in &mut carols {
        assert_eq!(text(&call(c, &["AUTH", "carol", "pw"])), "OK");
    }
    for c in &mut daves {
        assert_eq!(text(&call(c, &["AUTH", "dave", "pw"])), "OK");
    }
    assert_eq!(
        call(&mut admin, &["ACL", "DELUSER", "carol"]).int(),
        Some(1)
    );
    for c in &mut carols {
        assert!(closed(c), "a connection of a deleted user stays open");
    }
    for c in &mut daves {
        assert_eq!(text(&call(c, &["PING"])), "PONG");
    }
    // CLIENT KILL USER closes them on every shard too.
    assert_eq!(
        call(&mut admin, &["CLIENT", "KILL", "USER", "dave"]).int(),
        Some(6)
    );
    for c in &mut daves {
        assert!(closed(c));
    }
    // A user who deletes itself gets the reply, then the close.
    call(
        &mut admin,
        &["ACL", "SETUSER", "frank", "on", "nopass", "+@all"],
    );
    let mut f = conn(port);
    call(&mut f, &["AUTH", "frank", "x"]);
    assert_eq!(call(&mut f, &["ACL", "DELUSER", "frank"]).int(), Some(1));
    assert!(closed(&mut f));
    assert_eq!(text(&call(&mut admin, &["PING"])), "PONG");
}

#[test]
fn aclfile_round_trip_and_restart() {
    let dir = TempDir::new("aclfile");
    let path = dir.path().join("users.acl");
    std::fs::write(&path, "user default on nopass ~* &* +@all\n").unwrap();
    let file = path.display().to_string();
    let listed = |c: &mut Conn| -> Vec<String> {
        call(c, &["ACL", "LIST"])
            .items()
            .unwrap()
            .iter()
            .map(text)
            .collect()
    };
    let saved;
    {
        let server = Server::kevy(&["--cores", "2", "--aclfile", &file]);
        let mut c = conn(server.port);
        call(
            &mut c,
            &[
                "ACL", "SETUSER", "gina", "on", ">pw", "~g*", "&news", "+@read", "-get",
            ],
        );
        call(
            &mut c,
            &[
                "ACL",
                "SETUSER",
                "hal",
                "off",
                "resetchannels",
                "+@all",
                "-@dangerous",
            ],
        );
        assert_eq!(text(&call(&mut c, &["ACL", "SAVE"])), "OK");
        saved = listed(&mut c);
        let on_disk: Vec<String> = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        assert_eq!(on_disk, saved);

        // Changes after the save are undone by LOAD, which also closes
        // the connections of every user but `default`.
        let mut g = conn(server.port);
        assert_eq!(text(&call(&mut g, &["AUTH", "gina", "pw"])), "OK");
        call(&mut c, &["ACL", "SETUSER", "gina", "+get"]);
        call(&mut c, &["ACL", "SETUSER", "ivy", "on"]);
        assert_ne!(listed(&mut c), saved);
        assert_eq!(text(&call(&mut c, &["ACL", "LOAD"])), "OK");
        assert_eq!(listed(&mut c), saved);
        assert!(closed(&mut g));

        // A broken file changes nothing.
        std::fs::write(&path, "user jo on +nosuch\n").unwrap();
        let r = call(&mut c, &["ACL", "LOAD"]);
        assert!(r.is_error() && text(&r).contains("users.acl:1"), "{r:?}");
        assert_eq!(listed(&mut c), saved);
        assert_eq!(text(&call(&mut c, &["ACL", "SAVE"])), "OK");
    }
    // A new server reads the same users.
    let server = Server::kevy(&["--cores", "1", "--aclfile", &file]);
    let mut c = conn(server.port);
    assert_eq!(listed(&mut c), saved);
    let mut g = conn(server.port);
    assert_eq!(text(&call(&mut g, &["AUTH", "gina", "pw"])), "OK");
    assert_eq!(
        text(&call(&mut g, &["GET", "g1"])),
        "NOPERM this user has no permissions to run the 'get' command"
    );
    assert!(!call(&mut g, &["STRLEN", "g1"]).is_error());
}

#[test]
fn the_acl_log_records_refusals() {
    let server = Server::kevy(&["--cores", "2"]);
    let mut admin = conn(server.port);
    call(
        &mut admin,
        &[
            "ACL", "SETUSER", "kim", "on", ">pw", "~k*", "&c*", "+get", "+publish", "+multi",
            "+discard",
        ],
    );
    let mut k = conn(server.port);
    assert!(call(&mut k, &["AUTH", "kim", "bad"]).is_error());
    call(&mut k, &["AUTH", "kim", "pw"]);
    call(&mut k, &["GET", "x"]);
    call(&mut k, &["GET", "x"]);
    call(&mut k, &["SET", "k1", "v"]);
    call(&mut k, &["PUBLISH", "other", "m"]);
    call(&mut k, &["MULTI"]);
    call(&mut k, &["DEL", "k1"]);
    call(&mut k, &["DISCARD"]);
    let log = call(&mut admin, &["ACL", "LOG"]);
    let entries = log.items().unwrap();
    assert_eq!(entries.len(), 5, "{log:?}");
    let field = |e: &Value, name: &str| -> Value {
        let items = e.items().unwrap();
        let i = items
            .chunks(2)
            .position(|kv| text(&kv[0]) == name)
            .unwrap_or_else(|| panic!("no {name}"));
        items[i * 2 + 1].clone()
    };
    // Newest first; the two GETs of the same key are one entry.
    let want = [
        ("command", "del", 1, "multi"),
        ("channel", "other", 1, "toplevel"),
        ("command", "set", 1, "toplevel"),
        ("key", "x", 2, "toplevel"),
        ("auth", "AUTH", 1, "toplevel"),
    ];
    for (e, (reason, object, count, context)) in entries.iter().zip(want) {
        assert_eq!(text(&field(e, "reason")), reason);
        assert_eq!(text(&field(e, "object")), object);
        assert_eq!(field(e, "count").int(), Some(count));
        assert_eq!(text(&field(e, "username")), "kim");
        assert_eq!(text(&field(e, "context")), context);
        assert!(text(&field(e, "client-info")).starts_with("id="));
    }
    assert_eq!(
        call(&mut admin, &["ACL", "LOG", "1"])
            .items()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(text(&call(&mut admin, &["ACL", "LOG", "RESET"])), "OK");
    assert_eq!(call(&mut admin, &["ACL", "LOG"]).items().unwrap().len(), 0);
}

/// A network namespace joined to this one by a veth pair, removed on
/// drop. The addresses are private and exist only on the pair.
struct Netns {
    name: String,
    veth: String,
    host_ip: String,
}

impl Netns {
    fn create() -> Result<Netns, String> {
        let pid = std::process::id();
        let name = format!("kevy-pm-{pid}");
        let veth = format!("kvpm{}", pid % 100_000);
        let peer = format!("kvpn{}", pid % 100_000);
        let net = format!("10.213.{}", pid % 250);
        let ns = Netns {
            name: name.clone(),
            veth: veth.clone(),
            host_ip: format!("{net}.1"),
        };
        let ip = |args: &[&str]| -> Result<(), String> {
            let out = Command::new("ip")
                .args(args)
                .output()
                .map_err(|e| format!("ip: {e}"))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "ip {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                ))
            }
        };
        ip(&["netns", "add", &name])?;
        ip(&["link", "add", &veth, "type", "veth", "peer", "name", &peer])?;
        ip(&["link", "set", &peer, "netns", &name])?;
        ip(&["addr", "add", &format!("{net}.1/30"), "dev", &veth])?;
        ip(&["link", "set", &veth, "up"])?;
        let inside = |args: &[&str]| {
            let mut a = vec!["netns", "exec", &name, "ip"];
            a.extend_from_slice(args);
            ip(&a)
        };
        inside(&["addr", "add", &format!("{net}.2/30"), "dev", &peer])?;
        inside(&["link", "set", &peer, "up"])?;
        Ok(ns)
    }

    /// Connects from inside the namespace to `port` on this side, sends
    /// PING (unless `quiet`), and returns everything the server sent until
    /// it closed or went quiet for a second. A refused connection is read
    /// without sending: a close with unread input would be a reset, which
    /// may drop the reply before it is read.
    fn talk_from_inside(&self, port: u16, quiet: bool) -> String {
        let ping = if quiet {
            ""
        } else {
            "printf '*1\\r\\n$4\\r\\nPING\\r\\n' >&3;"
        };
        let script = format!(
            "exec 3<>/dev/tcp/{}/{port} || exit 1; {ping} timeout 1 cat <&3",
            self.host_ip
        );
        let out = Command::new("ip")
            .args(["netns", "exec", &self.name, "bash", "-c", &script])
            .output()
            .expect("ip netns exec");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.veth])
            .output();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

#[test]
fn protected_mode_refuses_other_hosts_as_redis_does() {
    if !common::have_program("ip") || !common::have_program("bash") {
        println!("skipped: `ip` or `bash` is not installed");
        return;
    }
    let ns = match Netns::create() {
        Ok(ns) => ns,
        Err(e) => {
            println!("skipped: network namespaces are not available here ({e})");
            return;
        }
    };
    // Listening on every address, so the namespace reaches it; protected
    // mode is what keeps the other side out.
    let kevy = Server::kevy(&["--cores", "2", "--bind", "0.0.0.0"]);
    let denied = ns.talk_from_inside(kevy.port, true);
    assert!(
        denied.starts_with("-DENIED Redis is running in protected mode"),
        "{denied:?}"
    );
    if common::have_program("redis-server") && !common::skip_redis_tools() {
        let redis = Server::spawn("redis-server", "redis-server", |port| {
            [
                "--port",
                &port.to_string(),
                "--bind",
                "0.0.0.0",
                "--save",
                "",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect()
        })
        .expect("redis-server");
        assert_eq!(denied, ns.talk_from_inside(redis.port, true));
    }
    // Loopback is let in, and may turn the mode off.
    let mut local = conn(kevy.port);
    assert_eq!(text(&call(&mut local, &["PING"])), "PONG");
    call(&mut local, &["CONFIG", "SET", "protected-mode", "no"]);
    assert_eq!(ns.talk_from_inside(kevy.port, false), "+PONG\r\n");
    // With a password the mode lets the connection in to authenticate.
    call(&mut local, &["CONFIG", "SET", "protected-mode", "yes"]);
    call(&mut local, &["CONFIG", "SET", "requirepass", "pw"]);
    assert_eq!(
        ns.talk_from_inside(kevy.port, false),
        "-NOAUTH Authentication required.\r\n"
    );
}
