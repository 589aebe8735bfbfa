//! `logencoding`: bytes of a log line to text.
//!
//! fail2ban decodes every line strictly and, on error, warns once and decodes
//! again with `errors='replace'` (`FileContainer.decode_line`): a bad byte
//! never stops a jail. We do the same without the warning (callers see the
//! count in the tailer statistics). fail2ban's `auto` means the locale's
//! encoding, which is UTF-8 on every system ferroban targets.
//!
//! UTF-8, ISO-8859-1 and ASCII are decoded here, as Python decodes them;
//! every other encoding Python names that a log can be written in (`cp1252`,
//! `iso-8859-15`, `koi8-r`, `shift_jis`, `gb18030`...) through `encoding_rs`,
//! which Firefox uses. The Web's encoding standard reads `latin-1` and `ascii`
//! as windows-1252, which is why those two stay ours. Encodings whose
//! characters span a newline byte (UTF-16, UTF-32) cannot be read line by line
//! and are refused, as are the labels the standard maps to its `replacement`
//! decoder (ISO-2022-KR, HZ...).

use std::borrow::Cow;

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
    /// Any other encoding of the Encoding Standard, by `encoding_rs`.
    Other(&'static encoding_rs::Encoding),
}

impl Encoding {
    /// Resolves a fail2ban `logencoding` value, accepting Python's codec names
    /// and aliases.
    pub fn from_label(label: &str) -> Result<Encoding, SourceError> {
        let normalized: String = label
            .trim()
            .chars()
            .filter(|c| !matches!(c, '-' | '_' | ' '))
            .map(|c| c.to_ascii_lowercase())
            .collect();
        match normalized.as_str() {
            "auto" | "utf8" | "u8" | "utf" | "cp65001" => return Ok(Encoding::Utf8),
            "latin1" | "latin" | "l1" | "iso88591" | "iso885911987" | "8859" | "cp819"
            | "isoir100" => return Ok(Encoding::Latin1),
            "ascii" | "usascii" | "646" => return Ok(Encoding::Ascii),
            _ => {}
        }
        let unknown = || SourceError::UnknownEncoding(label.to_string());
        let standard = python_alias(&normalized)
            .and_then(|name| encoding_rs::Encoding::for_label(name.as_bytes()))
            .or_else(|| encoding_rs::Encoding::for_label(label.trim().as_bytes()))
            .or_else(|| encoding_rs::Encoding::for_label(label.trim().replace('_', "-").as_bytes()))
            .ok_or_else(unknown)?;
        let line_oriented = standard.is_ascii_compatible() || standard == encoding_rs::ISO_2022_JP;
        if standard == encoding_rs::REPLACEMENT || !line_oriented {
            return Err(unknown());
        }
        Ok(Encoding::Other(standard))
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
        if self.ascii_compatible() && bytes.is_ascii() {
            // ASCII is the same text in all these encodings and is the common case.
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
            Encoding::Other(standard) => {
                let (text, replaced) = standard.decode_without_bom_handling(bytes);
                match text {
                    Cow::Borrowed(text) => (text, replaced),
                    Cow::Owned(text) => {
                        *scratch = text;
                        (scratch.as_str(), replaced)
                    }
                }
            }
        }
    }

    fn ascii_compatible(self) -> bool {
        match self {
            Encoding::Other(standard) => standard.is_ascii_compatible(),
            _ => true,
        }
    }
}

