//! Criterion benchmarks live in benches/; the load tools in src/bin/ share
//! the RESP client code, connections, /proc readings, latency histograms and argument
//! handling here, and the crash test (`crash`) lives here so that kevy-server's
//! tests can run it too.

pub mod cli;
pub mod conn;
pub mod crash;
pub mod hist;
pub mod proc;
pub mod resp;
