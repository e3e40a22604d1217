//! Why `vigie up` stopped, grouped by who is at fault, and what the user reads: one sentence
//! about what happened, then what to do. Refusals carry a reference the help desk can look
//! up: a control-protocol code (`VIGIE-E-203 HR suspension`) or the TLS alert the connector
//! failed the handshake with (`TLS alert 45 certificate_expired`).

use std::fmt;
use std::path::PathBuf;

use rustls::AlertDescription;
use vigie_protocol::Code;

use crate::error::CardError;
use crate::pin_entry::PinEntryError;

/// What `vigie up` exits with, by cause, so scripts and tests can tell them apart.
pub mod exit {
    /// A session ran and the user ended it.
    pub const OK: u8 = 0;
    /// Local configuration or another failure on this computer.
    pub const LOCAL: u8 = 1;
    /// The card, the reader or the PIN.
    pub const CARD: u8 = 3;
    /// The connector could not be reached, or the connection was lost.
    pub const NETWORK: u8 = 4;
    /// The connector refused the card's certificate during the TLS handshake.
    pub const CERTIFICATE_REFUSED: u8 = 5;
    /// The connector refused the session after the handshake (directory, policy).
    pub const SESSION_REFUSED: u8 = 6;
    /// The connector ended a running session (idle, lifetime, administrator, …).
    pub const SESSION_ENDED: u8 = 7;
}

/// Why a session could not be brought up, or ended otherwise than by the user.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpError {
    // --- The card, the reader, the PIN: the user can usually fix it ---
    /// The card layer failed.
    #[error(transparent)]
    Card(#[from] CardError),
    /// No PIN could be read.
    #[error(transparent)]
    Pin(#[from] PinEntryError),
    /// The card failed while it signed the TLS handshake.
    #[error("the card failed during the connection: {0}")]
    CardDuringHandshake(String),

    // --- This computer's configuration ---
    /// A setting is missing or cannot work.
    #[error("{0}")]
    Config(String),
    /// A file named by a setting cannot be used.
    #[error("{path}: {detail}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong, and which setting names it.
        detail: String,
    },
    /// The tunnel could not be set up on this computer (TUN device, routes, names).
    #[error("the tunnel could not be set up on this computer: {0}")]
    Tunnel(#[from] crate::tunnel::TunnelError),
    /// Another `vigie up` already holds a session in this state folder.
    #[error(
        "a session is already up (vigie up, process {pid}); see `vigie status`, or end it with \
         `vigie down`"
    )]
    AlreadyUp {
        /// The process holding the session.
        pid: u32,
    },

    // --- The network or the connector's identity ---
    /// The connector did not answer.
    #[error(
        "cannot reach the connector {connector} ({detail}); check the network, or ask IT \
         whether the address is right"
    )]
    Unreachable {
        /// Where we tried.
        connector: String,
        /// What failed.
        detail: String,
    },
    /// The connector's certificate is not the one we trust.
    #[error(
        "the connector's certificate is not trusted ({0}); this may not be your hospital's \
         connector: check --server-ca and --server-name with IT before going on"
    )]
    ServerUntrusted(String),
    /// The connection broke during the session.
    #[error("the connection to the connector was lost ({0}); run vigie up again")]
    ConnectionLost(String),

    // --- The connector said no ---
    /// The card's certificate was refused in the TLS handshake.
    #[error("{}", certificate_sentence(*alert))]
    CertificateRefused {
        /// The alert the connector sent.
        alert: AlertDescription,
    },
    /// The connector ended the session before granting it.
    #[error(
        "the connector refused the session: {}. Call the help desk and read them this code: {code}",
        code.message()
    )]
    Refused {
        /// The connector's reason.
        code: Code,
        /// The connector's sentence, when it sent an error message.
        detail: Option<String>,
    },
    /// The connector ended a granted session.
    #[error(
        "the connector ended the session: {}. If this is unexpected, call the help desk and \
         read them this code: {code}",
        code.message()
    )]
    Ended {
        /// The connector's reason.
        code: Code,
    },
    /// This side ended a granted session (the connector went silent, the card left).
    #[error("the session stopped: {}. Run vigie up again; if it keeps happening, call the help desk and read them this code: {code}", code.message())]
    Stopped {
        /// Why.
        code: Code,
    },
}

