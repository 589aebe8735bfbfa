//! A failure's captured tags, packed into one small allocation.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::{PoisonError, RwLock};

use thin_vec::ThinVec;

/// A failure's captured tags (`user`, `ip4`, `F-*` groups...), packed into one allocation.
///
/// A jail holds a window for every address that failed within `findtime` (with a long
/// `findtime`, tens of thousands) and a ban for every banned address, each with the tags of
/// its first failure. As a `BTreeMap` of short strings they cost some 800 bytes and an
/// allocation per string. Packed, each tag is a one-byte key (an index into the names seen
/// in this process), its value's length and the value's text: sshd's four tags take some
/// 50 bytes, behind a one-word pointer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FailureData {
    /// Per tag: the key's index in `NAMES` (or `INLINE_KEY`, the key's length and text),
    /// then the value's length and text. Lengths are LEB128.
    packed: ThinVec<u8>,
}

/// Group names met while packing, by index. They come from the configuration's regexes,
/// never from log lines, so the table stays small; past 255 names a key is written out.
static NAMES: RwLock<Vec<&'static str>> = RwLock::new(Vec::new());

thread_local! {
    /// This thread's copy of a prefix of `NAMES`: packing looks here first, without a lock.
    static KNOWN: RefCell<Vec<&'static str>> = const { RefCell::new(Vec::new()) };
}

/// The key byte of a key written out in full.
const INLINE_KEY: u8 = u8::MAX;

/// The key byte of `name`, interning it on first sight.
fn key_byte(name: &str) -> u8 {
    let find = |names: &[&'static str]| names.iter().position(|known| *known == name);
    KNOWN.with_borrow_mut(|known| {
        if let Some(index) = find(known) {
            return u8::try_from(index).unwrap_or(INLINE_KEY);
        }
        let mut names = NAMES.write().unwrap_or_else(PoisonError::into_inner);
        let index = match find(&names) {
            Some(index) => index,
            None if names.len() < usize::from(INLINE_KEY) => {
                // Leaked on purpose: one short string per group name, for the process's life.
                names.push(Box::leak(name.into()));
                names.len() - 1
            }
            None => return INLINE_KEY,
        };
        known.clone_from(&names);
        u8::try_from(index).unwrap_or(INLINE_KEY)
    })
}

fn key_name(byte: u8) -> Option<&'static str> {
    let names = NAMES.read().unwrap_or_else(PoisonError::into_inner);
    names.get(usize::from(byte)).copied()
}

fn length_size(mut n: usize) -> usize {
    let mut size = 1;
    while n >= 0x80 {
        n >>= 7;
        size += 1;
    }
    size
}

fn push_length(out: &mut ThinVec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n & 0x7f) as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Reads a length written by `push_length` at `*pos`, moving past it.
fn read_length(bytes: &[u8], pos: &mut usize) -> Option<usize> {
    let mut n = 0usize;
    for shift in (0..usize::BITS).step_by(7) {
        let byte = *bytes.get(*pos)?;
        *pos += 1;
        n |= usize::from(byte & 0x7f).checked_shl(shift)?;
        if byte & 0x80 == 0 {
            return Some(n);
        }
    }
    None
}

/// Reads a length and that many bytes as text.
fn read_text(bytes: &[u8], pos: &mut usize) -> Option<String> {
    let length = read_length(bytes, pos)?;
    let text = bytes.get(*pos..pos.checked_add(length)?)?;
    *pos += length;
    String::from_utf8(text.to_vec()).ok()
}

impl FailureData {
    /// The tags as a map.
    pub fn to_map(&self) -> BTreeMap<String, String> {
        let bytes = &self.packed[..];
        let mut data = BTreeMap::new();
        let mut pos = 0;
        while let Some(&byte) = bytes.get(pos) {
            pos += 1;
            let key = match byte {
                INLINE_KEY => read_text(bytes, &mut pos),
                index => key_name(index).map(str::to_owned),
            };
            let (Some(key), Some(value)) = (key, read_text(bytes, &mut pos)) else {
                break;
            };
            data.insert(key, value);
        }
        data
    }

    pub fn is_empty(&self) -> bool {
        self.packed.is_empty()
    }
}

impl From<&BTreeMap<String, String>> for FailureData {
    fn from(data: &BTreeMap<String, String>) -> Self {
        let keys: Vec<u8> = data.keys().map(|key| key_byte(key)).collect();
        let text_size = |text: &str| length_size(text.len()) + text.len();
        let size = data
            .iter()
            .zip(&keys)
            .map(|((key, value), byte)| {
                let key_size = if *byte == INLINE_KEY {
                    text_size(key)
                } else {
                    0
                };
                1 + key_size + text_size(value)
            })
            .sum();
        // Exactly the size needed: the allocation is the tags' whole cost.
        let mut packed = ThinVec::with_capacity(size);
        for ((key, value), byte) in data.iter().zip(keys) {
            packed.push(byte);
            if byte == INLINE_KEY {
                push_length(&mut packed, key.len());
                packed.extend_from_slice(key.as_bytes());
            }
            push_length(&mut packed, value.len());
            packed.extend_from_slice(value.as_bytes());
        }
        FailureData { packed }
    }
}

impl From<BTreeMap<String, String>> for FailureData {
    fn from(data: BTreeMap<String, String>) -> Self {
        FailureData::from(&data)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn packed_data_gives_back_what_was_packed() {
        let long = "x".repeat(300);
        let data = map(&[
            ("user", "a\0b"),
            ("empty", ""),
            ("", "x"),
            ("ip4", "192.0.2.1"),
            ("utf8", "jürgen ☃"),
            ("long", &long),
        ]);
        assert_eq!(FailureData::from(&data).to_map(), data);
        assert!(FailureData::from(&BTreeMap::new()).to_map().is_empty());
        assert!(FailureData::from(&BTreeMap::new()).is_empty());
    }

    #[test]
    fn a_known_key_takes_one_byte() {
        let data = map(&[("user", "ubuntu"), ("ip4", "198.51.100.12")]);
        let packed = FailureData::from(&data);
        // key, length, text per tag
        assert_eq!(packed.packed.len(), (1 + 1 + 6) + (1 + 1 + 13));
    }

    #[test]
    fn keys_past_the_table_are_written_out() {
        let many: BTreeMap<String, String> = (0..300)
            .map(|n| (format!("group{n}"), n.to_string()))
            .collect();
        assert_eq!(FailureData::from(&many).to_map(), many);
        // Threads other than the one that interned a name find it too.
        let again = many.clone();
        let thread = std::thread::spawn(move || FailureData::from(&again).to_map());
        assert_eq!(thread.join().unwrap(), many);
    }

    proptest::proptest! {
        #[test]
        fn any_tags_come_back_as_packed(
            data in proptest::collection::btree_map(".{0,12}", ".{0,200}", 0..8)
        ) {
            proptest::prop_assert_eq!(FailureData::from(&data).to_map(), data);
        }
    }

    #[test]
    fn truncated_data_gives_what_it_holds() {
        let data = map(&[("a", "1"), ("b", "2")]);
        let mut packed = FailureData::from(&data);
        packed.packed.truncate(packed.packed.len() - 1);
        assert_eq!(packed.to_map(), map(&[("a", "1")]));
    }
}
