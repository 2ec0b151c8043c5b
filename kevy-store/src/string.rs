//! The string type's operations (Redis's `t_string.c`): typed, checked
//! operations on a [`Db`] that the strings command family calls.
//!
//! Integers stay integer-encoded through INCR and friends; APPEND and
//! SETRANGE turn a value into a growable "raw" string whose buffer grows
//! geometrically, so repeated appends cost amortised O(appended bytes).

use crate::db::{Db, SetTtl};
use crate::error::{OpError, OpResult};
use crate::num::LongDouble;
use crate::value::{StrValue, Value, MAX_STRING_LEN};

/// SET's NX / XX condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetCond {
    Always,
    /// NX: only when the key does not exist.
    IfAbsent,
    /// XX: only when the key exists.
    IfPresent,
}

/// What [`Db::set_str`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetOutcome {
    /// The condition held and the value was written.
    pub written: bool,
    /// With `get`: the string the key held before (`None`: no key).
    pub old: Option<StrValue>,
}

/// The string in `v`, or WRONGTYPE.
#[inline]
fn expect_str(v: &Value) -> OpResult<&StrValue> {
    v.as_str().ok_or(OpError::WrongType)
}

/// Fails when a string of `len + extra` bytes would exceed 512 MB.
#[inline]
fn check_len(len: usize, extra: usize) -> OpResult<()> {
    match len.checked_add(extra) {
        Some(total) if total <= MAX_STRING_LEN => Ok(()),
        _ => Err(OpError::StringTooLong),
    }
}

impl Db<'_> {
    /// GET: the string at `key` (a read lookup).
    #[inline]
    pub fn get_str(&mut self, key: &[u8]) -> OpResult<Option<&StrValue>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => expect_str(v).map(Some),
        }
    }

    /// SET's core (Redis's `setGenericCommand`): writes `value` when `cond`
    /// holds, with `ttl`. With `get`, first reads the old string (a read
    /// lookup; WRONGTYPE if the key holds another type, and then nothing is
    /// written).
    pub fn set_str(
        &mut self,
        key: &[u8],
        value: StrValue,
        cond: SetCond,
        ttl: SetTtl,
        get: bool,
    ) -> OpResult<SetOutcome> {
        let mut old = None;
        if get {
            if let Some(v) = self.get(key) {
                old = Some(expect_str(v)?.clone());
            }
        }
        let ok = match cond {
            SetCond::Always => true,
            SetCond::IfAbsent => !self.contains(key),
            SetCond::IfPresent => self.contains(key),
        };
        if ok {
            self.set(key, Value::Str(value), ttl);
        }
        Ok(SetOutcome { written: ok, old })
    }

    /// GETDEL: removes the key when it holds a string; returns the string.
    pub fn get_del(&mut self, key: &[u8]) -> OpResult<Option<StrValue>> {
        match self.get(key) {
            None => return Ok(None),
            Some(v) => {
                expect_str(v)?;
            }
        }
        match self.remove(key) {
            Some(Value::Str(s)) => Ok(Some(s)),
            _ => Ok(None),
        }
    }

    /// INCRBY and friends: adds `delta` to the integer at `key` (missing
    /// counts as 0), keeping its TTL. Returns the new value.
    pub fn incr_by(&mut self, key: &[u8], delta: i64) -> OpResult<i64> {
        let mut k = self.update(key);
        let Some(v) = k.value_mut() else {
            k.insert(Value::Str(StrValue::Int(delta)), SetTtl::Keep);
            return Ok(delta);
        };
        let s = v.as_str_mut().ok_or(OpError::WrongType)?;
        let cur = s.to_i64().ok_or(OpError::NotInteger)?;
        let new = cur.checked_add(delta).ok_or(OpError::Overflow)?;
        *s = StrValue::Int(new);
        k.changed();
        Ok(new)
    }

    /// INCRBYFLOAT: adds `incr` (text, parsed as Redis's `long double`) to
    /// the number at `key`, keeping its TTL; stores and returns the result
    /// formatted as Redis does.
    pub fn incr_by_float(&mut self, key: &[u8], incr: &[u8]) -> OpResult<Vec<u8>> {
        let cur = match self.peek(key) {
            None => LongDouble::ZERO,
            Some(e) => match expect_str(&e.value)? {
                StrValue::Int(n) => LongDouble::from_i64(*n),
                s => LongDouble::parse(&s.to_vec()).ok_or(OpError::NotFloat)?,
            },
        };
        let incr = LongDouble::parse(incr).ok_or(OpError::NotFloat)?;
        let sum = cur.add(incr);
        if !sum.is_finite() {
            return Err(OpError::NanOrInfinity);
        }
        let text = sum.to_human();
        // Stored as plain bytes, never integer-encoded (as Redis does).
        self.set(key, Value::Str(StrValue::from_bytes(&text)), SetTtl::Keep);
        Ok(text)
    }

    /// APPEND: returns the new length.
    pub fn append(&mut self, key: &[u8], data: &[u8]) -> OpResult<usize> {
        let mut k = self.update(key);
        let Some(v) = k.value_mut() else {
            check_len(0, data.len())?;
            k.insert(Value::string(data), SetTtl::Keep);
            return Ok(data.len());
        };
        let s = v.as_str_mut().ok_or(OpError::WrongType)?;
        check_len(s.len(), data.len())?;
        s.make_raw().extend_from_slice(data);
        let len = s.len();
        k.changed();
        Ok(len)
    }

    /// STRLEN (a read lookup): 0 for a missing key.
    pub fn strlen(&mut self, key: &[u8]) -> OpResult<usize> {
        Ok(self.get_str(key)?.map_or(0, StrValue::len))
    }

    /// GETRANGE with Redis's index rules (negative counts from the end,
    /// clamped; empty when the range is empty or the key is missing).
    pub fn get_range(&mut self, key: &[u8], start: i64, end: i64) -> OpResult<Vec<u8>> {
        let Some(s) = self.get_str(key)? else {
            return Ok(Vec::new());
        };
        let mut buf = [0u8; crate::num::MAX_I64_CHARS];
        let bytes = s.as_bytes(&mut buf);
        Ok(match range(start, end, bytes.len()) {
            Some((a, b)) => bytes[a..=b].to_vec(),
            None => Vec::new(),
        })
    }

    /// SETRANGE: overwrites from `offset` (zero-padding a shorter string);
    /// returns the new length. Writing nothing changes nothing.
    pub fn set_range(&mut self, key: &[u8], offset: usize, data: &[u8]) -> OpResult<usize> {
        let mut k = self.update(key);
        let Some(v) = k.value_mut() else {
            if data.is_empty() {
                return Ok(0);
            }
            check_len(offset, data.len())?;
            let mut buf = vec![0u8; offset + data.len()];
            buf[offset..].copy_from_slice(data);
            let len = buf.len();
            k.insert(Value::Str(StrValue::Raw(Box::new(buf))), SetTtl::Keep);
            return Ok(len);
        };
        let s = v.as_str_mut().ok_or(OpError::WrongType)?;
        if data.is_empty() {
            return Ok(s.len());
        }
        check_len(offset, data.len())?;
        let raw = s.make_raw();
        let end = offset + data.len();
        if raw.len() < end {
            raw.resize(end, 0);
        }
        raw[offset..end].copy_from_slice(data);
        let len = s.len();
        k.changed();
        Ok(len)
    }
}

