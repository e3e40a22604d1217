//! Object identifiers used by card certificates and the test PKI.

use der::asn1::ObjectIdentifier as Oid;

/// Country (`C`).
pub const COUNTRY: Oid = Oid::new_unwrap("2.5.4.6");
/// Organisation (`O`).
pub const ORGANIZATION: Oid = Oid::new_unwrap("2.5.4.10");
/// Organisational unit (`OU`).
pub const ORGANIZATIONAL_UNIT: Oid = Oid::new_unwrap("2.5.4.11");
/// Locality (`L`).
pub const LOCALITY: Oid = Oid::new_unwrap("2.5.4.7");
/// Common name (`CN`): the idNat on card certificates.
pub const CN: Oid = Oid::new_unwrap("2.5.4.3");
/// Surname (`SN`).
pub const SURNAME: Oid = Oid::new_unwrap("2.5.4.4");
/// Given name (`GN`).
pub const GIVEN_NAME: Oid = Oid::new_unwrap("2.5.4.42");
/// Title: the profession label on card certificates.
pub const TITLE: Oid = Oid::new_unwrap("2.5.4.12");
/// Microsoft user principal name, a SAN otherName.
pub const UPN: Oid = Oid::new_unwrap("1.3.6.1.4.1.311.20.2.3");
/// EKU TLS client authentication.
pub const CLIENT_AUTH: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.2");
/// EKU TLS server authentication.
pub const SERVER_AUTH: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.1");
/// EKU Microsoft smart card logon.
pub const SMARTCARD_LOGON: Oid = Oid::new_unwrap("1.3.6.1.4.1.311.20.2.2");
/// `rsaEncryption` public keys.
pub const RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
/// `sha256WithRSAEncryption` signatures.
pub const SHA256_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.11");
/// `anyPolicy`, the certificate policy of the IGC-Santé CAs.
pub const ANY_POLICY: Oid = Oid::new_unwrap("2.5.29.32.0");
/// `id-ecPublicKey`: elliptic-curve public keys (the connector's ECDSA certificate).
pub const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
/// `prime256v1` (NIST P-256), the curve of an `id-ecPublicKey`.
pub const P256: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
