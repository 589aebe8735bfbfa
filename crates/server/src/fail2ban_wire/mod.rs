//! fail2ban's own dialect on the control socket, for fail2ban-client and the tools written
//! against fail2ban's socket (Prometheus exporters, `csocket` scripts).
//!
//! Every connection starts in [`serve_connection`], which tells the dialect from its first
//! byte and hands a JSON request to `control`. [`Connection::serve`] reads its messages one after another, each ended by
//! `<F2B_END_COMMAND>`, until `<F2B_CLOSE_COMMAND>` or the end of the stream. A message that
//! is not a command ferroban can run is answered right here, without reaching the registry;
//! a command goes to the server's loop like a JSON request, and [`answer`] runs it through
//! the same `control::execute`, shapes the reply as fail2ban's server would ([`shape`]),
//! writes it, and hands the connection's write half back for the next message.
//!
//! Between messages a connection may stay idle as long as it likes, as with fail2ban (some
//! exporters keep one open for their whole life); it holds a read permit only while a
//! message is arriving, and a message must arrive whole within `REQUEST_TIMEOUT` and
//! `MAX_REQUEST` bytes.

mod shape;

/// The longest message read from a fail2ban client: fail2ban's own client sends commands
/// of a few words (ferroban's JSON requests may be longer, for blocklists).
const MAX_REQUEST: u64 = 1 << 20;

use ferroban_protocol::Command;
use ferroban_protocol::fail2ban::{self, CLOSE_COMMAND, END_COMMAND};
use ferroban_protocol::pickle::Value;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc::Sender;
use tokio::sync::{OwnedSemaphorePermit, oneshot};

use crate::control::{self, Flow, REQUEST_TIMEOUT};
use crate::registry::SharedRegistry;

/// The permits to read a request: how many are read at the same time.
pub(crate) type Readers = std::sync::Arc<tokio::sync::Semaphore>;

/// Serves one connection: the server runs this in a task of its own per connection, so a
/// client that is slow to send (or sends nothing) never holds up the others; only the
/// requests run in tasks of their own too (`control::execute` says which wait for which).
///
/// The first byte tells the dialect, so that ferroban's client (and `--json`) and fail2ban's
/// clients share one socket with nothing to configure: ferroban's JSON request always starts
/// with `{`, a fail2ban client's pickle never does (`fail2ban::starts_pickle`).
pub(crate) async fn serve_connection(
    stream: UnixStream,
    to: Sender<control::Incoming>,
    readers: Readers,
) {
    let (read, reply_to) = stream.into_split();
    let mut reader = BufReader::new(read);
    // A connection that has sent nothing yet holds no read permit: idle clients cost a
    // task each and hold up nobody.
    let first = match tokio::time::timeout(REQUEST_TIMEOUT, reader.fill_buf()).await {
        Ok(Ok([first, ..])) => *first,
        _ => return,
    };
    let Ok(permit) = readers.clone().acquire_owned().await else {
        return;
    };
    if fail2ban::starts_pickle(first) {
        return Connection::new(reader, reply_to, to, readers)
            .serve(permit)
            .await;
    }
    if let Some(request) = control::read_request(reader, reply_to).await {
        let _ = to.send(request).await;
    }
}

/// A command read from a fail2ban client, with the connection's write half, which returns
/// through `give_back` once the reply is written.
pub(crate) struct Incoming {
    command: Command,
    reply_to: OwnedWriteHalf,
    give_back: oneshot::Sender<OwnedWriteHalf>,
}

/// One fail2ban client's connection.
pub(crate) struct Connection {
    reader: BufReader<OwnedReadHalf>,
    writer: Option<OwnedWriteHalf>,
    to: Sender<control::Incoming>,
    readers: Readers,
}

/// Why a message could not be read.
#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    #[error("the connection ended inside a message")]
    Truncated,
    #[error("message longer than {MAX_REQUEST} bytes")]
    TooLong,
    #[error("message not completed within {} seconds", REQUEST_TIMEOUT.as_secs())]
    Timeout,
}

impl Connection {
    pub(crate) fn new(
        reader: BufReader<OwnedReadHalf>,
        writer: OwnedWriteHalf,
        to: Sender<control::Incoming>,
        readers: Readers,
    ) -> Connection {
        Connection {
            reader,
            writer: Some(writer),
            to,
            readers,
        }
    }

    /// Answers messages until the client closes; `permit` covers the first one.
    pub(crate) async fn serve(mut self, permit: OwnedSemaphorePermit) {
        let mut permit = Some(permit);
        loop {
            let permit = match permit.take() {
                Some(permit) => permit,
                None => match self.next_permit().await {
                    Some(permit) => permit,
                    None => return,
                },
            };
            let message = tokio::time::timeout(REQUEST_TIMEOUT, read_message(&mut self.reader))
                .await
                .unwrap_or(Err(ReadError::Timeout));
            drop(permit);
            let keep_going = match message {
                Ok(None) => false,
                Ok(Some(message)) if message == CLOSE_COMMAND => false,
                Ok(Some(message)) => self.command(&message).await,
                // Answered so the client sees why, then closed: the stream is out of step.
                Err(ReadError::Io(_)) => false,
                Err(error) => {
                    let _ = self.write(Err(shape::error(error.to_string()))).await;
                    false
                }
            };
            if !keep_going {
                return;
            }
        }
    }

    /// Waits, without limit, for the next message to begin, then for a read permit.
    async fn next_permit(&mut self) -> Option<OwnedSemaphorePermit> {
        match self.reader.fill_buf().await {
            Ok([_, ..]) => self.readers.clone().acquire_owned().await.ok(),
            _ => None,
        }
    }

