//! The writer: replies in pickle protocol 2.
//!
//! fail2ban's server dumps with `HIGHEST_PROTOCOL` (5 on Python 3.8+). ferroban answers in
//! protocol 2 whatever the request's protocol: every Python since 2.3 reads it (`loads`
//! detects the protocol), and so does every Go pickle library the exporters use, while a
//! protocol-2 client would choke on protocol 4's `FRAME` and `SHORT_BINUNICODE`. Answering
//! in the request's protocol would buy nothing a reader could see: the value is the same.

use super::Value;

/// `value` as a protocol-2 pickle, `PROTO 2` to `STOP`.
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = vec![0x80, 2];
    write(value, &mut out);
    out.push(b'.');
    out
}

fn write(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::None => out.push(b'N'),
        Value::Bool(true) => out.push(0x88),
        Value::Bool(false) => out.push(0x89),
        Value::Int(number) => int(*number, out),
        Value::Float(number) => {
            out.push(b'G');
            out.extend(number.to_be_bytes());
        }
        Value::Str(text) => unicode(text, out),
        Value::Bytes(bytes) => latin1_bytes(bytes, out),
        Value::List(items) => {
            out.push(b']');
            if !items.is_empty() {
                out.push(b'(');
                items.iter().for_each(|item| write(item, out));
                out.push(b'e');
            }
        }
        Value::Tuple(items) => tuple(items, out),
        Value::Dict(pairs) => {
            out.push(b'}');
            if !pairs.is_empty() {
                out.push(b'(');
                for (key, value) in pairs {
                    write(key, out);
                    write(value, out);
                }
                out.push(b'u');
            }
        }
        Value::Exception {
            module,
            class,
            args,
        } => {
            global(module, class, out);
            tuple(args, out);
            out.push(b'R');
        }
    }
}

fn int(number: i64, out: &mut Vec<u8>) {
    if let Ok(small) = u8::try_from(number) {
        out.extend([b'K', small]);
    } else if let Ok(medium) = u16::try_from(number) {
        out.push(b'M');
        out.extend(medium.to_le_bytes());
    } else if let Ok(word) = i32::try_from(number) {
        out.push(b'J');
        out.extend(word.to_le_bytes());
    } else {
        // LONG1: the shortest little-endian two's complement.
        let bytes = number.to_le_bytes();
        let mut length = 8;
        while length > 1 {
            let (last, below) = (bytes[length - 1], bytes[length - 2]);
            let redundant = (last == 0 && below & 0x80 == 0) || (last == 0xff && below & 0x80 != 0);
            if !redundant {
                break;
            }
            length -= 1;
        }
        out.extend([0x8a, length as u8]);
        out.extend(&bytes[..length]);
    }
}

fn unicode(text: &str, out: &mut Vec<u8>) {
    out.push(b'X');
    out.extend((text.len() as u32).to_le_bytes());
    out.extend(text.as_bytes());
}

/// Protocol 2 has no bytes type: Python 3 writes `_codecs.encode('…', 'latin1')`.
fn latin1_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    global("_codecs", "encode", out);
    let text: String = bytes.iter().map(|b| char::from(*b)).collect();
    unicode(&text, out);
    unicode("latin1", out);
    out.extend([0x86, b'R']);
}

fn global(module: &str, name: &str, out: &mut Vec<u8>) {
    out.push(b'c');
    out.extend(module.as_bytes());
    out.push(b'\n');
    out.extend(name.as_bytes());
    out.push(b'\n');
}

fn tuple(items: &[Value], out: &mut Vec<u8>) {
    match items.len() {
        0 => out.push(b')'),
        1..=3 => {
            items.iter().for_each(|item| write(item, out));
            out.push(0x84 + items.len() as u8);
        }
        _ => {
            out.push(b'(');
            items.iter().for_each(|item| write(item, out));
            out.push(b't');
        }
    }
}
