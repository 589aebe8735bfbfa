//! The text forms inside a pickle: protocol 0's quoted and escaped arguments, UTF-8 and
//! latin-1 strings.

use super::read::DecodeError;

pub(super) fn utf8(bytes: Vec<u8>, at: usize) -> Result<String, DecodeError> {
    String::from_utf8(bytes).map_err(|_| DecodeError::Malformed {
        what: "a string is not UTF-8",
        at,
    })
}

pub(super) fn latin1(text: &str) -> Option<Vec<u8>> {
    text.chars()
        .map(|c| u8::try_from(u32::from(c)).ok())
        .collect()
}

/// Protocol 0's `STRING` argument: a Python 2 `repr`, quoted, with backslash escapes.
pub(super) fn unquote(text: &str, at: usize) -> Result<Vec<u8>, DecodeError> {
    let bad = || DecodeError::Malformed {
        what: "a STRING argument is not a quoted literal",
        at,
    };
    let bytes = text.as_bytes();
    let inner = match bytes {
        [quote @ (b'\'' | b'"'), inner @ .., last] if last == quote => inner,
        _ => return Err(bad()),
    };
    let mut out = Vec::with_capacity(inner.len());
    let mut rest = inner;
    while let Some((&byte, tail)) = rest.split_first() {
        rest = tail;
        if byte != b'\\' {
            out.push(byte);
            continue;
        }
        let (&escape, tail) = rest.split_first().ok_or_else(bad)?;
        rest = tail;
        match escape {
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'\\' | b'\'' | b'"' => out.push(escape),
            b'x' => {
                let hex = rest.get(..2).ok_or_else(bad)?;
                let text = std::str::from_utf8(hex).map_err(|_| bad())?;
                out.push(u8::from_str_radix(text, 16).map_err(|_| bad())?);
                rest = &rest[2..];
            }
            b'0'..=b'7' => {
                // Up to three octal digits, the escape's own included.
                let more = rest
                    .iter()
                    .take(2)
                    .take_while(|d| (b'0'..=b'7').contains(*d))
                    .count();
                let value = std::iter::once(escape)
                    .chain(rest[..more].iter().copied())
                    .fold(0u32, |value, digit| value * 8 + u32::from(digit - b'0'));
                out.push(u8::try_from(value).map_err(|_| bad())?);
                rest = &rest[more..];
            }
            other => out.extend([b'\\', other]),
        }
    }
    Ok(out)
}

/// Protocol 0's `UNICODE` argument, Python's `raw-unicode-escape`: latin-1 bytes, with
/// `\uXXXX` and `\UXXXXXXXX` for everything else (a backslash and a newline included).
pub(super) fn raw_unicode_escape(bytes: &[u8], at: usize) -> Result<String, DecodeError> {
    let bad = || DecodeError::Malformed {
        what: "a UNICODE argument with a bad escape",
        at,
    };
    let mut out = String::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        let width = match (byte, bytes.get(i + 1)) {
            (b'\\', Some(b'u')) => 4,
            (b'\\', Some(b'U')) => 8,
            _ => 0,
        };
        if width == 0 {
            out.push(char::from(byte));
            i += 1;
            continue;
        }
        let hex = bytes.get(i + 2..i + 2 + width).ok_or_else(bad)?;
        let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
        let code = u32::from_str_radix(hex, 16).map_err(|_| bad())?;
        out.push(char::from_u32(code).ok_or_else(bad)?);
        i += 2 + width;
    }
    Ok(out)
}
