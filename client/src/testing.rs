//! Test support: a software CPS3/CPS4 card and a throwaway identity made with openssl.
//!
//! The fake card answers the same APDUs as a real one closely enough to exercise the flows of
//! this crate (T=0 `61 xx` for the CPS3, logical channel 1 for the CPS4, PIN counter, both
//! paddings). It is deliberately simple: the lab's emulator behind a real pcscd is the
//! end-to-end check.

use std::path::PathBuf;
use std::process::Command as Process;
use std::sync::OnceLock;

use rsa::pkcs8::DecodePrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, Pkcs1v15Sign, Pss, RsaPrivateKey};
use sha2::Sha256;

use crate::error::CardError;
use crate::transport::{CardStatus, CardTransport};

pub const CPS3_ATR: [u8; 17] = [
    0x3B, 0xAC, 0x00, 0x40, 0x2A, 0x00, 0x12, 0x25, 0x00, 0x64, 0x80, 0x00, 0x03, 0x10, 0x00, 0x90,
    0x00,
];
pub const CPS4_ATR: [u8; 17] = [
    0x3B, 0x9B, 0x18, 0x80, 0x01, 0x00, 0x12, 0x25, 0x00, 0x64, 0x80, 0x04, 0x01, 0x00, 0x00, 0x90,
    0x44,
];

/// A small PKI made once per test process with openssl: a CA, a card identity it issued
/// (`CN=899700123450`, `SN=TESTEUR`, `GN=JEANNE`, `title=Médecin`), and a server certificate
/// for `localhost`.
pub struct Identity {
    /// Holds every file (`ca.pem`, `server.pem`, `server.key`, `client.der`, `client.key`).
    pub dir: PathBuf,
    /// The card's authentication certificate (DER).
    pub cert_der: Vec<u8>,
    /// The card's private key.
    pub key: RsaPrivateKey,
}

/// The shared test PKI.
pub fn identity() -> &'static Identity {
    static IDENTITY: OnceLock<Identity> = OnceLock::new();
    IDENTITY.get_or_init(make_identity)
}

fn openssl(dir: &std::path::Path, args: &[&str]) {
    let status = Process::new("openssl")
        .current_dir(dir)
        .args(args)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run openssl");
    assert!(status.success(), "openssl {args:?} failed");
}

fn issue(dir: &std::path::Path, name: &str, subject: &str, extensions: &str) {
    let ext = format!("{name}.ext");
    std::fs::write(dir.join(&ext), extensions).expect("write extensions");
    let (key, csr, der) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.der"),
    );
    openssl(
        dir,
        &[
            "req", "-new", "-newkey", "rsa:2048", "-nodes", "-utf8", "-subj", subject, "-keyout",
            &key, "-out", &csr,
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "30",
            "-extfile",
            &ext,
            "-outform",
            "DER",
            "-out",
            &der,
        ],
    );
    let pem = format!("{name}.pem");
    openssl(dir, &["x509", "-inform", "DER", "-in", &der, "-out", &pem]);
}