    /// Runs one message; whether the connection goes on.
    async fn command(&mut self, message: &[u8]) -> bool {
        match fail2ban::command(message) {
            Ok(command) => self.run(command).await,
            Err(error) => self.write(Err(shape::args_error(&error))).await,
        }
    }

    /// Sends a command to the server's loop and waits for the write half to come back.
    async fn run(&mut self, command: Command) -> bool {
        let Some(reply_to) = self.writer.take() else {
            return false;
        };
        let (give_back, back) = oneshot::channel();
        let incoming = Incoming {
            command,
            reply_to,
            give_back,
        };
        if self
            .to
            .send(control::Incoming::Fail2ban(incoming))
            .await
            .is_err()
        {
            return false;
        }
        match back.await {
            Ok(writer) => {
                self.writer = Some(writer);
                true
            }
            Err(_) => false,
        }
    }

    async fn write(&mut self, result: Result<Value, Value>) -> bool {
        let Some(writer) = self.writer.as_mut() else {
            return false;
        };
        send(writer, &fail2ban::reply(result)).await
    }
}

/// Writes a reply within `REQUEST_TIMEOUT`: a client that does not read is dropped.
async fn send(writer: &mut OwnedWriteHalf, bytes: &[u8]) -> bool {
    let write = async {
        writer.write_all(bytes).await?;
        writer.flush().await
    };
    matches!(
        tokio::time::timeout(REQUEST_TIMEOUT, write).await,
        Ok(Ok(()))
    )
}

/// Reads up to the next `END_COMMAND`; `None` when the stream ends between messages. What
/// follows the marker stays in the reader for the next message.
async fn read_message(
    reader: &mut (impl AsyncBufRead + Unpin),
) -> Result<Option<Vec<u8>>, ReadError> {
    let mut message = Vec::new();
    loop {
        let chunk = reader.fill_buf().await?;
        if chunk.is_empty() {
            return if message.is_empty() {
                Ok(None)
            } else {
                Err(ReadError::Truncated)
            };
        }
        let (before, read) = (message.len(), chunk.len());
        message.extend_from_slice(chunk);
        // The marker may straddle two reads: search from just before this one.
        let from = before.saturating_sub(END_COMMAND.len() - 1);
        if let Some(at) = find(&message[from..], END_COMMAND) {
            let end = from + at;
            reader.consume(end + END_COMMAND.len() - before);
            message.truncate(end);
            return Ok(Some(message));
        }
        reader.consume(read);
        if message.len() as u64 > MAX_REQUEST {
            return Err(ReadError::TooLong);
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// Runs a fail2ban client's command and sends the reply, as `control::answer` does for
/// JSON: from a task of its own, bounded in time, or inline when the server is about to
/// exit, so that `stop` is answered.
pub(crate) async fn answer(incoming: Incoming, registry: &SharedRegistry) -> Flow {
    let Incoming {
        command,
        mut reply_to,
        give_back,
    } = incoming;
    let (result, flow) = run(command, registry).await;
    let bytes = fail2ban::reply(result);
    let reply = async move {
        if send(&mut reply_to, &bytes).await {
            let _ = give_back.send(reply_to);
        }
    };
    if flow == Flow::Exit {
        reply.await;
    } else {
        tokio::spawn(reply);
    }
    flow
}

/// The command's result as fail2ban's server gives it: a value, or an exception.
async fn run(command: Command, registry: &SharedRegistry) -> (Result<Value, Value>, Flow) {
    // fail2ban looks the jail up first and raises `UnknownJailException`, which its client
    // prints as "Sorry but the jail 'x' does not exist". A reload names a jail of the
    // configuration, which need not run yet: `execute` decides. (The lock is let go before
    // `execute` takes its own.)
    if let Some(name) = command.jail()
        && !matches!(command, Command::Reload { .. })
        && !registry.read().await.jails.contains_key(name)
    {
        return (Err(shape::unknown_jail(name)), Flow::Continue);
    }
    let (response, flow) = control::execute(shape::as_executed(&command), registry).await;
    (shape::result(&command, response), flow)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn messages(input: &[u8], capacity: usize) -> Vec<Result<Option<Vec<u8>>, String>> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut reader = BufReader::with_capacity(capacity, input);
            let mut out = Vec::new();
            loop {
                let message = read_message(&mut reader).await.map_err(|e| e.to_string());
                let done = !matches!(message, Ok(Some(_)));
                out.push(message);
                if done {
                    return out;
                }
            }
        })
    }

    #[test]
    fn messages_split_at_markers_however_the_bytes_arrive() {
        let input =
            b"first<F2B_END_COMMAND>second<F2B_END_COMMAND><F2B_CLOSE_COMMAND><F2B_END_COMMAND>";
        for capacity in [1, 3, 7, 16, 1024] {
            assert_eq!(
                messages(input, capacity),
                vec![
                    Ok(Some(b"first".to_vec())),
                    Ok(Some(b"second".to_vec())),
                    Ok(Some(CLOSE_COMMAND.to_vec())),
                    Ok(None),
                ],
                "reads of {capacity} bytes"
            );
        }
    }

    #[test]
    fn a_cut_or_endless_message_is_an_error() {
        assert_eq!(
            messages(b"half<F2B_END_COMM", 8),
            vec![Err("the connection ended inside a message".to_string())]
        );
        let endless = vec![b'N'; (MAX_REQUEST + 100) as usize];
        let result = messages(&endless, 8192);
        assert_eq!(
            result,
            vec![Err(format!("message longer than {MAX_REQUEST} bytes"))]
        );
    }
}
