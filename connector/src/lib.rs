//! Vigie's connector, the hospital side of Vigie.
//!
//! What exists so far: the [`audit`] log (hash-chained JSON lines, one file per UTC day).
//! Everything else of the connector (directory, HR sync, enrolment, apps, listeners,
//! admission over TLS, data plane, SSO) is still to be written.
#![forbid(unsafe_code)]

pub mod audit;
