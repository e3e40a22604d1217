//! The emulated cards' files: identifiers, key references and PKCS#15 content.
//!
//! ```text
//! 3F00 MF (CPS3), or the ChipDoc applet's root (CPS4)
//! ├── 2F00  EF.DIR          one application template: the PKCS#15 application
//! ├── 2F01  EF.ATR          IAS-ECC EF.ATR (a stray 80, then service data and buffer sizes)
//! ├── D003  EF.SN.ICC       5A 0A 80 25 00 00 01 + card number in BCD, F-padded (12 bytes)
//! ├── 0001  DF CPS
//! │   └── 7001              present: the card is read in contact mode
//! └── 5000  DF PKCS#15      AID E8 28 BD 08 0F 80 25 00 00 01 FF 00 10
//!     ├── 5031  ODF         points at the AODF, PrKDF and CDF below
//!     ├── 5032  TokenInfo
//!     ├── 5033  AODF        the card holder PIN, reference 01, ASCII digits, 4 to 8
//!     ├── 5034  PrKDF       CPS_PRIV_AUT, CPS_PRIV_SIG
//!     ├── 5035  CDF         the two certificates below
//!     ├── C000  Certificat d'Authentification CPS (DER)
//!     └── C001  Certificat de Signature CPS (DER)
//! ```
//!
//! The real cards' PKCS#15 file identifiers are not public; these are the lab's choice, and
//! clients should find certificates through the CDF or select `C000` directly.

use super::fs::{FileSystem, ROOT, tlv};
use super::identity::{CardIdentity, Generation};

/// The PKCS#15 application AID (both generations).
pub const PKCS15_AID: [u8; 13] = [
    0xE8, 0x28, 0xBD, 0x08, 0x0F, 0x80, 0x25, 0x00, 0x00, 0x01, 0xFF, 0x00, 0x10,
];
/// The CPS4 ChipDoc applet AID, selected on logical channel 1.
pub const CHIPDOC_AID: [u8; 8] = [0x80, 0x25, 0x00, 0x00, 0x01, 0xFF, 0x01, 0x00];
/// The CPS4 CPS2ter applet AID (the default applet of the basic channel).
pub const CPS2TER_AID: [u8; 8] = [0x80, 0x25, 0x00, 0x00, 0x01, 0xFF, 0x00, 0x02];
/// EF.SN.ICC.
pub const EF_SN_ICC: u16 = 0xD003;
/// EF.ATR.
pub const EF_ATR: u16 = 0x2F01;
/// The PKCS#15 application DF.
pub const DF_PKCS15: u16 = 0x5000;
/// The authentication certificate, under the PKCS#15 DF.
pub const EF_AUTH_CERT: u16 = 0xC000;
/// The signature certificate, under the PKCS#15 DF.
pub const EF_SIGN_CERT: u16 = 0xC001;
/// The holder PIN's reference (VERIFY P2), both generations.
pub const PIN_REF: u8 = 0x01;
/// CPS3 authentication key (`CPS_PRIV_AUT`).
pub const CPS3_AUTH_KEY: u8 = 0x82;
/// CPS3 signature key (`CPS_PRIV_SIG`).
pub const CPS3_SIGN_KEY: u8 = 0x81;
/// CPS4 authentication key.
pub const CPS4_AUTH_KEY: u8 = 0x20;
/// CPS4 signature key (the real reference is not public; the lab's choice).
pub const CPS4_SIGN_KEY: u8 = 0x21;

/// The 12 bytes of EF.SN.ICC for a 10-digit card number.
pub fn sn_icc(card_number: &str) -> Vec<u8> {
    let mut out = vec![0x5A, 0x0A, 0x80, 0x25, 0x00, 0x00, 0x01];
    let digits: Vec<u8> = card_number
        .bytes()
        .map(|b| b.wrapping_sub(b'0') & 0x0F)
        .collect();
    for pair in digits.chunks(2).take(5) {
        let high = pair[0];
        let low = pair.get(1).copied().unwrap_or(0x0F);
        out.push(high << 4 | low);
    }
    out.resize(12, 0xFF);
    out
}

/// Builds the file tree of `identity`'s card.
pub fn file_system(identity: &CardIdentity, historical: &[u8]) -> FileSystem {
    let mut fs = FileSystem::new(0x3F00);
    fs.add_ef(ROOT, 0x2F00, Some(0x1E), ef_dir());
    fs.add_ef(ROOT, EF_ATR, Some(0x1D), ef_atr(historical));
    fs.add_ef(ROOT, EF_SN_ICC, Some(0x03), sn_icc(&identity.card_number));
    let cps = fs.add_df(ROOT, 0x0001, None);
    fs.add_ef(cps, 0x7001, None, vec![0x01]);
    let app = fs.add_df(ROOT, DF_PKCS15, Some(&PKCS15_AID));
    fs.add_ef(app, 0x5031, None, odf());
    fs.add_ef(app, 0x5032, None, token_info(identity));
    fs.add_ef(app, 0x5033, None, aodf());
    fs.add_ef(app, 0x5034, None, prkdf(identity.generation));
    fs.add_ef(app, 0x5035, None, cdf());
    fs.add_ef(app, EF_AUTH_CERT, None, identity.auth_cert.clone());
    fs.add_ef(app, EF_SIGN_CERT, None, identity.sign_cert.clone());
    fs
}

