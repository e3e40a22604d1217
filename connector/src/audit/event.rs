//! What happened, before it becomes a chained record.

use std::collections::BTreeMap;

use serde_json::Value;

/// The kinds of audit records. The string of each is stable: tools and auditors filter on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuditKind {
    /// A card was admitted.
    AdmissionAccepted,
    /// A card was refused, with a reason code.
    AdmissionRefused,
    /// A session started.
    SessionStart,
    /// A session was suspended (card pulled).
    SessionSuspend,
    /// A suspended session resumed.
    SessionResume,
    /// A session ended, with a reason.
    SessionEnd,
    /// An app was published or its definition changed.
    AppPublished,
    /// An app was withdrawn.
    AppWithdrawn,
    /// An app was granted to a group or a profession.
    AppGranted,
    /// A grant was taken back.
    AppGrantRevoked,
    /// A card was bound to a person.
    CardEnrolled,
    /// A card was revoked (lost, stolen, replaced).
    CardRevoked,
    /// An HR sync was applied (counts of changes).
    HrSync,
    /// A person lost access (HR departure, suspension, removal).
    AccessWithdrawn,
    /// A person was added to or changed in the directory.
    PersonChanged,
    /// A running connector read its configuration file again (applied or refused).
    ConfigReload,
}

impl AuditKind {
    /// The stable name written in the `kind` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AdmissionAccepted => "admission.accepted",
            Self::AdmissionRefused => "admission.refused",
            Self::SessionStart => "session.start",
            Self::SessionSuspend => "session.suspend",
            Self::SessionResume => "session.resume",
            Self::SessionEnd => "session.end",
            Self::AppPublished => "app.published",
            Self::AppWithdrawn => "app.withdrawn",
            Self::AppGranted => "app.granted",
            Self::AppGrantRevoked => "app.grant-revoked",
            Self::CardEnrolled => "card.enrolled",
            Self::CardRevoked => "card.revoked",
            Self::HrSync => "hr.sync",
            Self::AccessWithdrawn => "person.access-withdrawn",
            Self::PersonChanged => "person.changed",
            Self::ConfigReload => "config.reload",
        }
    }
}

/// Who caused an event.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Actor {
    /// A local administrator, by login name.
    Admin(String),
    /// The holder of a card, by idNat.
    Card(String),
    /// The HR synchronisation.
    HrSync,
    /// The connector itself (configuration applied at start, timers).
    Connector,
}

impl Actor {
    /// The form written in the `actor` field: `admin:alice`, `card:810…`, `hr-sync`, `connector`.
    pub fn to_field(&self) -> String {
        match self {
            Self::Admin(name) => format!("admin:{name}"),
            Self::Card(id_nat) => format!("card:{id_nat}"),
            Self::HrSync => "hr-sync".to_owned(),
            Self::Connector => "connector".to_owned(),
        }
    }
}

/// One thing that happened, with its details as named fields.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEvent {
    pub(crate) kind: AuditKind,
    pub(crate) actor: Actor,
    pub(crate) fields: BTreeMap<String, Value>,
}

impl AuditEvent {
    /// An event with no fields yet.
    pub fn new(kind: AuditKind, actor: Actor) -> Self {
        Self {
            kind,
            actor,
            fields: BTreeMap::new(),
        }
    }

    /// Adds a field; a later value for the same name replaces the earlier one.
    pub fn field(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.fields.insert(name.to_owned(), value.into());
        self
    }

    /// The kind of event.
    pub fn kind(&self) -> AuditKind {
        self.kind
    }

    /// A field's value, if set.
    pub fn value(&self, name: &str) -> Option<&Value> {
        self.fields.get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_replace_and_kinds_have_stable_names() {
        let event = AuditEvent::new(AuditKind::CardRevoked, Actor::Admin("alice".into()))
            .field("reason", "lost")
            .field("reason", "stolen");
        assert_eq!(event.value("reason"), Some(&Value::from("stolen")));
        assert_eq!(event.kind().as_str(), "card.revoked");
        assert_eq!(Actor::Card("810".into()).to_field(), "card:810");
    }
}
