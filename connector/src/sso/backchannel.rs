//! Back-channel logout: when a session ends, each app that received tokens for it gets a
//! logout token (OpenID Connect Back-Channel Logout 1.0), posted to the address it
//! registered, so it can end its own session for the user at once.
//!
//! Apps sit on the hospital network; their addresses are `http://` (the logout token is
//! signed, and carries no secret). A failed post is logged and not retried: the app's own
//! session then ends when its tokens do.

use std::time::Duration;

use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::{Request, header};

/// How long an app has to take a logout token.
const PATIENCE: Duration = Duration::from_secs(5);

/// The host, port and path of an `http://` address.
pub fn parse_http_url(url: &str) -> Result<(String, u16, String), String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        format!("{url:?}: only http:// back-channel logout addresses are supported")
    })?;
    let (authority, path) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, "/"),
    };
    let (host, port) = match authority.strip_prefix('[') {
        Some(bracketed) => {
            let (host, after) = bracketed
                .split_once(']')
                .ok_or_else(|| format!("{url:?}: unclosed '['"))?;
            (host, after.strip_prefix(':'))
        }
        None => match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    let port = match port {
        Some(port) => port.parse().map_err(|_| format!("{url:?}: bad port"))?,
        None => 80,
    };
    if host.is_empty() || host.contains('@') {
        return Err(format!("{url:?}: no usable host"));
    }
    Ok((host.to_owned(), port, path.to_owned()))
}

/// Posts `logout_token` to `url`; what went wrong, if anything.
pub async fn post(url: &str, logout_token: &str) -> Result<(), String> {
    tokio::time::timeout(PATIENCE, send(url, logout_token))
        .await
        .map_err(|_| "no answer in time".to_owned())?
}

async fn send(url: &str, logout_token: &str) -> Result<(), String> {
    let (host, port, path) = parse_http_url(url)?;
    let stream = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    tokio::spawn(connection);
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("logout_token", logout_token)
        .finish();
    let request = Request::post(path)
        .header(header::HOST, host_header(&host, port))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| format!("request: {e}"))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    let status = response.status();
    let _ = response.into_body().collect().await;
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("the app answered {status}"))
    }
}

fn host_header(host: &str, port: u16) -> String {
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    if port == 80 {
        host
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_addresses_split_into_host_port_and_path() {
        let parse = |u: &str| parse_http_url(u);
        assert_eq!(
            parse("http://dpi.example:8080/oidc/logout"),
            Ok(("dpi.example".into(), 8080, "/oidc/logout".into()))
        );
        assert_eq!(
            parse("http://198.18.2.2"),
            Ok(("198.18.2.2".into(), 80, "/".into()))
        );
        assert_eq!(
            parse("http://[fd00::1]:81/x"),
            Ok(("fd00::1".into(), 81, "/x".into()))
        );
        assert!(parse("https://dpi.example/").is_err());
        assert!(parse("http://:80/").is_err());
        assert!(parse("http://user@host/").is_err());
        assert!(parse("http://host:port/").is_err());
    }
}
