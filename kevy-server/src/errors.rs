//! The one place where failures become Redis's exact error text. Command
//! families return [`OpError`]s and call [`reply_error`]; clients parse
//! these strings, so they are part of the API and match Redis 7 byte for
//! byte.

use kevy_resp::{Args, Reply};
use kevy_store::OpError;
use std::borrow::Cow;

pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
pub const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
pub const NOT_FLOAT: &str = "ERR value is not a valid float";
pub const SYNTAX: &str = "ERR syntax error";

/// Redis's text for `e`. Variants that quote an argument
/// ([`OpError::UnsupportedOption`]) need [`reply_error_args`].
pub fn message(e: OpError) -> Cow<'static, str> {
    Cow::Borrowed(match e {
        OpError::WrongType => WRONGTYPE,
        OpError::NotInteger => NOT_INTEGER,
        OpError::NotFloat => NOT_FLOAT,
        OpError::Overflow => "ERR increment or decrement would overflow",
        OpError::DecrementOverflow => "ERR decrement would overflow",
        OpError::NanOrInfinity => "ERR increment would produce NaN or Infinity",
        OpError::NoSuchKey => "ERR no such key",
        OpError::Syntax => SYNTAX,
        OpError::StringTooLong => "ERR string exceeds maximum allowed size (proto-max-bulk-len)",
        OpError::OffsetOutOfRange => "ERR offset is out of range",
        OpError::IndexOutOfRange => "ERR index out of range",
        OpError::InvalidExpireTime(cmd) => {
            return Cow::Owned(format!("ERR invalid expire time in '{cmd}' command"))
        }
        OpError::WrongArgs(cmd) => {
            return Cow::Owned(format!("ERR wrong number of arguments for '{cmd}' command"))
        }
        OpError::ExpireNxConflict => {
            "ERR NX and XX, GT or LT options at the same time are not compatible"
        }
        OpError::ExpireGtLtConflict => "ERR GT and LT options at the same time are not compatible",
        OpError::UnsupportedOption(_) => "ERR Unsupported option",
        OpError::SameObject => "ERR source and destination objects are the same",
        OpError::DbIndexOutOfRange => "ERR DB index is out of range",
        OpError::InvalidFirstDbIndex => "ERR invalid first DB index",
        OpError::InvalidSecondDbIndex => "ERR invalid second DB index",
        OpError::InvalidCursor => "ERR invalid cursor",
        OpError::Family(text) => text,
    })
}

/// Writes `e` as an error reply.
pub fn reply_error(out: &mut Reply<'_>, e: OpError) {
    out.error(&message(e));
}

/// Writes `e` as an error reply, quoting the argument it names when it
/// names one (`ERR Unsupported option <arg>`).
pub fn reply_error_args(out: &mut Reply<'_>, e: OpError, args: &Args<'_>) {
    match e {
        OpError::UnsupportedOption(i) if (i as usize) < args.len() => {
            // Redis prints the option with %s, which stops at a NUL byte.
            let opt = args.get(i as usize);
            let opt = &opt[..opt.iter().position(|&b| b == 0).unwrap_or(opt.len())];
            out.error(&format!(
                "ERR Unsupported option {}",
                String::from_utf8_lossy(opt)
            ));
        }
        _ => reply_error(out, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kevy_resp::OwnedArgs;

    fn render(f: impl FnOnce(&mut Reply<'_>)) -> String {
        let mut buf = Vec::new();
        f(&mut Reply::new(&mut buf, false));
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn texts_match_redis() {
        assert_eq!(
            render(|o| reply_error(o, OpError::WrongType)),
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
        );
        assert_eq!(
            render(|o| reply_error(o, OpError::InvalidExpireTime("set"))),
            "-ERR invalid expire time in 'set' command\r\n"
        );
        assert_eq!(
            render(|o| reply_error(o, OpError::WrongArgs("mset"))),
            "-ERR wrong number of arguments for 'mset' command\r\n"
        );
        let a = OwnedArgs::from_slices(["EXPIRE", "k", "10", "foo"]);
        assert_eq!(
            render(|o| reply_error_args(o, OpError::UnsupportedOption(3), &a.args())),
            "-ERR Unsupported option foo\r\n"
        );
    }
}
