//! The hospital's mail server: a real Dovecot (Debian 12's 2.3.19), IMAP only.
//!
//! Started with [`MailServer::start`], it takes its users' passwords (`PLAIN`, `LOGIN`).
//! Started with [`MailServer::start_with_tokens`], it also takes the access tokens of Vigie's
//! SSO issuer over SASL `OAUTHBEARER` and `XOAUTH2`, and checks them itself with the issuer's
//! public keys: it never calls the issuer. Dovecot's oauth2 passdb in `local` introspection
//! mode accepts a token when:
//!
//! - it is a compact JWS whose header has `"typ": "JWT"` exactly (2.3.19 refuses `at+jwt`
//!   and a missing `typ`), `"alg": "RS256"` and a `kid` naming a trusted key;
//! - its signature verifies with the key of that `kid`;
//! - `sub` and `exp` are there; `exp`, `iat` and `nbf` are integers, `iat` and `nbf` not
//!   after the server's clock (no leeway) and `exp` not before it;
//! - `iss` is the trusted issuer, `aud` holds the mail app's client id (a string or an
//!   array; Debian's security updates added this check, upstream 2.3.19 ignores `aud`),
//!   and the space-separated `scope` string holds [`MAIL_SCOPE`];
//! - `preferred_username` equals the login the client gives, ignoring case.
//!
//! The keys live one file per key, SubjectPublicKeyInfo PEM, at
//! `token-keys/default/RS256/<kid>`: Dovecot looks a key up as `<azp>/<alg>/<kid>` in its
//! key dictionary, with `default` for a token without `azp`. A token carrying `azp` would
//! be looked up under that name instead, and refused here.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::{START_PATIENCE, create_dir, path_text, write};
use crate::error::{LabError, Result};
use crate::netns::{NetNs, wait_for_tcp_port};
use crate::process::LabProcess;

/// The scope an access token must carry for the mail server.
pub const MAIL_SCOPE: &str = "mail";

/// Where, under the key dictionary, the keys of tokens without `azp` signed RS256 live.
const KEY_FOLDER: &str = "default/RS256";

/// A mail user of the [`MailServer`].
#[derive(Debug, Clone)]
pub struct MailUser {
    pub login: String,
    pub password: String,
}

/// What a token-taking [`MailServer`] trusts: one issuer, the mail app's client id, and the
/// issuer's public keys.
#[derive(Debug, Clone)]
pub struct TokenTrust {
    /// The `iss` tokens must carry, e.g. `https://sso.hopital.test`.
    pub issuer: String,
    /// The mail app's client id, which `aud` must hold, e.g. `mail`.
    pub audience: String,
    /// The issuer's signing keys, all trusted at once (two or more while a key rotates).
    pub keys: Vec<TokenKey>,
}

/// One public key of the issuer, by the `kid` its tokens name it with.
#[derive(Debug, Clone)]
pub struct TokenKey {
    /// Letters, digits, `-` and `_` (the base64url alphabet).
    pub kid: String,
    /// The RSA public key, SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`).
    pub public_key_pem: String,
}

/// A real Dovecot IMAP server.
#[derive(Debug)]
pub struct MailServer {
    process: LabProcess,
    address: SocketAddr,
    log: PathBuf,
    /// The key dictionary's folder, when the server takes tokens.
    token_keys: Option<PathBuf>,
}

impl MailServer {
    /// Starts Dovecot on `address` (IMAP, port of the address) inside `ns`, for `users`,
    /// with its configuration, state and mailboxes under `dir`.
    pub fn start(ns: &NetNs, address: SocketAddr, users: &[MailUser], dir: &Path) -> Result<Self> {
        Self::launch(ns, address, users, dir, None)
    }

    /// Like [`start`](Self::start), and the server also takes access tokens that `trust`
    /// vouches for (see the [module docs](self)). Anyone with such a token gets a mailbox.
    ///
    /// Refusals come without Dovecot's usual 2 s delay, but Dovecot still makes an address
    /// that failed wait before its next try (2, 4, 8, then 15 s): a test of several bad
    /// tokens connects from several addresses.
    pub fn start_with_tokens(
        ns: &NetNs,
        address: SocketAddr,
        users: &[MailUser],
        dir: &Path,
        trust: &TokenTrust,
    ) -> Result<Self> {
        Self::launch(ns, address, users, dir, Some(trust))
    }