fn make_identity() -> Identity {
    let dir = std::env::temp_dir().join(format!("vigie-client-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    openssl(
        &dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "30",
            "-subj",
            "/CN=Vigie Test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
    );
    let client_ext = "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n";
    issue(
        &dir,
        "client",
        "/C=FR/title=M\u{e9}decin/CN=899700123450/SN=TESTEUR/GN=JEANNE",
        client_ext,
    );
    let server_ext = "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n";
    issue(&dir, "server", "/CN=localhost", server_ext);
    let pem = std::fs::read_to_string(dir.join("client.key")).expect("key");
    let key = RsaPrivateKey::from_pkcs8_pem(&pem).expect("pkcs8 key");
    let cert_der = std::fs::read(dir.join("client.der")).expect("cert");
    Identity { dir, cert_der, key }
}

/// A software CPS card.
pub struct FakeCard {
    pub atr: Vec<u8>,
    pub cps4: bool,
    pub pin: Vec<u8>,
    pub tries: u8,
    pub verified: bool,
    pub present: bool,
    pub files: Vec<([u8; 2], Vec<u8>)>,
    selected: Option<usize>,
    pending: Vec<u8>,
    chained: Vec<u8>,
    pub sent: Vec<Vec<u8>>,
}

impl FakeCard {
    pub fn cps3() -> Self {
        Self::new(&CPS3_ATR, false)
    }

    pub fn cps4() -> Self {
        Self::new(&CPS4_ATR, true)
    }

    fn new(atr: &[u8], cps4: bool) -> Self {
        let cert = identity().cert_der.clone();
        let files = vec![
            (
                [0x50, 0x31],
                der(0xA4, &der(0x30, &der(0x04, &[0x3F, 0x00, 0x50, 0x32]))),
            ),
            (
                [0x50, 0x32],
                cdf_entry("Certificat d'Authentification CPS", &[0xC0, 0x00]),
            ),
            ([0xC0, 0x00], cert),
            (
                [0xD0, 0x03],
                vec![
                    0x5A, 0x0A, 0x80, 0x25, 0x00, 0x00, 0x01, 0x12, 0x34, 0x56, 0x78, 0x90,
                ],
            ),
        ];
        Self {
            atr: atr.to_vec(),
            cps4,
            pin: b"1234".to_vec(),
            tries: 3,
            verified: false,
            present: true,
            files,
            selected: None,
            pending: vec![],
            chained: vec![],
            sent: vec![],
        }
    }

    fn reply(&mut self, data: Vec<u8>, le_present: bool) -> Vec<u8> {
        if !self.cps4 && !le_present && !data.is_empty() {
            let announce = u8::try_from(data.len()).unwrap_or(0);
            self.pending = data;
            return vec![0x61, announce];
        }
        [data, vec![0x90, 0x00]].concat()
    }

    fn handle(&mut self, apdu: &[u8]) -> Vec<u8> {
        let [cla, ins, p1, p2, rest @ ..] = apdu else {
            return vec![0x67, 0x00];
        };
        let (data, le) = split_body(rest);
        if (*cla & 0x03 == 1) != self.cps4 {
            return vec![0x68, 0x81];
        }
        match *ins {
            0xC0 => {
                let out = std::mem::take(&mut self.pending);
                [out, vec![0x90, 0x00]].concat()
            }
            0xA4 => self.select(*p1, data, le.is_some()),
            0xB0 => self.read(usize::from(*p1) << 8 | usize::from(*p2), le),
            0x20 => self.verify(data),
            0x22 => vec![0x90, 0x00],
            0x88 | 0x2A => self.sign(*cla, *ins, data, le.is_some()),
            _ => vec![0x6D, 0x00],
        }
    }

    fn select(&mut self, p1: u8, data: &[u8], le_present: bool) -> Vec<u8> {
        if p1 == 0x04 {
            return vec![0x90, 0x00];
        }
        let Some(fid) = data.rchunks(2).next() else {
            return vec![0x6A, 0x82];
        };
        match self.files.iter().position(|(id, _)| id.as_slice() == fid) {
            Some(index) => {
                self.selected = Some(index);
                let size = u16::try_from(self.files[index].1.len())
                    .expect("small")
                    .to_be_bytes();
                let fcp = vec![0x62, 0x04, 0x80, 0x02, size[0], size[1]];
                self.reply(fcp, le_present)
            }
            None => vec![0x6A, 0x82],
        }
    }

    fn read(&mut self, offset: usize, le: Option<usize>) -> Vec<u8> {
        let Some(index) = self.selected else {
            return vec![0x69, 0x86];
        };
        let content = &self.files[index].1;
        if offset >= content.len() {
            return vec![0x6B, 0x00];
        }
        let end = (offset + le.unwrap_or(256)).min(content.len());
        [&content[offset..end], &[0x90, 0x00]].concat()
    }

    fn verify(&mut self, data: &[u8]) -> Vec<u8> {
        if self.tries == 0 {
            return vec![0x69, 0x83];
        }
        if data.is_empty() {
            return if self.verified {
                vec![0x90, 0x00]
            } else {
                vec![0x63, 0xC0 | self.tries]
            };
        }
        if data == self.pin.as_slice() {
            self.tries = 3;
            self.verified = true;
            return vec![0x90, 0x00];
        }
        self.tries -= 1;
        self.verified = false;
        match self.tries {
            0 => vec![0x69, 0x83],
            n => vec![0x63, 0xC0 | n],
        }
    }

    fn sign(&mut self, cla: u8, ins: u8, data: &[u8], le_present: bool) -> Vec<u8> {
        if cla & 0x10 != 0 {
            self.chained.extend_from_slice(data);
            return vec![0x90, 0x00];
        }
        let input = [std::mem::take(&mut self.chained), data.to_vec()].concat();
        if !self.verified {
            return vec![0x69, 0x82];
        }
        let key = &identity().key;
        let signature = match (self.cps4, ins) {
            (false, 0x88) => key
                .sign(Pkcs1v15Sign::new_unprefixed(), &input)
                .expect("sign"),
            (true, 0x2A) if input.len() == key.size() => raw_private(key, &input),
            (true, 0x2A) => {
                let mut rng = rand::thread_rng();
                key.sign_with_rng(&mut rng, Pss::new_with_salt::<Sha256>(32), &input)
                    .expect("pss")
            }
            _ => return vec![0x6D, 0x00],
        };
        self.reply(signature, le_present)
    }
}

fn raw_private(key: &RsaPrivateKey, block: &[u8]) -> Vec<u8> {
    let m = BigUint::from_bytes_be(block);
    let s = rsa::hazmat::rsa_decrypt_and_check(key, None::<&mut rand::rngs::ThreadRng>, &m)
        .expect("raw rsa");
    let mut out = s.to_bytes_be();
    while out.len() < key.size() {
        out.insert(0, 0);
    }
    out
}

fn split_body(rest: &[u8]) -> (&[u8], Option<usize>) {
    let le = |b: u8| Some(if b == 0 { 256 } else { usize::from(b) });
    match rest {
        [] => (&[], None),
        [l] => (&[], le(*l)),
        [lc, body @ ..] if body.len() == usize::from(*lc) => (body, None),
        [lc, body @ ..] if body.len() == usize::from(*lc) + 1 => {
            (&body[..usize::from(*lc)], le(body[usize::from(*lc)]))
        }
        _ => (&[], None),
    }
}

impl CardTransport for FakeCard {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, CardError> {
        if !self.present {
            return Err(CardError::CardRemoved);
        }
        self.sent.push(apdu.to_vec());
        Ok(self.handle(apdu))
    }

    fn status(&mut self) -> Result<CardStatus, CardError> {
        Ok(CardStatus {
            reader: "Fake Reader 00".into(),
            atr: self.atr.clone(),
        })
    }
}

/// A DER element (lengths up to 65535).
pub fn der(tag: u8, value: &[u8]) -> Vec<u8> {
    let len = value.len();
    let mut out = vec![tag];
    match len {
        0..=0x7F => out.push(len as u8),
        0x80..=0xFF => out.extend_from_slice(&[0x81, len as u8]),
        _ => out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]),
    }
    out.extend_from_slice(value);
    out
}

fn cdf_entry(label: &str, path: &[u8]) -> Vec<u8> {
    let common = der(0x30, &der(0x0C, label.as_bytes()));
    let common_cert = der(0x30, &der(0x04, &[0x02]));
    let typed = der(0xA1, &der(0x30, &der(0x30, &der(0x04, path))));
    der(0x30, &[common, common_cert, typed].concat())
}
