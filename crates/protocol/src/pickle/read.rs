//! The reader: a pickle virtual machine that knows only the opcodes of plain data.
//!
//! Values live in an arena and the stack holds indices into it, so that a memo reference
//! (`GET`) shares a value instead of copying it, and a list memoized while still empty (as
//! Python writes them) sees the items appended afterwards. [`Decoder::tree`] turns the result
//! into a [`Value`] under the depth, node and byte budgets, which also catches a list that
//! contains itself.

use std::collections::HashMap;

use super::text::{latin1, raw_unicode_escape, unquote, utf8};
use super::{MAX_BYTES, MAX_DEPTH, MAX_NODES, Value};

/// Why a message is not a pickle of plain data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("pickle data was truncated")]
    Truncated,
    #[error("unsupported pickle protocol: {0}")]
    Protocol(u8),
    #[error("opcode {name} at byte {at} is refused: only plain data is read")]
    Refused { name: &'static str, at: usize },
    #[error("invalid load key {byte:#04x} at byte {at}")]
    UnknownOpcode { byte: u8, at: usize },
    #[error("global '{module}.{name}' is refused: only plain data is read")]
    RefusedGlobal { module: String, name: String },
    #[error("nesting deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("more than {MAX_NODES} values or {MAX_BYTES} bytes of strings")]
    TooLarge,
    #[error("malformed pickle at byte {at}: {what}")]
    Malformed { what: &'static str, at: usize },
}

/// Decodes one pickle (the bytes after its `STOP` are ignored, as Python does).
pub fn decode(input: &[u8]) -> Result<Value, DecodeError> {
    let mut decoder = Decoder {
        input,
        pos: 0,
        arena: Vec::new(),
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
    };
    let root = decoder.run()?;
    let mut budget = Budget {
        nodes: MAX_NODES,
        bytes: MAX_BYTES,
    };
    decoder.tree(root, 0, &mut budget)
}

/// What a `GLOBAL` may name: the constructors Python uses for strings and bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Global {
    /// `builtins.str` (Python 3) or `__builtin__.unicode` (Python 2): fail2ban writes its
    /// addresses as `str('1.2.3.4')`.
    Str,
    /// `builtins.bytes`: `bytes()`, an empty `bytes` in protocols 0 to 2.
    Bytes,
    /// `_codecs.encode`: `encode('text', 'latin1')`, a `bytes` in protocols 0 to 2.
    Encode,
}

impl Global {
    fn find(module: &str, name: &str) -> Option<Global> {
        match (module, name) {
            ("builtins" | "__builtin__", "str" | "unicode") => Some(Global::Str),
            ("builtins" | "__builtin__", "bytes") => Some(Global::Bytes),
            ("_codecs", "encode") => Some(Global::Encode),
            _ => None,
        }
    }
}

#[derive(Debug)]
enum Node {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    List(Vec<usize>),
    Tuple(Vec<usize>),
    Dict(Vec<(usize, usize)>),
    Global(Global),
}

struct Budget {
    nodes: usize,
    bytes: usize,
}

struct Decoder<'a> {
    input: &'a [u8],
    pos: usize,
    arena: Vec<Node>,
    /// Indices into `arena`.
    stack: Vec<usize>,
    /// Stack lengths at each open `MARK`.
    marks: Vec<usize>,
    memo: HashMap<u32, usize>,
}

/// Opcodes that build objects other than plain data, refused by name.
const REFUSED: [(u8, &str); 18] = [
    (b'b', "BUILD"),
    (b'i', "INST"),
    (b'o', "OBJ"),
    (b'P', "PERSID"),
    (b'Q', "BINPERSID"),
    (0x81, "NEWOBJ"),
    (0x82, "EXT1"),
    (0x83, "EXT2"),
    (0x84, "EXT4"),
    (0x92, "NEWOBJ_EX"),
    (0x8f, "EMPTY_SET"),
    (0x90, "ADDITEMS"),
    (0x91, "FROZENSET"),
    (0x96, "BYTEARRAY8"),
    (0x97, "NEXT_BUFFER"),
    (0x98, "READONLY_BUFFER"),
    (b'\x00', "NUL"),
    (b'\n', "NEWLINE"),
];

impl<'a> Decoder<'a> {
    fn malformed<T>(&self, what: &'static str) -> Result<T, DecodeError> {
        Err(DecodeError::Malformed { what, at: self.pos })
    }

