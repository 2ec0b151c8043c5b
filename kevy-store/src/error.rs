//! [`OpError`]: why an operation failed, as a small `Copy` value. The
//! server maps each to Redis's exact error text in one place
//! (kevy-server's `errors.rs`); nothing here knows RESP.

/// A failed store operation or a rejected command argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpError {
    /// The key holds another type.
    WrongType,
    /// A value or argument is not an integer or out of its range.
    NotInteger,
    /// A value or argument is not a float.
    NotFloat,
    /// INCR/DECR family result outside `i64`.
    Overflow,
    /// DECRBY by `i64::MIN` (its negation overflows).
    DecrementOverflow,
    /// A float increment would give NaN or an infinity.
    NanOrInfinity,
    /// The key does not exist (RENAME).
    NoSuchKey,
    Syntax,
    /// A string would exceed 512 MB (`proto-max-bulk-len`).
    StringTooLong,
    /// SETRANGE/SETBIT offset below zero or too large.
    OffsetOutOfRange,
    /// LSET and friends: index outside the list.
    IndexOutOfRange,
    /// Expire time not positive or overflowing; carries the command name
    /// Redis puts in the message.
    InvalidExpireTime(&'static str),
    /// Wrong argument count detected after the arity check (MSET's pairs);
    /// carries the command name.
    WrongArgs(&'static str),
    /// EXPIRE: NX together with XX, GT or LT.
    ExpireNxConflict,
    /// EXPIRE: GT together with LT.
    ExpireGtLtConflict,
    /// EXPIRE: an option that is not NX, XX, GT or LT; carries its
    /// position in the arguments.
    UnsupportedOption(u32),
    /// MOVE/COPY onto the same key in the same database.
    SameObject,
    /// A database index outside `0..databases`.
    DbIndexOutOfRange,
    /// SWAPDB's first/second index is not an integer.
    InvalidFirstDbIndex,
    InvalidSecondDbIndex,
    /// A SCAN-family cursor that is not an unsigned integer.
    InvalidCursor,
    /// An argument error whose exact Redis text belongs to one command
    /// family (e.g. `ERR min or max is not a float`); the family names the
    /// text as a constant beside its commands.
    Family(&'static str),
}

impl std::fmt::Display for OpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

impl std::error::Error for OpError {}

pub type OpResult<T> = Result<T, OpError>;