/// EF.ATR as IAS-ECC cards write it after the category byte `80` (which the CPx stores too):
/// card service data, pre-issuing data (chip and OS versions, with the ATR's historical bytes
/// here), card capabilities, and the I/O buffer sizes (`E0`): 255 bytes in, 231 (`E7`) out.
fn ef_atr(historical: &[u8]) -> Vec<u8> {
    let mut pre_issuing = vec![0x80, 0x25, 0x01, 0x01];
    pre_issuing.extend_from_slice(historical.get(..4).unwrap_or_default());
    let sizes = [
        0x02, 0x02, 0x00, 0xFF, 0x02, 0x02, 0x00, 0xFF, 0x02, 0x02, 0x00, 0xE7, 0x02, 0x02, 0x00,
        0xE7,
    ];
    let mut out = vec![0x80];
    out.extend(der(0x43, &[&[0xB8]]));
    out.extend(der(0x46, &[&pre_issuing]));
    out.extend(der(0x47, &[&[0xB4, 0x01, 0x80]]));
    out.extend(der(0xE0, &[&sizes]));
    out
}

fn der(tag: u16, parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    tlv(&mut out, tag, &parts.concat());
    out
}

fn path(fids: &[u16]) -> Vec<u8> {
    let mut bytes = vec![0x3F, 0x00];
    bytes.extend(fids.iter().flat_map(|f| f.to_be_bytes()));
    der(0x30, &[&der(0x04, &[&bytes])])
}

fn ef_dir() -> Vec<u8> {
    let aid = der(0x4F, &[&PKCS15_AID]);
    let label = der(0x50, &[b"CPS"]);
    let path = der(0x51, &[&[0x3F, 0x00], &DF_PKCS15.to_be_bytes()]);
    der(0x61, &[&aid, &label, &path])
}

fn odf() -> Vec<u8> {
    let prkdf = der(0xA0, &[&path(&[DF_PKCS15, 0x5034])]);
    let cdf = der(0xA4, &[&path(&[DF_PKCS15, 0x5035])]);
    let aodf = der(0xA8, &[&path(&[DF_PKCS15, 0x5033])]);
    [prkdf, cdf, aodf].concat()
}

fn token_info(identity: &CardIdentity) -> Vec<u8> {
    let version = der(0x02, &[&[0x00]]);
    let serial = der(0x04, &[identity.card_number.as_bytes()]);
    let manufacturer = der(0x0C, &[b"Vigie lab"]);
    let label = match identity.generation {
        Generation::Cps3 => "CPS3",
        Generation::Cps4 => "CPS4",
    };
    let label = der(0x80, &[label.as_bytes()]);
    let flags = der(0x03, &[&[0x07, 0x80]]);
    der(
        0x30,
        &[
            &version,
            &serial,
            &manufacturer,
            &label,
            &flags,
            &supported_algorithms(),
        ],
    )
}

/// TokenInfo `supportedAlgorithms` ([2]): reference, PKCS#11 mechanism, parameters (NULL),
/// operations (bit string), and the card's algorithm reference as MSE sends it. Middleware
/// (OpenSC's IAS-ECC driver) looks up the algorithm byte of MSE SET here.
fn supported_algorithms() -> Vec<u8> {
    const CKM_RSA_PKCS: &[u8] = &[0x01];
    const CKM_SHA256_RSA_PKCS: &[u8] = &[0x40];
    const CKM_SHA256: &[u8] = &[0x02, 0x50];
    const SIGN: &[u8] = &[0x06, 0x40];
    const DECIPHER: &[u8] = &[0x02, 0x04];
    const HASH: &[u8] = &[0x01, 0x02];
    let entries: [(u8, &[u8], &[u8], u8); 4] = [
        (1, CKM_RSA_PKCS, SIGN, 0x02),
        (2, CKM_RSA_PKCS, DECIPHER, 0x1A),
        (3, CKM_SHA256_RSA_PKCS, SIGN, 0x42),
        (4, CKM_SHA256, HASH, 0x40),
    ];
    let infos: Vec<Vec<u8>> = entries
        .iter()
        .map(|(reference, mechanism, operations, algo_ref)| {
            let parts: [&[u8]; 5] = [
                &der(0x02, &[&[*reference]]),
                &der(0x02, &[mechanism]),
                &[0x05, 0x00],
                &der(0x03, &[operations]),
                &der(0x02, &[&[*algo_ref]]),
            ];
            der(0x30, &parts)
        })
        .collect();
    let refs: Vec<&[u8]> = infos.iter().map(Vec::as_slice).collect();
    der(0xA2, &refs)
}

