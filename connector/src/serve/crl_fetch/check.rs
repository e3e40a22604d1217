//! Whether a fetched body may go in the folder: it must be CRLs the verifier accepts, and
//! not older than the ones in force. The verifier does the judging (a throwaway one over the
//! configured CAs), so this module holds no rule of its own about what a good CRL is.

use std::time::Duration;

use rustls_pki_types::UnixTime;
use vigie_certs::{CrlStatus, TrustConfig, Verifier};

use super::response::PeerError;

/// A usable CRL, or one to leave out.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Signed by a configured CA, and not older than the one in force for its issuer.
    Usable,
    /// Older than the CRL in force for its issuer (a replay, or a lagging mirror).
    Older,
}

/// Judges `body` against the CAs of `anchors` (which holds no CRL) and the CRLs `in_force`.
pub fn check(
    body: &[u8],
    anchors: &TrustConfig,
    in_force: &[CrlStatus],
) -> Result<Verdict, PeerError> {
    let crls = vigie_certs::pem::crls(body).map_err(|e| PeerError::NotACrl(e.to_string()))?;
    let probe = Verifier::new(TrustConfig {
        crls,
        ..anchors.clone()
    })
    .map_err(|error| PeerError::Refused(error.to_string()))?;
    // Freshness does not matter here, only issuers and thisUpdate: any time does.
    let fetched = probe.crl_statuses(UnixTime::since_unix_epoch(Duration::ZERO));
    let older = fetched.iter().any(|new| {
        in_force
            .iter()
            .any(|old| old.issuer == new.issuer && old.this_update > new.this_update)
    });
    Ok(if older {
        Verdict::Older
    } else {
        Verdict::Usable
    })
}

#[cfg(test)]
mod tests {
    use vigie_certs::pki::{CaRole, World};

    use super::*;

    struct Fixture {
        world: World,
        anchors: TrustConfig,
        now: u64,
    }

    fn fixture() -> Fixture {
        let world = World::shared(1, UnixTime::now()).unwrap();
        let trust = world.trust_config().unwrap();
        let anchors = TrustConfig::new(trust.roots, trust.intermediates);
        let now = UnixTime::now().as_secs();
        Fixture {
            world,
            anchors,
            now,
        }
    }

    /// A CRL of the world's first intermediate CA, issued at `this_update`.
    fn crl(fixture: &Fixture, this_update: u64) -> Vec<u8> {
        let cas = &fixture.world.index().cas;
        let ca = cas
            .iter()
            .find(|ca| ca.role == CaRole::Intermediate)
            .unwrap();
        let authority = fixture.world.authority(&ca.stem).unwrap();
        authority
            .crl(7, this_update, this_update + 86_400, &[])
            .unwrap()
    }

    fn in_force(fixture: &Fixture, der: Vec<u8>) -> Vec<CrlStatus> {
        let config = TrustConfig {
            crls: vec![der.into()],
            ..fixture.anchors.clone()
        };
        Verifier::new(config).unwrap().crl_statuses(UnixTime::now())
    }

    #[test]
    fn a_crl_of_a_configured_ca_is_usable_unless_older() {
        let fixture = fixture();
        let now = fixture.now;
        let fresh = crl(&fixture, now);
        let verdict = check(&fresh, &fixture.anchors, &[]).unwrap();
        assert_eq!(verdict, Verdict::Usable);
        let same = in_force(&fixture, fresh.clone());
        assert_eq!(
            check(&fresh, &fixture.anchors, &same).unwrap(),
            Verdict::Usable
        );
        let newer = in_force(&fixture, crl(&fixture, now + 60));
        assert_eq!(
            check(&fresh, &fixture.anchors, &newer).unwrap(),
            Verdict::Older
        );
    }

    #[test]
    fn what_the_verifier_refuses_is_not_stored() {
        let fixture = fixture();
        let fresh = crl(&fixture, fixture.now);
        let roots_only = TrustConfig::new(fixture.anchors.roots.clone(), Vec::new());
        let error = check(&fresh, &roots_only, &[]).unwrap_err();
        assert!(matches!(error, PeerError::Refused(_)), "{error}");
        assert!(error.to_string().contains("not a configured CA"), "{error}");
        let mut forged = fresh;
        let last = forged.len() - 1;
        forged[last] ^= 1;
        let error = check(&forged, &fixture.anchors, &[]).unwrap_err();
        assert!(matches!(error, PeerError::Refused(_)), "{error}");
        let error = check(b"<html>404</html>", &fixture.anchors, &[]).unwrap_err();
        assert!(matches!(error, PeerError::NotACrl(_)), "{error}");
        let error = check(&[0x30, 0x03, 1, 2, 3], &fixture.anchors, &[]).unwrap_err();
        assert!(matches!(error, PeerError::Refused(_)), "{error}");
    }
}
