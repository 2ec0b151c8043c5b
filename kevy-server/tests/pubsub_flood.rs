//! Pub/sub under a flood: while a publisher pipelines messages as fast as
//! it can, subscribers on every shard get each message once and in order,
//! and a RESP3 subscriber's own commands are answered in their place among
//! its messages (its pushes wait in the shard's push queue, its replies do
//! not wait behind them).

mod common;

use common::resp::{command, Conn, Value};
use common::Server;

const CHANNEL: &str = "flood";

fn conn(port: u16) -> Conn {
    Conn::connect(port).expect("connect")
}

/// A message's sequence number, or `None` for anything but a message on
/// the channel.
fn message_seq(v: &Value) -> Option<u64> {
    let items = v.items()?;
    if items.len() != 3
        || items[0].bytes()? != b"message"
        || items[1].bytes()? != CHANNEL.as_bytes()
    {
        return None;
    }
    std::str::from_utf8(items[2].bytes()?).ok()?.parse().ok()
}

/// Publishes `n` numbered messages in pipelined batches of `batch`,
/// checking each count against `receivers`.
fn flood(port: u16, n: u64, batch: u64, receivers: i64) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut p = conn(port);
        let mut seq = 0;
        while seq < n {
            let k = batch.min(n - seq);
            let mut out = Vec::new();
            for i in seq..seq + k {
                out.extend(command(&["PUBLISH", CHANNEL, &i.to_string()]));
            }
            p.send(&out).unwrap();
            for i in seq..seq + k {
                let (v, _) = p.read().expect("PUBLISH's reply");
                assert_eq!(v.int(), Some(receivers), "receivers of message {i}");
            }
            seq += k;
        }
    })
}

fn flood_with_replies(cores: &str) {
    const N: u64 = 20_000;
    const PLAIN: usize = 12;
    let server = Server::kevy(&["--cores", cores]);
    let mut plain: Vec<Conn> = (0..PLAIN).map(|_| conn(server.port)).collect();
    for c in &mut plain {
        c.call(&["SUBSCRIBE", CHANNEL]).unwrap();
    }
    let mut r3 = conn(server.port);
    assert!(!r3.call(&["HELLO", "3"]).unwrap().is_error());
    // RESP3: the confirmation is a push, and commands run while subscribed.
    r3.call(&["SUBSCRIBE", CHANNEL]).unwrap();
    let publisher = flood(server.port, N, 64, PLAIN as i64 + 1);

    // The RESP3 subscriber asks PING every 500 messages: each answer comes
    // in its place, after the messages delivered before the PING ran and
    // before those delivered after, so the numbers stay consecutive
    // around it.
    let mut next = 0;
    let mut pings = 0;
    let mut pongs = 0;
    while next < N || pongs < pings {
        let (v, _) = r3.read().expect("a message or a reply");
        if let Some(seq) = message_seq(&v) {
            assert_eq!(seq, next, "RESP3 subscriber, after {pongs} answers");
            next += 1;
            if next % 500 == 0 && next < N {
                r3.send(&command(&["PING", &format!("mark{pings}")]))
                    .unwrap();
                pings += 1;
            }
        } else {
            assert_eq!(
                v.bytes(),
                Some(format!("mark{pongs}").as_bytes()),
                "the answer to PING {pongs}"
            );
            pongs += 1;
        }
    }
    assert_eq!(pings, (N / 500 - 1) as usize);
    for (i, c) in plain.iter_mut().enumerate() {
        for seq in 0..N {
            let (v, _) = c.read().expect("a message");
            assert_eq!(message_seq(&v), Some(seq), "subscriber {i}");
        }
    }
    publisher.join().expect("the publisher");
}

#[test]
fn a_flood_reaches_every_subscriber_in_order_with_replies_in_place_one_shard() {
    flood_with_replies("1");
}

#[test]
fn a_flood_reaches_every_subscriber_in_order_with_replies_in_place_two_shards() {
    flood_with_replies("2");
}
