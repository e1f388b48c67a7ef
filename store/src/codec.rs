//! A compact binary encoding of a stored row, for the embedded store's `row` column.
//!
//! The layout is the column list of [`crate::row`] in order, after one format byte:
//! integers as LEB128 varints (signed ones zigzag-encoded), strings and lists with a varint
//! length, `Option` as a 0/1 tag then the value, addresses as their 16 bytes. It has no
//! field names, so it is only read by the same column list that wrote it; the format byte
//! is bumped whenever that list changes, and an unknown format is an error, never a guess.

use crate::StoreError;

/// The version of the column list the encoding follows.
pub const ROW_FORMAT: u8 = 1;

/// Longest string or list a stored row may hold (a sanity bound against corrupt data).
const MAX_LEN: u64 = 1 << 30;

pub trait BinPut {
    fn put(&self, out: &mut Vec<u8>);
}

pub trait BinGet: Sized {
    fn get(input: &mut &[u8]) -> Result<Self, StoreError>;
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("stored row: {what}"))
}

pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub fn get_varint(input: &mut &[u8]) -> Result<u64, StoreError> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = input
            .split_first()
            .ok_or_else(|| corrupt("truncated integer"))?;
        *input = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(corrupt("integer longer than 64 bits"))
}

fn take<'a>(input: &mut &'a [u8], n: usize) -> Result<&'a [u8], StoreError> {
    if input.len() < n {
        return Err(corrupt("truncated value"));
    }
    let (head, rest) = input.split_at(n);
    *input = rest;
    Ok(head)
}

fn get_len(input: &mut &[u8]) -> Result<usize, StoreError> {
    let n = get_varint(input)?;
    if n > MAX_LEN || n > input.len() as u64 {
        return Err(corrupt("length beyond the row"));
    }
    Ok(n as usize)
}

macro_rules! unsigned {
    ($($t:ty),*) => {$(
        impl BinPut for $t {
            fn put(&self, out: &mut Vec<u8>) {
                put_varint(out, u64::from(*self));
            }
        }
        impl BinGet for $t {
            fn get(input: &mut &[u8]) -> Result<Self, StoreError> {
                <$t>::try_from(get_varint(input)?).map_err(|_| corrupt("integer out of range"))
            }
        }
    )*};
}
unsigned!(u8, u16, u32, u64);

impl BinPut for i64 {
    fn put(&self, out: &mut Vec<u8>) {
        put_varint(out, ((*self << 1) ^ (*self >> 63)) as u64);
    }
}

impl BinGet for i64 {
    fn get(input: &mut &[u8]) -> Result<Self, StoreError> {
        let z = get_varint(input)?;
        Ok(((z >> 1) as i64) ^ -((z & 1) as i64))
    }
}

impl BinPut for str {
    fn put(&self, out: &mut Vec<u8>) {
        put_varint(out, self.len() as u64);
        out.extend_from_slice(self.as_bytes());
    }
}

impl BinPut for String {
    fn put(&self, out: &mut Vec<u8>) {
        self.as_str().put(out);
    }
}

impl BinGet for String {
    fn get(input: &mut &[u8]) -> Result<Self, StoreError> {
        let n = get_len(input)?;
        let bytes = take(input, n)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| corrupt("text is not UTF-8"))
    }
}

impl BinPut for [String] {
    fn put(&self, out: &mut Vec<u8>) {
        put_varint(out, self.len() as u64);
        for s in self {
            s.put(out);
        }
    }
}

impl BinPut for Vec<String> {
    fn put(&self, out: &mut Vec<u8>) {
        self.as_slice().put(out);
    }
}

impl BinGet for Vec<String> {
    fn get(input: &mut &[u8]) -> Result<Self, StoreError> {
        // Each element takes at least one byte, so the length check bounds the allocation.
        let n = get_len(input)?;
        (0..n).map(|_| String::get(input)).collect()
    }
}

impl BinPut for [u8; 16] {
    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
}

impl BinGet for [u8; 16] {
    fn get(input: &mut &[u8]) -> Result<Self, StoreError> {
        let b = take(input, 16)?;
        let mut a = [0u8; 16];
        a.copy_from_slice(b);
        Ok(a)
    }
}

impl<T: BinPut + ?Sized> BinPut for &T {
    fn put(&self, out: &mut Vec<u8>) {
        (**self).put(out);
    }
}

impl<T: BinPut> BinPut for Option<T> {
    fn put(&self, out: &mut Vec<u8>) {
        match self {
            None => out.push(0),
            Some(v) => {
                out.push(1);
                v.put(out);
            }
        }
    }
}

impl<T: BinGet> BinGet for Option<T> {
    fn get(input: &mut &[u8]) -> Result<Self, StoreError> {
        match take(input, 1)? {
            [0] => Ok(None),
            [1] => T::get(input).map(Some),
            _ => Err(corrupt("bad option tag")),
        }
    }
}

