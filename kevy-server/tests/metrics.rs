//! The Prometheus endpoint (`--metrics-port`) scraped while clients load
//! every shard, each page parsed by the Python `prometheus_client` parser
//! (a real parser of the exposition format), and its figures checked
//! against what the clients did and what INFO/DBSIZE say.

mod common;

use common::resp::Conn;
use common::Server;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A Python 3 that has `prometheus_client` (scripts/test.sh installs it).
fn python() -> String {
    for p in ["python3", "/usr/bin/python3"] {
        let ok = Command::new(p)
            .args(["-c", "import prometheus_client"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return p.to_string();
        }
    }
    panic!(
        "no python3 with prometheus_client: apt-get install -y python3-prometheus-client \
         (or pip install prometheus_client)"
    );
}

/// Parses a page with prometheus_client; returns `name{labels} value` lines,
/// labels sorted, one per sample.
const PARSE: &str = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
        print(f"{fam.type} {s.name}{{{labels}}} {s.value}")
"#;

fn scrape(port: u16) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: kevy\r\n\r\n")
        .unwrap();
    let mut page = String::new();
    s.read_to_string(&mut page).unwrap();
    let (head, body) = page.split_once("\r\n\r\n").expect("http response");
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(
        head.contains("Content-Type: text/plain; version=0.0.4"),
        "{head}"
    );
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(len, body.len());
    body.to_string()
}

fn parse(py: &str, body: &str) -> Vec<(String, String, f64)> {
    let mut child = Command::new(py)
        .args(["-c", PARSE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "parser refused the page: {}\n{body}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let mut it = l.splitn(2, ' ');
            let kind = it.next().unwrap().to_string();
            let rest = it.next().unwrap();
            let (sample, value) = rest.rsplit_once(' ').unwrap();
            (kind, sample.to_string(), value.parse().unwrap())
        })
        .collect()
}

fn value(samples: &[(String, String, f64)], sample: &str) -> f64 {
    samples
        .iter()
        .find(|s| s.1 == sample)
        .unwrap_or_else(|| panic!("no sample {sample}"))
        .2
}

#[test]
fn metrics_parse_and_count_under_load() {
    let py = python();
    let mport = common::free_port();
    let server = Server::kevy(&["--cores", "2", "--metrics-port", &mport.to_string()]);
    let stop = Arc::new(AtomicBool::new(false));
    let per_client = 3000;
    let clients: Vec<_> = (0..4)
        .map(|t| {
            let port = server.port;
            std::thread::spawn(move || {
                let mut c = Conn::connect(port).unwrap();
                for i in 0..per_client {
                    let key = format!("k{t}:{i}");
                    c.call(&["SET", &key, "v"]).unwrap();
                    c.call(&["GET", &key]).unwrap();
                }
            })
        })
        .collect();
    // Scrape while the load runs: every page parses.
    let scraper = {
        let stop = stop.clone();
        let py = py.clone();
        std::thread::spawn(move || {
            let mut pages = 0;
            while !stop.load(Ordering::Relaxed) {
                parse(&py, &scrape(mport));
                pages += 1;
            }
            pages
        })
    };
    for c in clients {
        c.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    assert!(scraper.join().unwrap() >= 1);

    let mut c = Conn::connect(server.port).unwrap();
    let dbsize = c.call(&["DBSIZE"]).unwrap().int().unwrap();
    let samples = parse(&py, &scrape(mport));
    let sets = 4.0 * per_client as f64;
    assert_eq!(value(&samples, "kevy_commands_total{cmd=set}"), sets);
    assert_eq!(value(&samples, "kevy_commands_total{cmd=get}"), sets);
    assert_eq!(value(&samples, "kevy_keyspace_keys{db=0}"), dbsize as f64);
    assert_eq!(value(&samples, "kevy_keyspace_hits_total{}"), sets);
    // The histogram: as many observations as calls, buckets cumulative.
    assert_eq!(
        value(&samples, "kevy_command_duration_seconds_count{cmd=set}"),
        sets
    );
    assert_eq!(
        value(
            &samples,
            "kevy_command_duration_seconds_bucket{cmd=set,le=+Inf}"
        ),
        sets
    );
    let buckets: Vec<f64> = samples
        .iter()
        .filter(|s| {
            s.1.starts_with("kevy_command_duration_seconds_bucket{cmd=set,")
        })
        .map(|s| s.2)
        .collect();
    assert!(buckets.len() > 2);
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
    assert!(samples
        .iter()
        .any(|s| s.0 == "histogram" && s.1.starts_with("kevy_command_duration_seconds")));
    let per_shard: f64 = samples
        .iter()
        .filter(|s| {
            s.1.starts_with("kevy_shard_commands_processed_total{shard=")
        })
        .map(|s| s.2)
        .sum();
    assert_eq!(
        per_shard,
        value(&samples, "kevy_shard_commands_processed_total{shard=0}")
            + value(&samples, "kevy_shard_commands_processed_total{shard=1}")
    );
    assert!(per_shard >= 2.0 * sets);
    assert!(value(&samples, "kevy_memory_used_bytes{}") > 0.0);
}

#[test]
fn metrics_endpoint_answers_only_get_metrics() {
    let mport = common::free_port();
    let _server = Server::kevy(&["--cores", "1", "--metrics-port", &mport.to_string()]);
    let ask = |req: &[u8]| {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", mport)).unwrap();
        s.write_all(req).unwrap();
        let mut page = String::new();
        s.read_to_string(&mut page).unwrap();
        page
    };
    assert!(ask(b"GET /nope HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404"));
    assert!(ask(b"POST /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405"));
    let head = ask(b"HEAD /metrics HTTP/1.0\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 200") && head.ends_with("\r\n\r\n"));
    // A request that never ends is cut off at its size limit.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", mport)).unwrap();
    let junk = vec![b'x'; 64 * 1024];
    let _ = s.write_all(&junk);
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(rest.is_empty());
}
