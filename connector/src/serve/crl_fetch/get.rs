//! The HTTP/1.0 GET itself: connect, ask, read until the answer is complete
//! ([`super::response`] decides), follow a few redirects, all within one deadline.

use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use super::response::{Limits, Parsed, PeerError, parse_response};
use super::{FetchError, NetworkError};
use crate::http_url::{Host, HttpUrl};

/// The whole fetch, redirects included, ends within this.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Redirects followed before giving up.
pub const MAX_REDIRECTS: usize = 3;

/// How much one read takes at most.
const CHUNK: usize = 64 * 1024;

/// The body at `url`, after at most [`MAX_REDIRECTS`] redirects, within [`DEADLINE`].
pub async fn fetch(url: &HttpUrl, limits: Limits) -> Result<Vec<u8>, FetchError> {
    fetch_dated(url, limits).await.map(|fetched| fetched.body)
}

/// A fetched body, and the server's clock when it answered.
#[derive(Debug)]
pub struct Fetched {
    /// The body.
    pub body: Vec<u8>,
    /// The answer's `Date` header, as the server wrote it.
    pub date: Option<String>,
}

/// The body at `url` as `fetch` gets it, with the last answer's `Date` header.
pub async fn fetch_dated(url: &HttpUrl, limits: Limits) -> Result<Fetched, FetchError> {
    tokio::time::timeout(DEADLINE, follow(url, limits))
        .await
        .map_err(|_| NetworkError::Timeout(DEADLINE))?
}

/// What one request brought.
enum Answer {
    Body(Fetched),
    Redirect(String),
}

async fn follow(url: &HttpUrl, limits: Limits) -> Result<Fetched, FetchError> {
    let mut current = url.clone();
    for _ in 0..=MAX_REDIRECTS {
        let location = match get(&current, limits).await? {
            Answer::Body(fetched) => return Ok(fetched),
            Answer::Redirect(location) => location,
        };
        current = current
            .join(&location)
            .map_err(|reason| PeerError::BadRedirect {
                location: quoted(&location),
                reason,
            })?;
        tracing::debug!(from = %url, to = %current, "CRL address redirected");
    }
    Err(PeerError::TooManyRedirects(MAX_REDIRECTS).into())
}

/// One request on its own connection.
async fn get(url: &HttpUrl, limits: Limits) -> Result<Answer, FetchError> {
    let mut stream = connect(url).await?;
    stream
        .write_all(request(url).as_bytes())
        .await
        .map_err(NetworkError::Io)?;
    let mut received = Vec::new();
    let mut chunk = vec![0; CHUNK];
    loop {
        let count = stream.read(&mut chunk).await.map_err(NetworkError::Io)?;
        let closed = count == 0;
        received.extend_from_slice(chunk.get(..count).unwrap_or_default());
        match parse_response(&received, closed, limits)? {
            Parsed::Partial => {}
            Parsed::Body(body) => {
                let date = super::response::header(&received, "date").map(str::to_owned);
                let body = body.to_vec();
                return Ok(Answer::Body(Fetched { body, date }));
            }
            Parsed::Redirect(location) => return Ok(Answer::Redirect(location.to_owned())),
        }
        if closed {
            // A closed connection always completes the answer or fails it.
            return Err(PeerError::Malformed("the connection closed early").into());
        }
    }
}

async fn connect(url: &HttpUrl) -> Result<TcpStream, NetworkError> {
    let connected = match url.host() {
        Host::Name(name) => TcpStream::connect((name.as_str(), url.port())).await,
        Host::Ip(ip) => TcpStream::connect((*ip, url.port())).await,
    };
    connected.map_err(|source| NetworkError::Connect {
        server: url.authority(),
        source,
    })
}

/// HTTP/1.0, so the server closes the connection after the body and never chunks it.
fn request(url: &HttpUrl) -> String {
    format!(
        "GET {} HTTP/1.0\r\nHost: {}\r\nUser-Agent: vigie-connector\r\n\
         Accept: application/pkix-crl, */*\r\nConnection: close\r\n\r\n",
        url.path(),
        url.authority()
    )
}

