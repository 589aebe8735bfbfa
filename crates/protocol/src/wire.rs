//! Framing: one JSON document per line.

use std::io::{BufRead, Write};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::Command;

/// The longest message accepted, so a stray client cannot make the daemon buffer without end.
const MAX_MESSAGE: usize = 4 << 20;

/// What a client sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub command: Command,
}

/// Reading or writing a message failed.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    #[error("malformed message: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("the peer closed the connection without a message")]
    Closed,
    #[error("message longer than {MAX_MESSAGE} bytes")]
    TooLong,
}

/// Writes `message` as one line and flushes.
pub fn write_message<T: Serialize>(writer: &mut impl Write, message: &T) -> Result<(), WireError> {
    let mut line = serde_json::to_vec(message)?;
    line.push(b'\n');
    writer.write_all(&line)?;
    writer.flush()?;
    Ok(())
}

/// Reads one line and parses it.
pub fn read_message<T: DeserializeOwned>(reader: &mut impl BufRead) -> Result<T, WireError> {
    let mut line = Vec::new();
    let mut limited = std::io::Read::take(&mut *reader, MAX_MESSAGE as u64 + 1);
    let read = limited.read_until(b'\n', &mut line)?;
    if read == 0 {
        return Err(WireError::Closed);
    }
    if line.len() > MAX_MESSAGE {
        return Err(WireError::TooLong);
    }
    Ok(serde_json::from_slice(&line)?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::{Reply, Response};

    #[test]
    fn request_and_response_round_trip() {
        let request = Request {
            command: Command::BanIp {
                jail: "sshd".into(),
                ids: vec!["1.2.3.4".into()],
            },
        };
        let mut buffer = Vec::new();
        write_message(&mut buffer, &request).unwrap();
        assert_eq!(buffer.iter().filter(|b| **b == b'\n').count(), 1);
        let back: Request = read_message(&mut buffer.as_slice()).unwrap();
        assert_eq!(back, request);

        let response = Response::Ok(Reply::Number(1));
        let mut buffer = Vec::new();
        write_message(&mut buffer, &response).unwrap();
        let back: Response = read_message(&mut buffer.as_slice()).unwrap();
        assert_eq!(back, response);
    }

    #[test]
    fn empty_stream_is_closed() {
        let result: Result<Request, _> = read_message(&mut &b""[..]);
        assert!(matches!(result, Err(WireError::Closed)));
    }
}