    fn launch(
        ns: &NetNs,
        address: SocketAddr,
        users: &[MailUser],
        dir: &Path,
        trust: Option<&TokenTrust>,
    ) -> Result<Self> {
        let root = dir.join("dovecot");
        for sub in ["run", "state", "mail"] {
            create_dir(&root.join(sub))?;
        }
        let passwd: String = users
            .iter()
            .map(|u| format!("{}:{{PLAIN}}{}\n", u.login, u.password))
            .collect();
        write(&root.join("users"), &passwd)?;
        // Dovecot drops to the `dovecot` user (made by the package) to read and write mail.
        crate::cmd::run_args(
            "chown",
            &["-R", "dovecot:dovecot", &path_text(&root.join("mail"))?],
        )?;
        let token_keys = trust.map(|t| write_token_trust(&root, t)).transpose()?;
        let config = root.join("dovecot.conf");
        write(&config, &dovecot_config(&root, address, trust.is_some())?)?;
        let mut command = ns.command("dovecot");
        command.arg("-F").arg("-c").arg(&config);
        let process = LabProcess::spawn_in(dir, "dovecot", command)?;
        wait_for_tcp_port(Some(ns), address, START_PATIENCE)?;
        Ok(Self {
            process,
            address,
            log: root.join("dovecot.log"),
            token_keys,
        })
    }

    /// Trusts one more issuer key while the server runs, as a key rotation brings one.
    ///
    /// Dovecot reads a key the first time a token names its `kid` and keeps it as long as
    /// its auth process lives: a new `kid` is trusted at once, but a changed or deleted key
    /// file is noticed only after Dovecot reloads or restarts. A rotated key therefore
    /// always gets a new `kid`, and withdrawing a key takes a reload.
    pub fn trust_key(&self, key: &TokenKey) -> Result<()> {
        let keys = self.token_keys.as_deref().ok_or_else(|| {
            LabError::Misuse("this mail server takes no tokens: use start_with_tokens".into())
        })?;
        write_key(keys, key)
    }

    /// Where it listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Dovecot's own log (logins, errors; in token mode, why each token was refused).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default() + &self.process.log_tail(20)
    }
}

fn dovecot_config(root: &Path, address: SocketAddr, tokens: bool) -> Result<String> {
    let root = path_text(root)?;
    let auth = if tokens {
        token_auth(&root)
    } else {
        password_auth(&root)
    };
    // Every path is the instance's own, so several servers (and the machine's) coexist.
    Ok(format!(
        "protocols = imap\n\
         listen = {ip}\n\
         base_dir = {root}/run\n\
         state_dir = {root}/state\n\
         instance_name = vigie-lab-{pid}\n\
         log_path = {root}/dovecot.log\n\
         ssl = no\n\
         disable_plaintext_auth = no\n\
         first_valid_uid = 1\n\
         {auth}\
         userdb {{\n  driver = static\n  args = uid=dovecot gid=dovecot home={root}/mail/%u\n}}\n\
         mail_location = maildir:~/Maildir\n\
         service imap-login {{\n  inet_listener imap {{\n    port = {port}\n  }}\n}}\n",
        ip = address.ip(),
        port = address.port(),
        pid = std::process::id(),
    ))
}

fn password_auth(root: &str) -> String {
    format!(
        "auth_mechanisms = plain login\n\
         passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN {root}/users\n}}\n"
    )
}

/// Passwords for `PLAIN` and `LOGIN` only, so a token is never taken for a password; tokens
/// for `OAUTHBEARER` and `XOAUTH2` only. Refusals are logged with their reason, and
/// answered without delay.
fn token_auth(root: &str) -> String {
    format!(
        "auth_mechanisms = plain login oauthbearer xoauth2\n\
         auth_verbose = yes\n\
         auth_failure_delay = 0\n\
         passdb {{\n  driver = passwd-file\n  mechanisms = plain login\n  \
         args = scheme=PLAIN {root}/users\n}}\n\
         passdb {{\n  driver = oauth2\n  mechanisms = oauthbearer xoauth2\n  \
         args = {root}/oauth2.conf\n}}\n"
    )
}

