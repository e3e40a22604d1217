//! Back-channel logout: when a session ends, each app that received tokens for it gets a
//! logout token (OpenID Connect Back-Channel Logout 1.0), posted to the address it
//! registered, so it can end its own session for the user at once.
//!
//! Apps sit on the hospital network; their addresses are `http://` (the logout token is
//! signed, and carries no secret). A post that gets no answer, or a server error, is tried
//! again a few times over about a minute ([`RETRY_PAUSES`]: an app restarting, or busy), within
//! the token's two minutes; an app that refuses the token (a 4xx answer) is not asked again.
//! A post that never gets through is logged: the app's own session then ends when its tokens
//! do.

use std::time::Duration;

use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::{Request, header};

use crate::http_url::{Host, HttpUrl};

/// How long an app has to take a logout token.
const PATIENCE: Duration = Duration::from_secs(5);

/// The pauses before the second, third and fourth tries of a post that failed for a reason
/// time may mend.
pub const RETRY_PAUSES: [Duration; 3] = [
    Duration::from_secs(2),
    Duration::from_secs(10),
    Duration::from_secs(45),
];

/// Why a post did not get through.
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    /// No answer, or a server error: worth another try.
    Transient(String),
    /// The app refused the token, or its address cannot be used: trying again is no use.
    Final(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Transient(why) | Self::Final(why) => f.write_str(why),
        }
    }
}

/// Posts `logout_token` to `url`, and again after each of `pauses` while the failure is
/// [`Failure::Transient`]. How many tries it took, or the last failure with that count.
pub async fn deliver(
    url: &str,
    logout_token: &str,
    pauses: &[Duration],
) -> Result<usize, (Failure, usize)> {
    let mut pauses = pauses.iter();
    let mut tries = 0;
    loop {
        tries += 1;
        match post(url, logout_token).await {
            Ok(()) => return Ok(tries),
            Err(Failure::Transient(why)) => match pauses.next() {
                Some(pause) => {
                    tracing::debug!(url, why, ?pause, "back-channel logout: trying again");
                    tokio::time::sleep(*pause).await;
                }
                None => return Err((Failure::Transient(why), tries)),
            },
            Err(failure) => return Err((failure, tries)),
        }
    }
}

/// Posts `logout_token` to `url` once.
pub async fn post(url: &str, logout_token: &str) -> Result<(), Failure> {
    tokio::time::timeout(PATIENCE, send(url, logout_token))
        .await
        .map_err(|_| Failure::Transient("no answer in time".to_owned()))?
}

async fn send(url: &str, logout_token: &str) -> Result<(), Failure> {
    let url = HttpUrl::parse(url).map_err(|e| Failure::Final(format!("{url:?}: {e}")))?;
    let connected = match url.host() {
        Host::Name(name) => tokio::net::TcpStream::connect((name.as_str(), url.port())).await,
        Host::Ip(ip) => tokio::net::TcpStream::connect((*ip, url.port())).await,
    };
    let stream = connected.map_err(|e| Failure::Transient(format!("cannot connect: {e}")))?;
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| Failure::Transient(format!("HTTP: {e}")))?;
    tokio::spawn(connection);
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("logout_token", logout_token)
        .finish();
    let request = Request::post(url.path())
        .header(header::HOST, url.authority())
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| Failure::Final(format!("request: {e}")))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| Failure::Transient(format!("HTTP: {e}")))?;
    let status = response.status();
    let _ = response.into_body().collect().await;
    let why = format!("the app answered {status}");
    if status.is_success() {
        Ok(())
    } else if status.is_server_error() || status == hyper::StatusCode::TOO_MANY_REQUESTS {
        Err(Failure::Transient(why))
    } else {
        Err(Failure::Final(why))
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    const SHORT: [Duration; 3] = [Duration::from_millis(10); 3];

    /// An app that answers each post with the next of `statuses`; the address, and the
    /// number of posts it received.
    async fn app(statuses: &'static [u16]) -> (String, tokio::task::JoinHandle<usize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/logout", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            for (n, status) in statuses.iter().enumerate() {
                let Ok(Ok((mut stream, _))) =
                    tokio::time::timeout(Duration::from_secs(2), listener.accept()).await
                else {
                    return n;
                };
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                while !String::from_utf8_lossy(&request).contains("logout_token=") {
                    let read = stream.read(&mut buffer).await.unwrap();
                    assert!(read > 0, "the post ended early");
                    request.extend_from_slice(&buffer[..read]);
                }
                let answer = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n");
                stream.write_all(answer.as_bytes()).await.unwrap();
            }
            statuses.len()
        });
        (url, task)
    }

    #[tokio::test]
    async fn an_app_that_fails_for_a_while_gets_the_token_at_a_later_try() {
        let (url, app) = app(&[503, 503, 200]).await;
        assert_eq!(deliver(&url, "t", &SHORT).await, Ok(3));
        assert_eq!(app.await.unwrap(), 3);
    }

    #[tokio::test]
    async fn an_app_that_refuses_the_token_is_not_asked_again() {
        let (url, app) = app(&[400, 200]).await;
        let (failure, tries) = deliver(&url, "t", &SHORT).await.unwrap_err();
        assert_eq!(tries, 1);
        assert!(
            matches!(failure, Failure::Final(ref why) if why.contains("400")),
            "{failure}"
        );
        app.abort();
    }

    #[tokio::test]
    async fn an_app_that_never_answers_well_is_given_up_after_the_last_pause() {
        let (url, app) = app(&[500, 500, 500, 500, 200]).await;
        let (failure, tries) = deliver(&url, "t", &SHORT).await.unwrap_err();
        assert_eq!(tries, 4);
        assert!(matches!(failure, Failure::Transient(_)), "{failure}");
        app.abort();
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let gone = format!("http://{}/", closed.local_addr().unwrap());
        drop(closed);
        let (failure, tries) = deliver(&gone, "t", &SHORT).await.unwrap_err();
        assert_eq!(tries, 4, "{failure}");
    }

    #[tokio::test]
    async fn an_address_that_cannot_be_used_fails_at_once_saying_why() {
        for (url, why) in [
            ("https://dpi.example/logout", "https:// is not supported"),
            ("http://user@dpi.example/", "user name or password"),
            ("http://dpi.example:port/", "port"),
        ] {
            let (failure, tries) = deliver(url, "t", &SHORT).await.unwrap_err();
            assert_eq!(tries, 1, "{url}");
            assert!(matches!(failure, Failure::Final(_)), "{url}: {failure}");
            assert!(failure.to_string().contains(why), "{url}: {failure}");
        }
    }
}
