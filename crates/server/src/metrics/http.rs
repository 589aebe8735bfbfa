//! The opt-in HTTP endpoint: `GET /metrics` on the daemon's runtime, beside the control
//! socket. No HTTP crate is in the tree and one route needs none: this is a minimal
//! HTTP/1.1 handler, one request per connection, built to meet hostile clients — the
//! request head is bounded ([`MAX_HEAD`]), a connection has [`CONNECTION_TIMEOUT`] for all
//! of it (a slowloris client is cut off), at most [`MAX_CONNECTIONS`] are served at once
//! (more are closed at once) and nothing a client sends can panic it. The jails run on
//! their own threads, so a scrape never holds them up.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// The largest request head (request line and headers) read.
const MAX_HEAD: usize = 8 * 1024;
/// All the time a client has, from connecting to the end of the response.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections served at the same time; Prometheus needs one.
const MAX_CONNECTIONS: usize = 32;

/// Listens on `address` (on the current runtime).
pub(crate) async fn bind(address: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(address).await
}

/// Serves `listener` until the runtime ends.
pub(crate) async fn serve(listener: TcpListener) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut backoff = crate::accept::AcceptBackoff::new("metrics", "");
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => {
                backoff.accepted();
                stream
            }
            Err(error) => {
                backoff.failed(error).await;
                continue;
            }
        };
        // Over the limit, the connection is closed unread: a flood costs nothing kept.
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            continue;
        };
        tokio::spawn(async move {
            let _ = tokio::time::timeout(CONNECTION_TIMEOUT, answer(stream)).await;
            drop(slot);
        });
    }
}

async fn answer(mut stream: TcpStream) {
    let response = match read_head(&mut stream).await {
        Ok(head) => respond(&head),
        Err(HeadError::TooLarge) => Response::status(431, "Request Header Fields Too Large"),
        Err(HeadError::Closed) => return,
    };
    let _ = stream.write_all(&response.bytes()).await;
    let _ = stream.shutdown().await;
}

#[derive(Debug, PartialEq, Eq)]
enum HeadError {
    TooLarge,
    Closed,
}

/// Reads until the blank line that ends the head; the body (a GET has none) is not read.
async fn read_head(stream: &mut TcpStream) -> Result<Vec<u8>, HeadError> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let read = stream
            .read(&mut chunk)
            .await
            .map_err(|_| HeadError::Closed)?;
        if read == 0 {
            return Err(HeadError::Closed);
        }
        head.extend_from_slice(&chunk[..read]);
        if let Some(end) = head_end(&head) {
            head.truncate(end);
            return Ok(head);
        }
        if head.len() > MAX_HEAD {
            return Err(HeadError::TooLarge);
        }
    }
}

/// Where the head ends: at the first empty line (CRLF or bare LF, as servers tolerate).
fn head_end(bytes: &[u8]) -> Option<usize> {
    let crlf = bytes.windows(4).position(|w| w == b"\r\n\r\n");
    let lf = bytes.windows(2).position(|w| w == b"\n\n");
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[derive(Debug)]
struct Response {
    status: u16,
    reason: &'static str,
    content_type: &'static str,
    body: String,
    /// HEAD: the headers of the GET, no body.
    head_only: bool,
    allow: bool,
}

impl Response {
    fn status(status: u16, reason: &'static str) -> Response {
        Response {
            status,
            reason,
            content_type: "text/plain; charset=utf-8",
            body: format!("{reason}\n"),
            head_only: false,
            allow: false,
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let mut text = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.status,
            self.reason,
            self.content_type,
            self.body.len()
        );
        if self.allow {
            text.push_str("Allow: GET, HEAD\r\n");
        }
        text.push_str("\r\n");
        if !self.head_only {
            text.push_str(&self.body);
        }
        text.into_bytes()
    }
}

/// The answer to a request head.
fn respond(head: &[u8]) -> Response {
    let Some(line) = head.split(|&b| b == b'\n').next() else {
        return Response::status(400, "Bad Request");
    };
    let line = String::from_utf8_lossy(line);
    let mut words = line.trim_end_matches('\r').split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return Response::status(400, "Bad Request");
    };
    if !version.starts_with("HTTP/1.") {
        return Response::status(505, "HTTP Version Not Supported");
    }
    let path = target.split('?').next().unwrap_or(target);
    if path != "/metrics" {
        return Response::status(404, "Not Found");
    }
    match method {
        "GET" | "HEAD" => Response {
            status: 200,
            reason: "OK",
            content_type: super::CONTENT_TYPE,
            body: super::encode(),
            head_only: method == "HEAD",
            allow: false,
        },
        _ => Response {
            allow: true,
            ..Response::status(405, "Method Not Allowed")
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn status_of(head: &str) -> u16 {
        respond(head.as_bytes()).status
    }

    #[test]
    fn routes_and_methods() {
        assert_eq!(status_of("GET /metrics HTTP/1.1\r\nHost: x"), 200);
        assert_eq!(status_of("GET /metrics?x=1 HTTP/1.0"), 200);
        assert_eq!(status_of("GET /other HTTP/1.1"), 404);
        assert_eq!(status_of("GET / HTTP/1.1"), 404);
        assert_eq!(status_of("POST /metrics HTTP/1.1"), 405);
        assert_eq!(status_of("GET /metrics HTTP/2"), 505);
        assert_eq!(status_of("GET /metrics"), 400);
        assert_eq!(status_of("\u{0}\u{ff}garbage"), 400);
        assert_eq!(status_of(""), 400);
        let post = respond(b"POST /metrics HTTP/1.1").bytes();
        assert!(
            String::from_utf8(post)
                .unwrap()
                .contains("Allow: GET, HEAD\r\n")
        );
    }

    #[test]
    fn head_has_the_headers_of_get_and_no_body() {
        let get = String::from_utf8(respond(b"GET /metrics HTTP/1.1").bytes()).unwrap();
        let head = String::from_utf8(respond(b"HEAD /metrics HTTP/1.1").bytes()).unwrap();
        assert!(get.starts_with("HTTP/1.1 200 OK\r\n"), "{get}");
        assert!(get.contains(&format!("Content-Type: {}\r\n", super::super::CONTENT_TYPE)));
        let (get_head, body) = get.split_once("\r\n\r\n").unwrap();
        assert!(body.contains("# TYPE ferroban_build_info gauge"), "{body}");
        assert!(head.ends_with("\r\n\r\n"));
        // Content-Length may differ by the process metrics read at each call.
        assert_eq!(
            get_head.lines().next(),
            head.lines().next(),
            "same status line"
        );
    }

    #[test]
    fn the_head_ends_at_the_first_empty_line() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r\nbody"), Some(14));
        assert_eq!(head_end(b"GET / HTTP/1.1\n\n"), Some(14));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n"), None);
    }
}
