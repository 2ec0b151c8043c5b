//! Criterion benchmarks live in benches/; the load tools in src/bin/ share
//! the RESP client code here.

pub mod resp;