/// Writes the oauth2 passdb's settings and the trusted keys under `root`; returns the key
/// dictionary's folder.
fn write_token_trust(root: &Path, trust: &TokenTrust) -> Result<PathBuf> {
    for (what, value) in [("issuer", &trust.issuer), ("audience", &trust.audience)] {
        if value.is_empty() || value.contains(char::is_whitespace) {
            return Err(LabError::Misuse(format!(
                "token {what} {value:?} must be one word"
            )));
        }
    }
    let keys = root.join("token-keys");
    create_dir(&keys.join(KEY_FOLDER))?;
    for key in &trust.keys {
        write_key(&keys, key)?;
    }
    // `local`: the token is checked here with the dictionary's keys, never sent to the
    // issuer. `client_id` is what `aud` must hold; `preferred_username` is the claim
    // compared with the login.
    let settings = format!(
        "introspection_mode = local\n\
         local_validation_key_dict = fs:posix:prefix={keys}/\n\
         issuers = {issuer}\n\
         client_id = {audience}\n\
         scope = {MAIL_SCOPE}\n\
         username_attribute = preferred_username\n",
        keys = path_text(&keys)?,
        issuer = trust.issuer,
        audience = trust.audience,
    );
    write(&root.join("oauth2.conf"), &settings)?;
    Ok(keys)
}

/// Puts `key` where Dovecot looks it up, whole at once: written beside, then renamed.
fn write_key(keys: &Path, key: &TokenKey) -> Result<()> {
    let kid_ok = key
        .kid
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if key.kid.is_empty() || !kid_ok {
        let kid = &key.kid;
        return Err(LabError::Misuse(format!(
            "key id {kid:?}: use letters, digits, - and _"
        )));
    }
    if !key.public_key_pem.starts_with("-----BEGIN PUBLIC KEY-----") {
        return Err(LabError::Misuse(format!(
            "key {}: Dovecot takes SubjectPublicKeyInfo PEM (BEGIN PUBLIC KEY) only",
            key.kid
        )));
    }
    // No kid has a dot, so the file being written is never one Dovecot looks up.
    let incoming = keys.join(format!(".incoming-{}", key.kid));
    write(&incoming, &key.public_key_pem)?;
    let path = keys.join(KEY_FOLDER).join(&key.kid);
    std::fs::rename(&incoming, &path).map_err(|e| LabError::file(&path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kid: &str, pem: &str) -> TokenKey {
        TokenKey {
            kid: kid.into(),
            public_key_pem: pem.into(),
        }
    }

    #[test]
    fn keys_land_where_dovecot_looks_them_up() {
        let dir = crate::process::log_root().join(crate::names::unique_name());
        let trust = TokenTrust {
            issuer: "https://sso.hopital.test".into(),
            audience: "mail".into(),
            keys: vec![key("k1-_A", "-----BEGIN PUBLIC KEY-----\nAA==\n")],
        };
        let keys = write_token_trust(&dir, &trust).unwrap();
        let stored = std::fs::read_to_string(keys.join("default/RS256/k1-_A")).unwrap();
        assert!(stored.starts_with("-----BEGIN PUBLIC KEY-----"));
        let settings = std::fs::read_to_string(dir.join("oauth2.conf")).unwrap();
        assert!(
            settings.contains("issuers = https://sso.hopital.test\n"),
            "{settings}"
        );
        assert!(settings.contains(&format!("prefix={}/\n", keys.display())));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn key_ids_that_are_no_file_name_and_pkcs1_keys_are_refused() {
        let dir = crate::process::log_root().join(crate::names::unique_name());
        let pem = "-----BEGIN PUBLIC KEY-----\n";
        assert!(write_key(&dir, &key("../x", pem)).is_err());
        assert!(write_key(&dir, &key("", pem)).is_err());
        let pkcs1 = key("k1", "-----BEGIN RSA PUBLIC KEY-----\n");
        assert!(write_key(&dir, &pkcs1).is_err());
    }
}
