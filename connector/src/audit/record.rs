//! The record format and its hash.
//!
//! A record is one JSON object per line,
//! `{"actor":…,"fields":{…},"hash":…,"kind":…,"prev":…,"seq":…,"time":…}`.
//! Its `hash` is the SHA-256 (lowercase hex) of the record's canonical form without the `hash` member: keys sorted
//! at every level, no spaces, strings escaped as `serde_json` does. Hashing a canonical form
//! rather than the bytes on disk keeps verification independent of how a line was written.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::event::AuditEvent;

/// A record's place in the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Link {
    /// Its sequence number; the first record is 1.
    pub(crate) seq: u64,
    /// Its hash.
    pub(crate) hash: String,
}

/// Builds the record that follows `prev` and returns it as a line (without the newline) with
/// its link.
pub(crate) fn seal(event: &AuditEvent, prev: &Link, now: DateTime<Utc>) -> (String, Link) {
    let seq = prev.seq + 1;
    let mut object = Map::new();
    object.insert("seq".into(), Value::from(seq));
    object.insert(
        "time".into(),
        now.to_rfc3339_opts(SecondsFormat::Millis, true).into(),
    );
    object.insert("kind".into(), event.kind.as_str().into());
    object.insert("actor".into(), event.actor.to_field().into());
    let fields = event
        .fields
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    object.insert("fields".into(), Value::Object(fields));
    object.insert("prev".into(), prev.hash.clone().into());
    let hash = hash_of(&object);
    object.insert("hash".into(), hash.clone().into());
    (canonical(&Value::Object(object)), Link { seq, hash })
}

/// The SHA-256 of an object's canonical form, leaving out its `hash` member.
pub(crate) fn hash_of(object: &Map<String, Value>) -> String {
    let mut without = object.clone();
    without.remove("hash");
    let digest = Sha256::digest(canonical(&Value::Object(without)).as_bytes());
    digest
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

/// The canonical text of a JSON value: object keys sorted, no whitespace.
pub(crate) fn canonical(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::from(key.as_str()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{Actor, AuditKind};

    fn genesis() -> Link {
        Link {
            seq: 0,
            hash: crate::audit::GENESIS.to_owned(),
        }
    }

    #[test]
    fn canonical_form_sorts_keys_at_every_level() {
        let value: Value =
            serde_json::from_str(r#"{"b":1,"a":{"d":[{"z":1,"y":2}],"c":"é"}}"#).unwrap();
        assert_eq!(
            canonical(&value),
            r#"{"a":{"c":"é","d":[{"y":2,"z":1}]},"b":1}"#
        );
    }

    #[test]
    fn sealed_record_hash_matches_its_reparsed_form() {
        let event = AuditEvent::new(AuditKind::HrSync, Actor::HrSync).field("added", 3);
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let (line, link) = seal(&event, &genesis(), now);
        let parsed: Map<String, Value> = serde_json::from_str(&line).unwrap();
        assert_eq!(hash_of(&parsed), link.hash);
        assert_eq!(parsed["hash"], Value::from(link.hash.clone()));
        assert_eq!(parsed["seq"], Value::from(1));
        assert_eq!(parsed["prev"], Value::from(crate::audit::GENESIS));
    }

    #[test]
    fn any_change_changes_the_hash() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let a = AuditEvent::new(AuditKind::HrSync, Actor::HrSync).field("added", 3);
        let b = AuditEvent::new(AuditKind::HrSync, Actor::HrSync).field("added", 4);
        assert_ne!(
            seal(&a, &genesis(), now).1.hash,
            seal(&b, &genesis(), now).1.hash
        );
    }
}