/// One column of an encoded row, read in place (for filters and sums inside a query).
#[derive(Debug, Clone, PartialEq)]
pub enum Peeked<'a> {
    Null,
    Int(i64),
    Text(&'a str),
    List(Vec<&'a str>),
    Addr([u8; 16]),
}

/// Reads or steps over one value without building the whole row.
pub trait BinPeek {
    fn peek<'a>(input: &mut &'a [u8]) -> Result<Peeked<'a>, StoreError>;
    fn skip(input: &mut &[u8]) -> Result<(), StoreError>;
}

fn peek_str<'a>(input: &mut &'a [u8]) -> Result<&'a str, StoreError> {
    let n = get_len(input)?;
    std::str::from_utf8(take(input, n)?).map_err(|_| corrupt("text is not UTF-8"))
}

fn skip_str(input: &mut &[u8]) -> Result<(), StoreError> {
    let n = get_len(input)?;
    take(input, n).map(|_| ())
}

macro_rules! peek_unsigned {
    ($($t:ty),*) => {$(
        impl BinPeek for $t {
            fn peek<'a>(input: &mut &'a [u8]) -> Result<Peeked<'a>, StoreError> {
                // Stored counters fit in i64 in practice; a larger one saturates.
                Ok(Peeked::Int(i64::try_from(<$t>::get(input)?).unwrap_or(i64::MAX)))
            }
            fn skip(input: &mut &[u8]) -> Result<(), StoreError> {
                get_varint(input).map(|_| ())
            }
        }
    )*};
}
peek_unsigned!(u8, u16, u32, u64);

impl BinPeek for i64 {
    fn peek<'a>(input: &mut &'a [u8]) -> Result<Peeked<'a>, StoreError> {
        i64::get(input).map(Peeked::Int)
    }
    fn skip(input: &mut &[u8]) -> Result<(), StoreError> {
        get_varint(input).map(|_| ())
    }
}

impl BinPeek for String {
    fn peek<'a>(input: &mut &'a [u8]) -> Result<Peeked<'a>, StoreError> {
        peek_str(input).map(Peeked::Text)
    }
    fn skip(input: &mut &[u8]) -> Result<(), StoreError> {
        skip_str(input)
    }
}

impl BinPeek for Vec<String> {
    fn peek<'a>(input: &mut &'a [u8]) -> Result<Peeked<'a>, StoreError> {
        let n = get_len(input)?;
        (0..n)
            .map(|_| peek_str(input))
            .collect::<Result<_, _>>()
            .map(Peeked::List)
    }
    fn skip(input: &mut &[u8]) -> Result<(), StoreError> {
        let n = get_len(input)?;
        (0..n).try_for_each(|_| skip_str(input))
    }
}

impl BinPeek for [u8; 16] {
    fn peek<'a>(input: &mut &'a [u8]) -> Result<Peeked<'a>, StoreError> {
        <[u8; 16]>::get(input).map(Peeked::Addr)
    }
    fn skip(input: &mut &[u8]) -> Result<(), StoreError> {
        take(input, 16).map(|_| ())
    }
}

impl<T: BinPeek> BinPeek for Option<T> {
    fn peek<'a>(input: &mut &'a [u8]) -> Result<Peeked<'a>, StoreError> {
        match take(input, 1)? {
            [0] => Ok(Peeked::Null),
            [1] => T::peek(input),
            _ => Err(corrupt("bad option tag")),
        }
    }
    fn skip(input: &mut &[u8]) -> Result<(), StoreError> {
        match take(input, 1)? {
            [0] => Ok(()),
            [1] => T::skip(input),
            _ => Err(corrupt("bad option tag")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round<T: BinPut + BinGet + PartialEq + std::fmt::Debug>(v: T) {
        let mut buf = Vec::new();
        v.put(&mut buf);
        let mut input = buf.as_slice();
        assert_eq!(T::get(&mut input).unwrap(), v);
        assert!(input.is_empty());
    }

    proptest! {
        #[test]
        fn integers_round_trip(a: i64, b: u64, c: u16, d: Option<u32>) {
            round(a);
            round(b);
            round(c);
            round(d);
        }

        #[test]
        fn text_round_trips(s: String, v: Vec<String>, o: Option<String>) {
            round(s);
            round(v);
            round(o);
        }

        #[test]
        fn garbage_is_an_error_not_a_panic(bytes: Vec<u8>) {
            let mut input = bytes.as_slice();
            let _ = Vec::<String>::get(&mut input);
            let mut input = bytes.as_slice();
            let _ = Option::<[u8; 16]>::get(&mut input);
        }
    }

    #[test]
    fn truncated_and_oversized_lengths_are_rejected() {
        let mut buf = Vec::new();
        "hello".put(&mut buf);
        let mut short = &buf[..3];
        assert!(String::get(&mut short).is_err());
        let mut huge = Vec::new();
        put_varint(&mut huge, u64::MAX);
        assert!(String::get(&mut huge.as_slice()).is_err());
        assert!(u8::get(&mut [0x80, 0x02].as_slice()).is_err()); // 256
    }
}