fn aodf() -> Vec<u8> {
    let common = der(
        0x30,
        &[&der(0x0C, &[b"Code porteur"]), &der(0x03, &[&[0x06, 0x40]])],
    );
    let auth_id = der(0x30, &[&der(0x04, &[&[0x01]])]);
    let attrs = der(
        0x30,
        &[
            &der(0x03, &[&[0x03, 0x08]]),
            &der(0x0A, &[&[0x01]]),
            &der(0x02, &[&[0x04]]),
            &der(0x02, &[&[0x04]]),
            &der(0x02, &[&[0x08]]),
            &der(0x80, &[&[PIN_REF]]),
            &path(&[]),
        ],
    );
    der(0x30, &[&common, &auth_id, &der(0xA1, &[&attrs])])
}

fn private_key(label: &str, id: u8, usage: &[u8], key_ref: u8) -> Vec<u8> {
    let common = der(
        0x30,
        &[
            &der(0x0C, &[label.as_bytes()]),
            &der(0x03, &[&[0x07, 0x80]]),
            &der(0x04, &[&[0x01]]),
        ],
    );
    let mut full_id = PKCS15_AID.to_vec();
    full_id.push(id);
    let key = der(
        0x30,
        &[
            &der(0x04, &[&full_id]),
            &der(0x03, &[usage]),
            &der(0x02, &[&[0x00, key_ref]]),
        ],
    );
    let rsa = der(0x30, &[&path(&[DF_PKCS15]), &der(0x02, &[&[0x08, 0x00]])]);
    der(0x30, &[&common, &key, &der(0xA1, &[&rsa])])
}

fn prkdf(generation: Generation) -> Vec<u8> {
    let (auth, sign) = match generation {
        Generation::Cps3 => (CPS3_AUTH_KEY, CPS3_SIGN_KEY),
        Generation::Cps4 => (CPS4_AUTH_KEY, CPS4_SIGN_KEY),
    };
    let aut = private_key("CPS_PRIV_AUT", 0x02, &[0x05, 0x60], auth);
    let sig = private_key("CPS_PRIV_SIG", 0x01, &[0x06, 0x00, 0x40], sign);
    [sig, aut].concat()
}

fn certificate(label: &str, id: u8, fid: u16) -> Vec<u8> {
    let common = der(0x30, &[&der(0x0C, &[label.as_bytes()])]);
    let mut full_id = PKCS15_AID.to_vec();
    full_id.push(id);
    let class = der(0x30, &[&der(0x04, &[&full_id])]);
    let value = der(0x30, &[&path(&[DF_PKCS15, fid])]);
    der(0x30, &[&common, &class, &der(0xA1, &[&value])])
}

fn cdf() -> Vec<u8> {
    let auth = certificate("Certificat d'Authentification CPS", 0x02, EF_AUTH_CERT);
    let sign = certificate("Certificat de Signature CPS", 0x01, EF_SIGN_CERT);
    [auth, sign].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sn_icc_is_twelve_bytes_with_the_issuer() {
        let sn = sn_icc("0123456789");
        assert_eq!(
            sn,
            vec![
                0x5A, 0x0A, 0x80, 0x25, 0x00, 0x00, 0x01, 0x01, 0x23, 0x45, 0x67, 0x89
            ]
        );
    }

    #[test]
    fn descriptors_are_well_formed_tlvs() {
        for bytes in [ef_dir(), odf(), aodf(), prkdf(Generation::Cps3), cdf()] {
            let mut rest = bytes.as_slice();
            while !rest.is_empty() {
                assert!(rest.len() >= 2, "truncated TLV in {bytes:02X?}");
                let (len, header) = match rest[1] {
                    n if n < 0x80 => (usize::from(n), 2),
                    0x81 => (usize::from(rest[2]), 3),
                    _ => (usize::from(u16::from_be_bytes([rest[2], rest[3]])), 4),
                };
                assert!(
                    rest.len() >= header + len,
                    "length overruns in {bytes:02X?}"
                );
                rest = &rest[header + len..];
            }
        }
    }

    #[test]
    fn prkdf_carries_the_key_references() {
        let cps3 = prkdf(Generation::Cps3);
        assert!(
            cps3.windows(4)
                .any(|w| w == [0x02, 0x02, 0x00, CPS3_AUTH_KEY])
        );
        let cps4 = prkdf(Generation::Cps4);
        assert!(
            cps4.windows(4)
                .any(|w| w == [0x02, 0x02, 0x00, CPS4_AUTH_KEY])
        );
    }
}
