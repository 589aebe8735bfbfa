//! Python's pickle format, as far as fail2ban's socket needs it: plain data only.
//!
//! fail2ban's clients send a pickled list of argument strings and read back a pickled
//! `(code, value)` tuple. [`decode`] reads what they send, in any protocol from 0 to 5, into a
//! [`Value`]; [`encode`] writes a reply in protocol 2.
//!
//! Why not `serde-pickle`: it keeps unknown classes as opaque objects instead of refusing them,
//! copies a memoized value at every reference (a few hundred bytes of `BINGET`s expand into
//! gigabytes), has no nesting limit, and does not know `builtins.str(...)`, which fail2ban
//! itself writes for every banned address. The reader here runs no code by construction: it
//! builds data in an arena, where a memo reference is an index (shared, not copied), and only
//! turns the result into a tree at the end, under a budget of nodes, bytes and depth.

mod read;
mod text;
mod write;

pub use read::{DecodeError, decode};
pub use write::encode;

/// The deepest nesting of containers read (fail2ban's deepest request, `reload` with its
/// command stream, nests three levels).
pub const MAX_DEPTH: usize = 32;

/// The most values one message may build (each string, number and container is one).
pub const MAX_NODES: usize = 1 << 18;

/// The most bytes of string data one message may expand to, memo references counted at
/// every use.
pub const MAX_BYTES: usize = 4 << 20;

/// A Python value of the kinds fail2ban's protocol carries.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    List(Vec<Value>),
    Tuple(Vec<Value>),
    /// Keys and values in the order they were pickled (Python dicts keep insertion order).
    Dict(Vec<(Value, Value)>),
    /// An exception instance, `module.class(*args)`: written for error replies, never read
    /// (reading a class is what [`decode`] refuses).
    Exception {
        module: String,
        class: String,
        args: Vec<Value>,
    },
}

impl Value {
    /// A `str`.
    pub fn str(text: impl Into<String>) -> Value {
        Value::Str(text.into())
    }

    /// The text of a `str`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(text) => Some(text),
            _ => None,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
