//! `logencoding`: bytes of a log line to text.
//!
//! fail2ban decodes every line strictly and, on error, warns once and decodes
//! again with `errors='replace'` (`FileContainer.decode_line`): a bad byte
//! never stops a jail. We do the same without the warning (callers see the
//! count in the tailer statistics). Only the encodings real logs use are
//! supported; fail2ban's `auto` means the locale's encoding, which is UTF-8 on
//! every system ferroban targets.

use crate::SourceError;

/// How the bytes of a log are turned into text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-8; invalid sequences become U+FFFD (Python's `errors='replace'`).
    #[default]
    Utf8,
    /// ISO-8859-1: every byte is the code point of the same value.
    Latin1,
    /// 7-bit ASCII; bytes above 0x7F become U+FFFD.
    Ascii,
}

impl Encoding {
    /// Resolves a fail2ban `logencoding` value, accepting Python's codec aliases.
    pub fn from_label(label: &str) -> Result<Encoding, SourceError> {
        let normalized: String = label
            .trim()
            .chars()
            .filter(|c| !matches!(c, '-' | '_' | ' '))
            .map(|c| c.to_ascii_lowercase())
            .collect();
        match normalized.as_str() {
            "auto" | "utf8" | "u8" | "utf" | "cp65001" => Ok(Encoding::Utf8),
            "latin1" | "latin" | "l1" | "iso88591" | "iso885911987" | "8859" | "cp819"
            | "isoir100" => Ok(Encoding::Latin1),
            "ascii" | "usascii" | "646" => Ok(Encoding::Ascii),
            _ => Err(SourceError::UnknownEncoding(label.to_string())),
        }
    }

    /// Decodes `bytes`, borrowing them when they are already valid text and
    /// writing into `scratch` otherwise. The flag tells whether a byte had to
    /// be replaced.
    pub fn decode<'a>(self, bytes: &'a [u8], scratch: &'a mut String) -> (&'a str, bool) {
        // UTF-8 (the default) checks ASCII text as fast as `is_ascii` does: one pass.
        if self == Encoding::Utf8
            && let Ok(text) = std::str::from_utf8(bytes)
        {
            return (text, false);
        }
        if bytes.is_ascii() {
            // ASCII is valid in all three encodings and is the common case.
            return (std::str::from_utf8(bytes).unwrap_or_default(), false);
        }
        match self {
            Encoding::Utf8 => match std::str::from_utf8(bytes) {
                Ok(text) => (text, false),
                Err(_) => {
                    *scratch = String::from_utf8_lossy(bytes).into_owned();
                    (scratch.as_str(), true)
                }
            },
            Encoding::Latin1 => {
                scratch.clear();
                scratch.extend(bytes.iter().map(|&b| char::from(b)));
                (scratch.as_str(), false)
            }
            Encoding::Ascii => {
                scratch.clear();
                scratch.extend(bytes.iter().map(|&b| {
                    if b.is_ascii() {
                        char::from(b)
                    } else {
                        char::REPLACEMENT_CHARACTER
                    }
                }));
                (scratch.as_str(), true)
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_python_aliases() {
        assert_eq!(Encoding::from_label("UTF-8").ok(), Some(Encoding::Utf8));
        assert_eq!(Encoding::from_label("auto").ok(), Some(Encoding::Utf8));
        assert_eq!(Encoding::from_label("latin-1").ok(), Some(Encoding::Latin1));
        assert_eq!(
            Encoding::from_label("ISO-8859-1").ok(),
            Some(Encoding::Latin1)
        );
        assert_eq!(Encoding::from_label("ascii").ok(), Some(Encoding::Ascii));
        assert!(Encoding::from_label("utf-16").is_err());
    }

    #[test]
    fn invalid_utf8_is_replaced_like_python() {
        let mut scratch = String::new();
        // Python: b"a\xffb\xe2\x82".decode("utf-8", "replace") == "a\ufffdb\ufffd"
        let (text, replaced) = Encoding::Utf8.decode(b"a\xffb\xe2\x82", &mut scratch);
        assert_eq!(text, "a\u{fffd}b\u{fffd}");
        assert!(replaced);
    }

    #[test]
    fn latin1_maps_every_byte() {
        let mut scratch = String::new();
        let (text, replaced) = Encoding::Latin1.decode(b"caf\xe9 \x00", &mut scratch);
        assert_eq!(text, "caf\u{e9} \u{0}");
        assert!(!replaced);
    }

    #[test]
    fn valid_utf8_is_borrowed() {
        let mut scratch = String::new();
        let (text, replaced) = Encoding::Utf8.decode("héllo".as_bytes(), &mut scratch);
        assert_eq!(text, "héllo");
        assert!(!replaced);
        assert!(scratch.is_empty());
    }
}
