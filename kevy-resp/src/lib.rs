//! RESP2/RESP3 without I/O: bytes in, argv out ([`Parser`]); replies out as
//! bytes ([`Reply`]). Nothing here touches a socket, which is what lets the
//! parser be split at every offset, property-tested and fuzzed.
//!
//! A parsed command is an [`Args`]: a borrowed view of spans into the
//! connection's own read buffer, so parsing allocates nothing per argument.
#![forbid(unsafe_code)]

mod args;
mod parser;
mod reply;
mod value;

pub use args::{Args, OwnedArgs, Span};
pub use parser::{
    split_line, Parse, Parser, ProtoError, AHEAD_MAX, INLINE_MAX, MAX_BULK_LEN, MAX_MULTIBULK_LEN,
    UNAUTH_MAX_BULK_LEN, UNAUTH_MAX_MULTIBULK_LEN,
};
pub use reply::{format_double, Reply};
pub use value::{array_elems, scalar, skip_value, split_array, Elems};