/// Python's names (without `-`, `_` and spaces, lower case) of the encodings
/// the Encoding Standard spells otherwise: its label for them.
fn python_alias(normalized: &str) -> Option<String> {
    let fixed = match normalized {
        "latin9" | "l9" | "iso885915" => "iso-8859-15",
        "latin2" | "l2" => "iso-8859-2",
        "latin3" | "l3" => "iso-8859-3",
        "latin4" | "l4" => "iso-8859-4",
        "cyrillic" => "iso-8859-5",
        "arabic" => "iso-8859-6",
        "greek" | "greek8" => "iso-8859-7",
        "hebrew" => "iso-8859-8",
        "latin6" | "l6" => "iso-8859-10",
        "thai" | "cp874" | "iso885911" => "windows-874",
        "latin7" | "l7" => "iso-8859-13",
        "latin8" | "l8" => "iso-8859-14",
        "latin10" | "l10" => "iso-8859-16",
        "koi8r" => "koi8-r",
        "koi8u" => "koi8-u",
        "sjis" | "shiftjis" | "s_jis" | "csshiftjis" | "mskanji" | "cp932" => "shift_jis",
        "eucjp" | "ujis" => "euc-jp",
        "euckr" | "cp949" | "uhc" | "ksc5601" => "euc-kr",
        "gb2312" | "gbk" | "cp936" | "ms936" | "936" => "gbk",
        "gb18030" | "gb180302000" => "gb18030",
        "big5" | "big5tw" | "cp950" | "csbig5" => "big5",
        "big5hkscs" | "hkscs" => "big5-hkscs",
        "iso2022jp" | "csiso2022jp" => "iso-2022-jp",
        "macroman" | "macintosh" => "macintosh",
        "maccyrillic" => "x-mac-cyrillic",
        _ => "",
    };
    if !fixed.is_empty() {
        return Some(fixed.to_string());
    }
    // iso8859N / iso_8859_N, cp125N / windows125N, the code page alone (1252).
    let digits = |rest: &str| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit());
    if let Some(part) = normalized.strip_prefix("iso8859").filter(|r| digits(r)) {
        return Some(format!("iso-8859-{part}"));
    }
    let page = normalized
        .strip_prefix("cp")
        .or_else(|| normalized.strip_prefix("windows"))
        .unwrap_or(normalized);
    if digits(page) && page.len() == 4 && page.starts_with("125") {
        return Some(format!("windows-{page}"));
    }
    if digits(page) && page == "866" {
        return Some("ibm866".to_string());
    }
    None
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
    fn python_names_of_other_encodings_are_read() {
        let name = |label: &str| match Encoding::from_label(label) {
            Ok(Encoding::Other(standard)) => standard.name(),
            other => panic!("{label}: {other:?}"),
        };
        for (label, expected) in [
            ("cp1252", "windows-1252"),
            ("windows-1251", "windows-1251"),
            ("CP1250", "windows-1250"),
            ("iso-8859-15", "ISO-8859-15"),
            ("iso8859_15", "ISO-8859-15"),
            ("latin9", "ISO-8859-15"),
            ("iso-8859-2", "ISO-8859-2"),
            ("koi8-r", "KOI8-R"),
            ("koi8_r", "KOI8-R"),
            ("koi8_u", "KOI8-U"),
            ("shift_jis", "Shift_JIS"),
            ("cp932", "Shift_JIS"),
            ("euc_jp", "EUC-JP"),
            ("euc-kr", "EUC-KR"),
            ("gbk", "GBK"),
            ("gb18030", "gb18030"),
            ("big5", "Big5"),
            ("cp866", "IBM866"),
            ("mac_roman", "macintosh"),
        ] {
            assert_eq!(name(label), expected, "{label}");
        }
    }

    #[test]
    fn encodings_that_cannot_be_read_line_by_line_are_refused() {
        for label in [
            "utf-16",
            "utf_16_le",
            "UTF-16BE",
            "utf-32",
            "iso-2022-kr",
            "hz-gb-2312",
            "ebcdic",
            "rot13",
            "",
        ] {
            assert!(Encoding::from_label(label).is_err(), "{label}");
        }
    }

    #[test]
    fn other_encodings_decode_as_python_does() {
        let mut scratch = String::new();
        // Python: b"caf\xe9 \x80".decode("cp1252") == "café €"
        let cp1252 = Encoding::from_label("cp1252").unwrap();
        assert_eq!(
            cp1252.decode(b"caf\xe9 \x80", &mut scratch),
            ("caf\u{e9} \u{20ac}", false)
        );
        // Python: b"\xf0\xd2\xc9\xd7\xc5\xd4".decode("koi8_r") == "Привет"
        let koi8 = Encoding::from_label("koi8_r").unwrap();
        assert_eq!(
            koi8.decode(b"\xf0\xd2\xc9\xd7\xc5\xd4", &mut scratch),
            ("Привет", false)
        );
        // Python: b"\xa4".decode("iso-8859-15") == "€" (latin-1 reads "¤")
        let latin9 = Encoding::from_label("iso-8859-15").unwrap();
        assert_eq!(latin9.decode(b"\xa4", &mut scratch), ("\u{20ac}", false));
        // ASCII text is borrowed, whatever the encoding.
        scratch.clear();
        assert_eq!(
            koi8.decode(b"sshd[1]: fail", &mut scratch),
            ("sshd[1]: fail", false)
        );
        assert!(scratch.is_empty());
        // A byte Shift_JIS cannot read is replaced and said.
        let sjis = Encoding::from_label("shift_jis").unwrap();
        let (text, replaced) = sjis.decode(b"a\x82", &mut scratch);
        assert!(
            replaced && text.starts_with('a') && text.contains('\u{fffd}'),
            "{text:?}"
        );
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