/// A server's text for an error message: quoted, control characters escaped, cut short.
fn quoted(text: &str) -> String {
    let short: String = text.chars().take(200).collect();
    format!("{short:?}")
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tokio::net::TcpListener;

    use super::*;

    /// A server on 127.0.0.1 that gives the `answers` in turn, one per connection, and keeps
    /// each connection open after its answer (the client must stop by itself); the request
    /// lines it got.
    async fn canned(answers: Vec<String>) -> (HttpUrl, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            let mut open = Vec::new();
            for answer in answers {
                let (mut stream, _) = listener.accept().await.unwrap();
                let mut request = Vec::new();
                while !request.ends_with(b"\r\n\r\n") {
                    let mut byte = [0];
                    stream.read_exact(&mut byte).await.unwrap();
                    request.push(byte[0]);
                }
                let text = String::from_utf8(request).unwrap();
                log.lock()
                    .unwrap()
                    .push(text.lines().next().unwrap().to_owned());
                stream.write_all(answer.as_bytes()).await.unwrap();
                open.push(stream);
            }
            std::future::pending::<()>().await;
        });
        let url = HttpUrl::parse(&format!("http://127.0.0.1:{port}/a.crl")).unwrap();
        (url, seen)
    }

    fn redirect(to: &str) -> String {
        format!("HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\n\r\n")
    }

    #[tokio::test]
    async fn redirects_are_followed_and_the_body_read_to_its_length() {
        let answers = vec![
            redirect("/b.crl"),
            redirect("c.crl?v=2"),
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nCRL".to_owned(),
        ];
        let (url, seen) = canned(answers).await;
        assert_eq!(fetch(&url, Limits::CRL).await.unwrap(), b"CRL");
        let seen = seen.lock().unwrap().clone();
        let want = [
            "GET /a.crl HTTP/1.0",
            "GET /b.crl HTTP/1.0",
            "GET /c.crl?v=2 HTTP/1.0",
        ];
        assert_eq!(seen, want);
    }

    #[tokio::test]
    async fn a_fourth_redirect_is_refused() {
        let (url, seen) = canned(vec![redirect("/again"); 4]).await;
        let error = fetch(&url, Limits::CRL).await.unwrap_err();
        let FetchError::Peer(PeerError::TooManyRedirects(3)) = error else {
            panic!("{error}");
        };
        assert_eq!(seen.lock().unwrap().len(), 4);
    }

    #[tokio::test]
    async fn a_redirect_to_https_says_so() {
        let (url, _) = canned(vec![redirect("https://crl.example/a.crl")]).await;
        let error = fetch(&url, Limits::CRL).await.unwrap_err().to_string();
        assert!(error.starts_with("redirected to \"https://crl.example/a.crl\": https://"));
    }

    #[tokio::test]
    async fn a_closed_port_is_a_network_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let url = HttpUrl::parse(&format!("http://127.0.0.1:{port}/a.crl")).unwrap();
        let error = fetch(&url, Limits::CRL).await.unwrap_err();
        assert!(
            matches!(error, FetchError::Network(NetworkError::Connect { .. })),
            "{error}"
        );
        assert!(
            error.to_string().contains(&format!("127.0.0.1:{port}")),
            "{error}"
        );
    }

    #[test]
    fn the_request_names_path_and_host() {
        let url = HttpUrl::parse("http://[fd00::1]:8080/CRL/a.crl?x=1").unwrap();
        assert_eq!(
            request(&url),
            "GET /CRL/a.crl?x=1 HTTP/1.0\r\nHost: [fd00::1]:8080\r\n\
             User-Agent: vigie-connector\r\nAccept: application/pkix-crl, */*\r\n\
             Connection: close\r\n\r\n"
        );
    }

    #[test]
    fn server_text_is_quoted_and_cut() {
        assert_eq!(quoted("a\r\nb"), "\"a\\r\\nb\"");
        assert_eq!(quoted(&"x".repeat(500)).len(), 202);
    }
}
