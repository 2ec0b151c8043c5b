//! Criterion benchmarks live in benches/; the load tools in src/bin/ share
//! the RESP client code and argument handling here.

pub mod cli;
pub mod resp;
