//! What a reload changes: the settings a running connector takes at once, and those it can
//! only take at its next start, by comparing the new file with the one in force.
//!
//! | live | at the next start |
//! |---|---|
//! | `[[app]]` (directory, NAT rules, grants of new sessions) | `[listen]`, `[tls]`, `[state]` |
//! | `[session]` limits, for new sessions | `[session] dns_server` (the data plane answers it) |
//! | `[enrolment]` | `[directory]`, `[audit]`, `[addresses]` |
//! | `[trust]` `crls`, `blocklist`, `refresh`, `crl_urls`, `crl_fetch_every` | `[trust]` `roots`, `intermediates`, `crl_grace` |
//! | `[[sso.client]]` | the rest of `[sso]` (listener, certificate, keys, proxies) |
//! | `[log] level` | `[dataplane]`, `[admin]` |
//!
//! `[hr]` is read by `hr sync`, never by `serve`.

use crate::config::ConnectorConfig;

/// What differs between the configuration in force and a new one.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// `[session]` limits other than `dns_server`.
    pub session: bool,
    /// `[enrolment]`.
    pub enrolment: bool,
    /// `[trust]` revocation files: `crls`, `blocklist`, `refresh`.
    pub revocation_files: bool,
    /// `[trust]` `crl_urls` and `crl_fetch_every`.
    pub crl_fetch: bool,
    /// `[log] level`.
    pub log: bool,
    /// Changed settings that need a restart, as `[section]` or `[section] key`.
    pub restart: Vec<String>,
}

impl Plan {
    /// Compares `new` with `applied` (what the last start or reload put in force) for the
    /// live settings, and with `started` (what the process started with) for the others.
    pub fn new(
        started: &ConnectorConfig,
        applied: &ConnectorConfig,
        new: &ConnectorConfig,
    ) -> Self {
        let (old, now) = (&applied.session, &new.session);
        let session = crate::serve::config::SessionLimits {
            dns_server: old.dns_server,
            ..now.clone()
        } != *old;
        let (old, now) = (&applied.trust, &new.trust);
        Self {
            session,
            enrolment: applied.enrolment != new.enrolment,
            revocation_files: old.crls != now.crls
                || old.blocklist != now.blocklist
                || old.refresh != now.refresh,
            crl_fetch: old.crl_urls != now.crl_urls || old.crl_fetch_every != now.crl_fetch_every,
            log: applied.log != new.log,
            restart: restart_needed(started, new),
        }
    }
}

/// The settings of `new` that differ from those the process started with and that only a
/// start takes.
fn restart_needed(started: &ConnectorConfig, new: &ConnectorConfig) -> Vec<String> {
    let (a, b) = (started, new);
    let sections = [
        ("[listen]", a.listen != b.listen),
        ("[tls]", a.tls != b.tls),
        ("[state]", a.state != b.state),
        ("[directory]", a.directory != b.directory),
        ("[audit]", a.audit != b.audit),
        ("[addresses]", a.addresses != b.addresses),
        ("[dataplane]", a.dataplane != b.dataplane),
        ("[admin]", a.admin != b.admin),
        (
            "[session] dns_server",
            a.session.dns_server != b.session.dns_server,
        ),
        ("[trust] roots", a.trust.roots != b.trust.roots),
        (
            "[trust] intermediates",
            a.trust.intermediates != b.trust.intermediates,
        ),
        ("[trust] crl_grace", a.trust.crl_grace != b.trust.crl_grace),
        ("[sso]", sso_differs(a, b)),
    ];
    sections
        .into_iter()
        .filter(|(_, changed)| *changed)
        .map(|(name, _)| name.to_owned())
        .collect()
}

/// `[sso]` apart from its clients: added, removed, or any other setting changed.
fn sso_differs(a: &ConnectorConfig, b: &ConnectorConfig) -> bool {
    match (&a.sso, &b.sso) {
        (None, None) => false,
        (Some(a), Some(b)) => {
            a.issuer != b.issuer
                || a.listen != b.listen
                || a.certificate != b.certificate
                || a.key != b.key
                || a.code_lifetime != b.code_lifetime
                || a.token_lifetime != b.token_lifetime
                || a.key_rotation != b.key_rotation
                || a.identity_headers != b.identity_headers
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn live_settings_and_those_needing_a_restart_are_told_apart() {
        let started = ConnectorConfig::default();
        let mut new = started.clone();
        assert_eq!(Plan::new(&started, &started, &new), Plan::default());

        new.session.idle_timeout = Duration::from_secs(60);
        new.session.dns_server = Some("100.80.0.53".parse().unwrap());
        new.trust.blocklist = Some("/etc/vigie/blocklist.toml".into());
        new.listen.port = 8443;
        new.trust
            .roots
            .push("/etc/vigie/trust/other-root.pem".into());
        let plan = Plan::new(&started, &started, &new);
        assert!(plan.session && plan.revocation_files);
        assert!(!plan.crl_fetch && !plan.enrolment && !plan.log);
        assert_eq!(
            plan.restart,
            ["[listen]", "[session] dns_server", "[trust] roots"]
        );
    }

    #[test]
    fn a_setting_waiting_for_a_restart_is_told_at_every_reload() {
        let started = ConnectorConfig::default();
        let mut new = started.clone();
        new.listen.port = 8443;
        let applied = new.clone();
        assert_eq!(Plan::new(&started, &applied, &new).restart, ["[listen]"]);
        assert!(!Plan::new(&started, &applied, &new).session);
    }
}