    /// Runs opcodes until `STOP`; returns the value on top of the stack.
    fn run(&mut self) -> Result<usize, DecodeError> {
        loop {
            let at = self.pos;
            let opcode = self.byte()?;
            if opcode == b'.' {
                return self.pop();
            }
            self.step(opcode, at)?;
        }
    }

    fn step(&mut self, opcode: u8, at: usize) -> Result<(), DecodeError> {
        match opcode {
            0x80 => self.proto(),
            0x95 => self.take(8).map(drop), // FRAME: a read-ahead hint, meaningless in a slice
            b'(' => self.mark(),
            b'0' => self.pop_or_mark(),
            b'1' => self.pop_mark().map(drop),
            b'2' => self.dup(),
            b'N' => self.push(Node::None),
            0x88 => self.push(Node::Bool(true)),
            0x89 => self.push(Node::Bool(false)),
            b'I' | b'L' | b'F' => self.text_number(opcode),
            b'J' | b'K' | b'M' | 0x8a | 0x8b | b'G' => self.binary_number(opcode),
            b'S' | b'V' | b'T' | b'U' | b'X' | 0x8c | 0x8d | b'B' | b'C' | 0x8e => {
                self.string(opcode)
            }
            b']' => self.push(Node::List(Vec::new())),
            b')' => self.push(Node::Tuple(Vec::new())),
            b'}' => self.push(Node::Dict(Vec::new())),
            b'l' => self.list_from_mark(),
            b't' => self.tuple_from_mark(),
            b'd' => self.dict_from_mark(),
            0x85..=0x87 => self.small_tuple(usize::from(opcode - 0x84)),
            b'a' => self.append(),
            b'e' => self.appends(),
            b's' => self.setitem(),
            b'u' => self.setitems(),
            b'p' | b'q' | b'r' | 0x94 => self.put(opcode),
            b'g' | b'h' | b'j' => self.get(opcode),
            b'c' => self.global(),
            0x93 => self.stack_global(),
            b'R' => self.reduce(),
            _ => Err(refused(opcode, at)),
        }
    }

    // --- input

    fn byte(&mut self) -> Result<u8, DecodeError> {
        let byte = *self.input.get(self.pos).ok_or(DecodeError::Truncated)?;
        self.pos += 1;
        Ok(byte)
    }

