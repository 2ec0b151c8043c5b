//! The LATENCY command: the latency monitor's spikes (`latency.rs`) and
//! the per-command latency histograms the execution point keeps
//! (`stats.rs`).

use super::common::{conn_spec, dispatch, reply_help};
use crate::ctx::ConnCtx;
use crate::latency::{anon_huge_pages, DoctorFacts};
use crate::settings::current;
use crate::table::{flag, SubSpec, Table};
use kevy_rt::ConnAction;

pub fn register(t: &mut Table) {
    t.add_container(conn_spec("latency", -2, 0, &["@slow"], cmd_latency), SUBS);
}

const ACL: &[&str] = &["@admin", "@slow", "@dangerous"];
const FLAGS: u32 = flag::ADMIN | flag::NOSCRIPT | flag::LOADING | flag::STALE;

/// LATENCY's subcommands, in the order Redis 7.0's COMMAND INFO gives them.
static SUBS: &[SubSpec] = &[
    SubSpec {
        name: "latency|latest",
        arity: 2,
        flags: FLAGS,
        acl: ACL,
        run: latest,
    },
    SubSpec {
        name: "latency|reset",
        arity: -2,
        flags: FLAGS,
        acl: ACL,
        run: reset,
    },
    SubSpec {
        name: "latency|help",
        arity: 2,
        flags: flag::LOADING | flag::STALE,
        acl: &["@slow"],
        run: help,
    },
    SubSpec {
        name: "latency|history",
        arity: 3,
        flags: FLAGS,
        acl: ACL,
        run: history,
    },
    SubSpec {
        name: "latency|histogram",
        arity: -2,
        flags: FLAGS,
        acl: ACL,
        run: histogram,
    },
    SubSpec {
        name: "latency|doctor",
        arity: 2,
        flags: FLAGS,
        acl: ACL,
        run: doctor,
    },
    SubSpec {
        name: "latency|graph",
        arity: 3,
        flags: FLAGS,
        acl: ACL,
        run: graph,
    },
];

fn cmd_latency(ctx: &mut ConnCtx<'_>) -> ConnAction {
    dispatch(ctx, SUBS)
}

fn help(ctx: &mut ConnCtx<'_>) -> ConnAction {
    reply_help(
        ctx,
        &[
            "DOCTOR",
            "    Return a human readable latency analysis report.",
            "GRAPH <event>",
            "    Return an ASCII latency graph for the <event> class.",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
            "HISTOGRAM [COMMAND ...]",
            "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
            "    If no commands are specified then all histograms are replied.",
        ],
    );
    ConnAction::Continue
}

fn latest(ctx: &mut ConnCtx<'_>) -> ConnAction {
    let events = ctx.server.latency.latest();
    ctx.out.array(events.len());
    for (name, time, last, max) in events {
        ctx.out.array(4);
        ctx.out.bulk(name.as_bytes());
        ctx.out.int(time as i64);
        ctx.out.int(last as i64);
        ctx.out.int(max as i64);
    }
    ConnAction::Continue
}

fn history(ctx: &mut ConnCtx<'_>) -> ConnAction {
    let samples = ctx.server.latency.history(ctx.args.get(2));
    ctx.out.array(samples.len());
    for (time, ms) in samples {
        ctx.out.array(2);
        ctx.out.int(time as i64);
        ctx.out.int(ms as i64);
    }
    ConnAction::Continue
}

fn graph(ctx: &mut ConnCtx<'_>) -> ConnAction {
    let now = kevy_sys::clock::unix_ms() / 1000;
    match ctx.server.latency.graph(ctx.args.get(2), now) {
        Some(g) => ctx.out.verbatim(b"txt", g.as_bytes()),
        None => {
            let msg = format!(
                "ERR No samples available for event '{}'",
                super::common::c_str(ctx.args.get(2), usize::MAX)
            );
            ctx.out.error(&msg);
        }
    }
    ConnAction::Continue
}

fn reset(ctx: &mut ConnCtx<'_>) -> ConnAction {
    let names: Vec<&[u8]> = ctx.args.iter().skip(2).collect();
    let n = ctx.server.latency.reset(&names);
    ctx.out.int(n as i64);
    ConnAction::Continue
}

fn doctor(ctx: &mut ConnCtx<'_>) -> ConnAction {
    let num = |name: &str, default: i64| {
        current(name)
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(default)
    };
    let facts = DoctorFacts {
        slowlog_slower_than_us: num("slowlog-log-slower-than", 10_000),
        hz: num("hz", 10).max(0) as u64,
        appendfsync_always: current("appendfsync").as_deref() == Some("always"),
        anon_huge_pages: anon_huge_pages(),
    };
    let now = kevy_sys::clock::unix_ms() / 1000;
    let report = ctx.server.latency.doctor(&facts, now);
    ctx.out.verbatim(b"txt", report.as_bytes());
    ConnAction::Continue
}

/// LATENCY HISTOGRAM [command …]: each named command (a container names
/// its subcommands too; unknown names and commands never run are
/// skipped), or every command that has run, as a map of name to
/// `calls` and `histogram_usec`.
fn histogram(ctx: &mut ConnCtx<'_>) -> ConnAction {
    let table = &ctx.server.table;
    let stats = &ctx.server.cmdstats;
    let mut slots: Vec<u16> = Vec::new();
    let all = 0..table.stat_slots() as u16;
    if ctx.args.len() == 2 {
        slots.extend(all);
    } else {
        for name in ctx.args.iter().skip(2) {
            let name = String::from_utf8_lossy(name).to_ascii_lowercase();
            let prefix = format!("{name}|");
            slots.extend(all.clone().filter(|&s| {
                let n = table.slot_name(s);
                n == name || (!name.contains('|') && n.starts_with(&prefix))
            }));
        }
    }
    let found: Vec<_> = slots
        .into_iter()
        .filter_map(|s| Some((s, stats.cumulative_usec(s)?)))
        .collect();
    ctx.out.map(found.len());
    for (slot, (calls, buckets)) in found {
        ctx.out.bulk(table.slot_name(slot).as_bytes());
        ctx.out.map(2);
        ctx.out.bulk(b"calls");
        ctx.out.int(calls as i64);
        ctx.out.bulk(b"histogram_usec");
        ctx.out.map(buckets.len());
        for (us, n) in buckets {
            ctx.out.int(us as i64);
            ctx.out.int(n as i64);
        }
    }
    ConnAction::Continue
}
