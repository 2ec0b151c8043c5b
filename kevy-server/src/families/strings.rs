//! The strings command family.

use crate::table::Table;

pub fn register(_t: &mut Table) {}
