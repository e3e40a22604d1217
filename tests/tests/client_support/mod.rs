//! Shared set-up of the client's end-to-end tests: the shared pcscd of this test binary, one
//! reader slot per test, and a virtual card from the `vigie-pki` test world inserted in it.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of this module"
)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rsa::RsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use vigie_certs::pki::World;
use vigie_client::pcsc_transport::{self, PcscTransport};
use vigie_client::rustls::pki_types::UnixTime;
use vigie_lab::card::{InsertedCard, VirtualCard};
use vigie_lab::{Pcscd, ReaderSlot};
use x509_cert::der::{Decode, Encode};

/// The seed of the test world shared with the other suites.
pub const WORLD_SEED: u64 = 1;
/// How long pcscd may take to notice a card coming or going before a test gives up.
const PRESENCE_WAIT: Duration = Duration::from_secs(20);

/// The test world (made once per machine and day, then reused).
pub fn world() -> World {
    World::shared(WORLD_SEED, UnixTime::now()).expect("the vigie-pki test world")
}

/// One card in one reader of the shared pcscd.
pub struct Lab {
    pub slot: ReaderSlot,
    pub card: VirtualCard,
    pub card_dir: PathBuf,
    inserted: Option<InsertedCard>,
    ctx: pcsc::Context,
}

impl Lab {
    /// Inserts card `name` of the test world; `None` (test skipped) when not root.
    pub fn with_card(name: &str) -> Option<Self> {
        vigie_lab::require_root("pcscd in a network namespace").ok()?;
        vigie_lab::init_test_logging();
        let pcscd = Pcscd::shared().expect("start pcscd");
        let slot = pcscd.take_slot();
        let card_dir = world().card_dir(name).expect("card in the world");
        let card = VirtualCard::load(&card_dir).expect("load the card identity");
        let ctx = pcsc_transport::establish().expect("PC/SC context");
        let mut lab = Self {
            slot,
            card,
            card_dir,
            inserted: None,
            ctx,
        };
        lab.reinsert();
        Some(lab)
    }

    /// Connects to the card through pcscd, as the client does.
    pub fn connect(&self) -> PcscTransport {
        PcscTransport::connect(&self.ctx, &self.slot.reader_name()).expect("connect to the card")
    }

    /// The identity's authentication certificate, as written by `vigie-pki`.
    pub fn auth_cert(&self) -> Vec<u8> {
        std::fs::read(self.card_dir.join("auth.crt.der")).expect("auth.crt.der")
    }

    /// Pulls the card out, and waits until pcscd sees the reader empty.
    pub fn pull(&mut self) {
        if let Some(inserted) = self.inserted.take() {
            inserted.remove();
        }
        self.wait_presence(false);
    }

    /// Inserts the card (again), and waits until pcscd sees it.
    pub fn reinsert(&mut self) {
        self.inserted = Some(self.card.insert(&self.slot).expect("insert the card"));
        self.wait_presence(true);
    }

    fn wait_presence(&self, present: bool) {
        let reader = self.slot.reader_name();
        let start = Instant::now();
        loop {
            let readers = pcsc_transport::readers(&self.ctx).expect("list readers");
            if readers
                .iter()
                .any(|r| r.name == reader && r.card_present == present)
            {
                return;
            }
            assert!(
                start.elapsed() < PRESENCE_WAIT,
                "pcscd never saw the card {} in {reader}; pcscd log:\n{}",
                if present { "arrive" } else { "leave" },
                self.slot.pcscd().log_tail(30)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The RSA public key of a DER certificate.
pub fn public_key(cert_der: &[u8]) -> RsaPublicKey {
    let cert = x509_cert::Certificate::from_der(cert_der).expect("certificate");
    let spki = cert
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .expect("SPKI");
    RsaPublicKey::from_public_key_der(&spki).expect("an RSA key")
}