impl UpError {
    /// The process exit code for this error (see [`exit`]).
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Card(_) | Self::Pin(_) | Self::CardDuringHandshake(_) => exit::CARD,
            Self::Config(_) | Self::File { .. } | Self::AlreadyUp { .. } | Self::Tunnel(_) => {
                exit::LOCAL
            }
            Self::Unreachable { .. } | Self::ServerUntrusted(_) | Self::ConnectionLost(_) => {
                exit::NETWORK
            }
            Self::CertificateRefused { .. } => exit::CERTIFICATE_REFUSED,
            Self::Refused { .. } => exit::SESSION_REFUSED,
            Self::Ended { .. } | Self::Stopped { .. } => exit::SESSION_ENDED,
        }
    }
}

/// The TLS alert as the help desk reads it: `TLS alert 45 certificate_expired`.
pub struct AlertReference(pub AlertDescription);

impl fmt::Display for AlertReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let number = u8::from(self.0);
        let name = alert_name(self.0);
        write!(f, "TLS alert {number} {name}")
    }
}

fn alert_name(alert: AlertDescription) -> String {
    let debug = format!("{alert:?}");
    if debug.starts_with("Unknown(") {
        return debug.to_ascii_lowercase();
    }
    let mut name = String::new();
    for (i, c) in debug.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            name.push('_');
        }
        name.push(c.to_ascii_lowercase());
    }
    // `UnknownCA` reads `unknown_c_a` by the rule above; TLS names it `unknown_ca`.
    name.replace("c_a", "ca")
}

/// One sentence per alert a connector sends for a refused card, then what to do.
fn certificate_sentence(alert: AlertDescription) -> String {
    use AlertDescription as A;
    let what = match alert {
        A::CertificateExpired => {
            "the connector refused your card: its certificate has expired (or is not valid \
             yet). Check the date of this computer, then renew the card with your card desk"
        }
        A::CertificateRevoked => {
            "the connector refused your card: it is revoked (reported lost, stolen or \
             replaced). Use your new card, or ask your card desk"
        }
        A::UnknownCA => {
            "the connector refused your card: it does not trust the authority that issued \
             it. This card may not be a CPS card accepted by this hospital"
        }
        A::AccessDenied => {
            "the connector cannot check your card's revocation right now. Try again in a \
             few minutes"
        }
        A::CertificateRequired => "the connector did not receive the card's certificate",
        A::UnsupportedCertificate => {
            "the connector refused your card: its certificate is not an authentication \
             certificate"
        }
        A::HandshakeFailure => {
            "the connector and this computer share no way to secure the connection with \
             this card"
        }
        _ => "the connector refused your card's certificate",
    };
    format!(
        "{what}. If you need help, call the help desk and read them this code: {}",
        AlertReference(alert)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alerts_read_as_their_tls_names() {
        let reference = |a| AlertReference(a).to_string();
        assert_eq!(
            reference(AlertDescription::CertificateExpired),
            "TLS alert 45 certificate_expired"
        );
        assert_eq!(
            reference(AlertDescription::UnknownCA),
            "TLS alert 48 unknown_ca"
        );
        assert_eq!(
            reference(AlertDescription::AccessDenied),
            "TLS alert 49 access_denied"
        );
    }

    #[test]
    fn each_refusal_has_its_sentence_its_code_and_its_exit_code() {
        let revoked = UpError::CertificateRefused {
            alert: AlertDescription::CertificateRevoked,
        };
        let suspended = UpError::Refused {
            code: Code::HR_SUSPENSION,
            detail: None,
        };
        assert!(revoked.to_string().contains("it is revoked"), "{revoked}");
        assert!(
            revoked
                .to_string()
                .ends_with("code: TLS alert 44 certificate_revoked")
        );
        assert!(
            suspended
                .to_string()
                .contains("read them this code: VIGIE-E-203 HR suspension"),
            "{suspended}"
        );
        assert_eq!(revoked.exit_code(), exit::CERTIFICATE_REFUSED);
        assert_eq!(suspended.exit_code(), exit::SESSION_REFUSED);
        assert_eq!(
            UpError::Ended {
                code: Code::IDLE_TIMEOUT
            }
            .exit_code(),
            exit::SESSION_ENDED
        );
    }
}
