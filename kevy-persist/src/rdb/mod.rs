//! RDB snapshots.