impl Db<'_> {
    /// The write access of SETBIT and BITFIELD (Redis's
    /// `lookupStringForBitCommand`): the string at `key` as raw bytes,
    /// created or zero-padded to at least `len` bytes (the caller keeps
    /// `len` within Redis's limit). `f` gets the bytes and whether they were
    /// just created or grown, and returns its result and whether it changed
    /// them; a creation or growth is a change too. WRONGTYPE for another
    /// type, before `f` runs.
    pub fn bits_mut<R>(
        &mut self,
        key: &[u8],
        len: usize,
        f: impl FnOnce(&mut [u8], bool) -> (R, bool),
    ) -> OpResult<R> {
        let mut k = self.update(key);
        let Some(v) = k.value_mut() else {
            let mut buf = vec![0u8; len];
            let (r, _) = f(&mut buf, true);
            k.insert(Value::Str(StrValue::Raw(Box::new(buf))), SetTtl::Keep);
            return Ok(r);
        };
        let raw = v.as_str_mut().ok_or(OpError::WrongType)?.make_raw();
        let grown = raw.len() < len;
        if grown {
            raw.resize(len, 0);
        }
        let (r, changed) = f(raw, grown);
        if grown || changed {
            k.changed();
        }
        Ok(r)
    }
}

/// GETRANGE's index arithmetic: the inclusive byte range of a `len`-byte
/// string, or `None` when empty.
pub fn range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    if start < 0 && end < 0 && start > end {
        return None;
    }
    let len = len as i128;
    let (mut start, mut end) = (start as i128, end as i128);
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if start > end || len == 0 {
        None
    } else {
        Some((start as usize, end as usize))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;

    fn s(b: &[u8]) -> StrValue {
        StrValue::from_input(b)
    }

    #[test]
    fn set_conditions_and_get() {
        let mut st = Store::new(1);
        let mut db = st.db(0);
        let o = db
            .set_str(b"k", s(b"v1"), SetCond::IfPresent, SetTtl::Clear, true)
            .unwrap();
        assert_eq!(
            o,
            SetOutcome {
                written: false,
                old: None
            }
        );
        let o = db
            .set_str(b"k", s(b"v1"), SetCond::IfAbsent, SetTtl::Clear, false)
            .unwrap();
        assert!(o.written);
        let o = db
            .set_str(b"k", s(b"v2"), SetCond::IfAbsent, SetTtl::Clear, true)
            .unwrap();
        assert_eq!(
            o,
            SetOutcome {
                written: false,
                old: Some(s(b"v1"))
            }
        );
        let o = db
            .set_str(b"k", s(b"v3"), SetCond::Always, SetTtl::Clear, true)
            .unwrap();
        assert_eq!(
            o,
            SetOutcome {
                written: true,
                old: Some(s(b"v1"))
            }
        );
        assert_eq!(db.get_str(b"k").unwrap(), Some(&s(b"v3")));
    }

    #[test]
    fn incr_keeps_ttl_and_checks() {
        let mut st = Store::new(1);
        st.set_now(1000);
        let mut db = st.db(0);
        db.set(b"n", Value::string(b"10"), SetTtl::At(5000));
        assert_eq!(db.incr_by(b"n", 5), Ok(15));
        assert_eq!(db.ttl(b"n"), crate::db::KeyTtl::At(5000));
        assert_eq!(db.incr_by(b"m", -3), Ok(-3));
        db.set(b"big", Value::string(b"9223372036854775807"), SetTtl::Clear);
        assert_eq!(db.incr_by(b"big", 1), Err(OpError::Overflow));
        db.set(b"s", Value::string(b"abc"), SetTtl::Clear);
        assert_eq!(db.incr_by(b"s", 1), Err(OpError::NotInteger));
        db.set(b"sp", Value::string(b" 1"), SetTtl::Clear);
        assert_eq!(db.incr_by(b"sp", 1), Err(OpError::NotInteger));
    }

    #[test]
    fn incr_by_float_formats_like_redis() {
        let mut st = Store::new(1);
        let mut db = st.db(0);
        db.set(b"f", Value::string(b"10.5"), SetTtl::Clear);
        assert_eq!(db.incr_by_float(b"f", b"0.1").unwrap(), b"10.6");
        assert_eq!(db.incr_by_float(b"g", b"3.0e3").unwrap(), b"3000");
        assert_eq!(db.get_str(b"g").unwrap().unwrap().encoding_name(), "embstr");
        assert_eq!(db.incr_by_float(b"g", b"abc"), Err(OpError::NotFloat));
        assert_eq!(db.incr_by_float(b"g", b"inf"), Err(OpError::NanOrInfinity));
    }

    #[test]
    fn append_and_setrange_grow_in_place() {
        let mut st = Store::new(1);
        let mut db = st.db(0);
        assert_eq!(db.append(b"a", b"12"), Ok(2));
        assert_eq!(db.get_str(b"a").unwrap().unwrap().encoding_name(), "int");
        assert_eq!(db.append(b"a", b"x"), Ok(3));
        assert_eq!(db.get_str(b"a").unwrap().unwrap().to_vec(), b"12x");
        assert_eq!(db.set_range(b"a", 5, b"yz"), Ok(7));
        assert_eq!(db.get_str(b"a").unwrap().unwrap().to_vec(), b"12x\0\0yz");
        assert_eq!(db.set_range(b"new", 2, b""), Ok(0));
        assert!(!db.contains(b"new"));
        assert_eq!(db.set_range(b"new", 1, b"q"), Ok(2));
        assert_eq!(
            db.set_range(b"new", MAX_STRING_LEN, b"q"),
            Err(OpError::StringTooLong)
        );
        assert_eq!(db.strlen(b"new"), Ok(2));
        assert_eq!(db.strlen(b"none"), Ok(0));
    }

    #[test]
    fn range_rules() {
        assert_eq!(range(0, -1, 5), Some((0, 4)));
        assert_eq!(range(-3, -1, 5), Some((2, 4)));
        assert_eq!(range(-1, -3, 5), None);
        assert_eq!(range(3, 1, 5), None);
        assert_eq!(range(0, 100, 5), Some((0, 4)));
        assert_eq!(range(-100, 0, 5), Some((0, 0)));
        assert_eq!(range(0, 0, 0), None);
        assert_eq!(range(i64::MIN, i64::MAX, 5), Some((0, 4)));
        assert_eq!(range(6, 10, 5), None);
    }
}