    /// `n` bytes; a declared length beyond the input is refused before anything is
    /// allocated.
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let input: &'a [u8] = self.input;
        let end = self.pos.checked_add(n).ok_or(DecodeError::Truncated)?;
        let bytes = input.get(self.pos..end).ok_or(DecodeError::Truncated)?;
        self.pos = end;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut array = [0; N];
        array.copy_from_slice(self.take(N)?);
        Ok(array)
    }

    /// A length in `width` little-endian bytes (1, 4 or 8).
    fn length(&mut self, width: usize) -> Result<usize, DecodeError> {
        let mut array = [0u8; 8];
        array[..width].copy_from_slice(self.take(width)?);
        usize::try_from(u64::from_le_bytes(array)).map_err(|_| DecodeError::Truncated)
    }

    /// The bytes up to the next newline (protocol 0's arguments).
    fn line_bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let input: &'a [u8] = self.input;
        let rest = input.get(self.pos..).unwrap_or_default();
        let end = rest
            .iter()
            .position(|b| *b == b'\n')
            .ok_or(DecodeError::Truncated)?;
        self.pos += end + 1;
        Ok(&rest[..end])
    }

    fn line(&mut self) -> Result<&'a str, DecodeError> {
        let at = self.pos;
        std::str::from_utf8(self.line_bytes()?).map_err(|_| DecodeError::Malformed {
            what: "a text argument is not UTF-8",
            at,
        })
    }

    // --- stack

    fn push(&mut self, node: Node) -> Result<(), DecodeError> {
        if self.arena.len() >= MAX_NODES {
            return Err(DecodeError::TooLarge);
        }
        self.arena.push(node);
        self.stack.push(self.arena.len() - 1);
        Ok(())
    }

    /// The stack length below which the current mark's segment begins.
    fn floor(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    fn pop(&mut self) -> Result<usize, DecodeError> {
        if self.stack.len() <= self.floor() {
            return self.malformed("stack underflow");
        }
        self.stack.pop().ok_or(DecodeError::Truncated)
    }

    fn top(&self) -> Result<usize, DecodeError> {
        match self.stack.last() {
            Some(index) if self.stack.len() > self.floor() => Ok(*index),
            _ => self.malformed("stack underflow"),
        }
    }

    fn mark(&mut self) -> Result<(), DecodeError> {
        if self.marks.len() >= MAX_DEPTH {
            return Err(DecodeError::TooDeep);
        }
        self.marks.push(self.stack.len());
        Ok(())
    }

    /// The items pushed since the last mark, which is removed.
    fn pop_mark(&mut self) -> Result<Vec<usize>, DecodeError> {
        let Some(floor) = self.marks.pop() else {
            return self.malformed("no mark on the stack");
        };
        Ok(self.stack.split_off(floor))
    }

    fn pop_or_mark(&mut self) -> Result<(), DecodeError> {
        if self.stack.len() > self.floor() {
            self.stack.pop();
            return Ok(());
        }
        self.pop_mark().map(drop)
    }

    fn dup(&mut self) -> Result<(), DecodeError> {
        let top = self.top()?;
        self.stack.push(top);
        Ok(())
    }

    fn proto(&mut self) -> Result<(), DecodeError> {
        match self.byte()? {
            0..=5 => Ok(()),
            version => Err(DecodeError::Protocol(version)),
        }
    }

    // --- scalars

    fn text_number(&mut self, opcode: u8) -> Result<(), DecodeError> {
        let at = self.pos;
        let text = self.line()?.trim_end();
        let node = match (opcode, text) {
            (b'I', "01") => Some(Node::Bool(true)),
            (b'I', "00") => Some(Node::Bool(false)),
            (b'I', digits) => digits.parse().ok().map(Node::Int),
            (b'L', digits) => digits
                .strip_suffix('L')
                .unwrap_or(digits)
                .parse()
                .ok()
                .map(Node::Int),
            (_, decimal) => decimal.parse().ok().map(Node::Float),
        };
        match node {
            Some(node) => self.push(node),
            None => Err(DecodeError::Malformed {
                what: "a number out of range or not a number",
                at,
            }),
        }
    }

    fn binary_number(&mut self, opcode: u8) -> Result<(), DecodeError> {
        let node = match opcode {
            b'K' => Node::Int(i64::from(self.byte()?)),
            b'M' => Node::Int(i64::from(u16::from_le_bytes(self.array()?))),
            b'J' => Node::Int(i64::from(i32::from_le_bytes(self.array()?))),
            b'G' => Node::Float(f64::from_be_bytes(self.array()?)),
            _ => {
                let width = if opcode == 0x8a { 1 } else { 4 };
                let length = self.length(width)?;
                Node::Int(self.long(length)?)
            }
        };
        self.push(node)
    }

    /// `LONG1`/`LONG4`: little-endian two's complement, as long as it fits in an `i64`.
    fn long(&mut self, length: usize) -> Result<i64, DecodeError> {
        let at = self.pos;
        let bytes = self.take(length)?;
        if bytes.len() > 8 {
            return Err(DecodeError::Malformed {
                what: "an integer wider than 64 bits",
                at,
            });
        }
        let negative = bytes.last().is_some_and(|b| b & 0x80 != 0);
        let mut array = [if negative { 0xff } else { 0 }; 8];
        array[..bytes.len()].copy_from_slice(bytes);
        Ok(i64::from_le_bytes(array))
    }

    fn string(&mut self, opcode: u8) -> Result<(), DecodeError> {
        let at = self.pos;
        let node = match opcode {
            b'S' => Node::Str(utf8(unquote(self.line()?, at)?, at)?),
            b'V' => Node::Str(raw_unicode_escape(self.line_bytes()?, at)?),
            b'U' | b'C' | 0x8c => {
                let length = self.length(1)?;
                self.counted(opcode, length, at)?
            }
            b'T' | b'X' | b'B' => {
                let length = self.length(4)?;
                self.counted(opcode, length, at)?
            }
            _ => {
                let length = self.length(8)?;
                self.counted(opcode, length, at)?
            }
        };
        self.push(node)
    }

    /// A length-prefixed string: `bytes` for `B`, `C` and `BINBYTES8`; text for the others
    /// (Python 2's `str`, `T` and `U`, is read as text, as fail2ban's server does).
    fn counted(&mut self, opcode: u8, length: usize, at: usize) -> Result<Node, DecodeError> {
        let bytes = self.take(length)?.to_vec();
        match opcode {
            b'B' | b'C' | 0x8e => Ok(Node::Bytes(bytes)),
            _ => utf8(bytes, at).map(Node::Str),
        }
    }

    // --- containers

    fn list_from_mark(&mut self) -> Result<(), DecodeError> {
        let items = self.pop_mark()?;
        self.push(Node::List(items))
    }

    fn tuple_from_mark(&mut self) -> Result<(), DecodeError> {
        let items = self.pop_mark()?;
        self.push(Node::Tuple(items))
    }

    fn dict_from_mark(&mut self) -> Result<(), DecodeError> {
        let items = self.pop_mark()?;
        let pairs = self.pairs(items)?;
        self.push(Node::Dict(pairs))
    }

    fn small_tuple(&mut self, size: usize) -> Result<(), DecodeError> {
        if self.stack.len() < self.floor() + size {
            return self.malformed("stack underflow");
        }
        let items = self.stack.split_off(self.stack.len() - size);
        self.push(Node::Tuple(items))
    }

    fn pairs(&self, items: Vec<usize>) -> Result<Vec<(usize, usize)>, DecodeError> {
        if !items.len().is_multiple_of(2) {
            return self.malformed("a dict with a key and no value");
        }
        Ok(items.chunks(2).map(|pair| (pair[0], pair[1])).collect())
    }

    fn append(&mut self) -> Result<(), DecodeError> {
        let item = self.pop()?;
        self.extend_list(vec![item])
    }

    fn appends(&mut self) -> Result<(), DecodeError> {
        let items = self.pop_mark()?;
        self.extend_list(items)
    }

    fn extend_list(&mut self, items: Vec<usize>) -> Result<(), DecodeError> {
        let list = self.top()?;
        match self.arena.get_mut(list) {
            Some(Node::List(existing)) => {
                existing.extend(items);
                Ok(())
            }
            _ => self.malformed("append to something not a list"),
        }
    }

    fn setitem(&mut self) -> Result<(), DecodeError> {
        let value = self.pop()?;
        let key = self.pop()?;
        self.extend_dict(vec![(key, value)])
    }

    fn setitems(&mut self) -> Result<(), DecodeError> {
        let items = self.pop_mark()?;
        let pairs = self.pairs(items)?;
        self.extend_dict(pairs)
    }

    fn extend_dict(&mut self, pairs: Vec<(usize, usize)>) -> Result<(), DecodeError> {
        let dict = self.top()?;
        match self.arena.get_mut(dict) {
            Some(Node::Dict(existing)) => {
                existing.extend(pairs);
                Ok(())
            }
            _ => self.malformed("setitem on something not a dict"),
        }
    }

    // --- memo

    fn memo_id(&mut self, opcode: u8) -> Result<u32, DecodeError> {
        let at = self.pos;
        match opcode {
            b'p' | b'g' => self.line()?.parse().map_err(|_| DecodeError::Malformed {
                what: "a memo key is not a number",
                at,
            }),
            b'q' | b'h' => self.byte().map(u32::from),
            b'r' | b'j' => self.array().map(u32::from_le_bytes),
            _ => u32::try_from(self.memo.len()).map_err(|_| DecodeError::TooLarge),
        }
    }

    fn put(&mut self, opcode: u8) -> Result<(), DecodeError> {
        let id = self.memo_id(opcode)?;
        let top = self.top()?;
        if self.memo.len() >= MAX_NODES {
            return Err(DecodeError::TooLarge);
        }
        self.memo.insert(id, top);
        Ok(())
    }

    fn get(&mut self, opcode: u8) -> Result<(), DecodeError> {
        let id = self.memo_id(opcode)?;
        match self.memo.get(&id) {
            Some(index) => {
                self.stack.push(*index);
                Ok(())
            }
            None => self.malformed("a memo reference to nothing"),
        }
    }

    // --- the three allowed globals

    fn global(&mut self) -> Result<(), DecodeError> {
        let module = self.line()?.to_string();
        let name = self.line()?.to_string();
        self.push_global(&module, &name)
    }

    fn stack_global(&mut self) -> Result<(), DecodeError> {
        let name = self.pop()?;
        let module = self.pop()?;
        match (&self.arena[module], &self.arena[name]) {
            (Node::Str(module), Node::Str(name)) => {
                let (module, name) = (module.clone(), name.clone());
                self.push_global(&module, &name)
            }
            _ => self.malformed("STACK_GLOBAL needs two strings"),
        }
    }

    fn push_global(&mut self, module: &str, name: &str) -> Result<(), DecodeError> {
        match Global::find(module, name) {
            Some(global) => self.push(Node::Global(global)),
            None => Err(DecodeError::RefusedGlobal {
                module: module.to_string(),
                name: name.to_string(),
            }),
        }
    }

    fn reduce(&mut self) -> Result<(), DecodeError> {
        let args = self.pop()?;
        let callable = self.pop()?;
        let Some(Node::Global(global)) = self.arena.get(callable) else {
            return self.malformed("REDUCE of something not a callable");
        };
        let Some(Node::Tuple(args)) = self.arena.get(args) else {
            return self.malformed("REDUCE arguments are not a tuple");
        };
        let args: Vec<&Node> = args.iter().filter_map(|i| self.arena.get(*i)).collect();
        let node = match (global, args.as_slice()) {
            (Global::Str, []) => Node::Str(String::new()),
            (Global::Str, [Node::Str(text)]) => Node::Str(text.clone()),
            (Global::Bytes, []) => Node::Bytes(Vec::new()),
            (Global::Bytes, [Node::Bytes(bytes)]) => Node::Bytes(bytes.clone()),
            (Global::Encode, [Node::Str(text), Node::Str(codec)])
                if matches!(codec.as_str(), "latin1" | "latin-1") =>
            {
                match latin1(text) {
                    Some(bytes) => Node::Bytes(bytes),
                    None => return self.malformed("a latin1 string beyond U+00FF"),
                }
            }
            _ => return self.malformed("unexpected arguments to str, bytes or encode"),
        };
        self.push(node)
    }

    // --- the result

    /// The arena value at `index` as a tree, charged to `budget`.
    fn tree(&self, index: usize, depth: usize, budget: &mut Budget) -> Result<Value, DecodeError> {
        if depth > MAX_DEPTH {
            return Err(DecodeError::TooDeep);
        }
        budget.nodes = budget.nodes.checked_sub(1).ok_or(DecodeError::TooLarge)?;
        let mut child = |index: usize| self.tree(index, depth + 1, budget);
        let value = match self.arena.get(index) {
            None => return Err(DecodeError::TooLarge),
            Some(Node::None) => Value::None,
            Some(Node::Bool(b)) => Value::Bool(*b),
            Some(Node::Int(n)) => Value::Int(*n),
            Some(Node::Float(f)) => Value::Float(*f),
            Some(Node::Str(text)) => {
                return charge(budget, text.len(), || Value::Str(text.clone()));
            }
            Some(Node::Bytes(bytes)) => {
                return charge(budget, bytes.len(), || Value::Bytes(bytes.clone()));
            }
            Some(Node::List(items)) => {
                Value::List(items.iter().map(|i| child(*i)).collect::<Result<_, _>>()?)
            }
            Some(Node::Tuple(items)) => {
                Value::Tuple(items.iter().map(|i| child(*i)).collect::<Result<_, _>>()?)
            }
            Some(Node::Dict(pairs)) => Value::Dict(
                pairs
                    .iter()
                    .map(|(k, v)| Ok((child(*k)?, child(*v)?)))
                    .collect::<Result<_, DecodeError>>()?,
            ),
            Some(Node::Global(_)) => {
                return Err(DecodeError::Malformed {
                    what: "a bare class in the data",
                    at: 0,
                });
            }
        };
        Ok(value)
    }
}

fn charge(
    budget: &mut Budget,
    bytes: usize,
    make: impl FnOnce() -> Value,
) -> Result<Value, DecodeError> {
    budget.bytes = budget
        .bytes
        .checked_sub(bytes)
        .ok_or(DecodeError::TooLarge)?;
    Ok(make())
}

fn refused(opcode: u8, at: usize) -> DecodeError {
    match REFUSED.iter().find(|(byte, _)| *byte == opcode) {
        Some((_, name)) => DecodeError::Refused { name, at },
        None => DecodeError::UnknownOpcode { byte: opcode, at },
    }
}
