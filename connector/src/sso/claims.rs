//! Who the tokens speak of, and the claims they carry: standard OpenID Connect claims, and
//! claims shaped like Pro Santé Connect's, so that app code written for PSC reads ours
//! unchanged.
//!
//! | claim | value |
//! |---|---|
//! | `sub`, `preferred_username`, `SubjectNameID` | the idNat: stable for the person, whichever card |
//! | `given_name`, `family_name`, `name` | from the directory (HR) |
//! | `SubjectRefPro` | `{"exercices": [{"codeProfession", "nomDexercice", "prenomDexercice"}]}` |
//! | `SubjectRole` | `["<profession code>^1.2.250.1.213.1.1.5.5"]` |
//! | `amr` | `["sc", "pin", "mfa", "hwk"]`: smart card and PIN, as HospiConnect lists a CPx |
//! | `acr` | [`ACR`] |
//! | `auth_time`, `sid` | when the card opened the session, and the session |
//!
//! Only what Vigie knows is sent: the practice sites, addresses and the other parts of the
//! national directory's `SubjectRefPro` are not on the card, so they are absent.

use serde_json::{Value, json};

/// The authentication context: a CPS card with its PIN, checked by Vigie.
pub const ACR: &str = "urn:vigie:acr:cps-card-pin";

/// The authentication methods of every session: smart card, PIN, multi-factor, hardware key.
pub const AMR: [&str; 4] = ["sc", "pin", "mfa", "hwk"];

/// The nomenclature of profession codes in `SubjectRole` (TRE-G15-ProfessionSante).
const PROFESSION_OID: &str = "1.2.250.1.213.1.1.5.5";

/// The person behind a session, as the tokens describe them.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Subject {
    /// The idNat.
    pub id_nat: String,
    /// Family name.
    pub family_name: String,
    /// Given name.
    pub given_name: String,
    /// Professions, as HR or the card name them (`Médecin`).
    pub professions: Vec<String>,
    /// The session id (hex), the `sid` claim.
    pub session: String,
    /// When the card opened the session, Unix seconds.
    pub auth_time: u64,
}

impl Subject {
    /// The identity claims shared by the ID token, userinfo and identity assertions.
    pub fn identity_claims(&self) -> Value {
        let exercices: Vec<Value> = self
            .professions
            .iter()
            .map(|p| {
                json!({
                    "codeProfession": profession_code(p).unwrap_or(""),
                    "libelleProfession": p,
                    "nomDexercice": self.family_name,
                    "prenomDexercice": self.given_name,
                })
            })
            .collect();
        let roles: Vec<String> = self
            .professions
            .iter()
            .filter_map(|p| profession_code(p))
            .map(|code| format!("{code}^{PROFESSION_OID}"))
            .collect();
        json!({
            "sub": self.id_nat,
            "preferred_username": self.id_nat,
            "SubjectNameID": self.id_nat,
            "given_name": self.given_name,
            "family_name": self.family_name,
            "name": format!("{} {}", self.given_name, self.family_name),
            "SubjectRefPro": { "exercices": exercices },
            "SubjectRole": roles,
        })
    }

    /// The claims of an ID token for `client` at `now`, valid for `lifetime` seconds.
    pub fn id_token(
        &self,
        issuer: &str,
        client: &str,
        nonce: Option<&str>,
        now: u64,
        lifetime: u64,
    ) -> Value {
        let mut claims = self.identity_claims();
        merge(
            &mut claims,
            json!({
                "iss": issuer,
                "aud": client,
                "azp": client,
                "iat": now,
                "exp": now + lifetime,
                "auth_time": self.auth_time,
                "sid": self.session,
                "amr": AMR,
                "acr": ACR,
            }),
        );
        if let Some(nonce) = nonce {
            merge(&mut claims, json!({ "nonce": nonce }));
        }
        claims
    }

    /// The claims of an access token: enough for an API or a mail server to know who calls,
    /// and the session it belongs to (`jti` makes each token unique).
    pub fn access_token(
        &self,
        issuer: &str,
        client: &str,
        scope: &str,
        jti: &str,
        now: u64,
        lifetime: u64,
    ) -> Value {
        json!({
            "iss": issuer,
            "sub": self.id_nat,
            "aud": client,
            "client_id": client,
            "preferred_username": self.id_nat,
            "scope": scope,
            "sid": self.session,
            "jti": jti,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "auth_time": self.auth_time,
            "amr": AMR,
            "acr": ACR,
        })
    }
}

/// The national profession code of a profession label, for the professions a CPS names.
pub fn profession_code(label: &str) -> Option<&'static str> {
    let label = label.trim().to_lowercase();
    let code = match label.as_str() {
        "médecin" | "medecin" => "10",
        "pharmacien" => "21",
        "chirurgien-dentiste" => "40",
        "sage-femme" => "50",
        "infirmier" | "infirmière" | "infirmiere" => "60",
        "masseur-kinésithérapeute" | "masseur-kinesitherapeute" => "70",
        "pédicure-podologue" | "pedicure-podologue" => "80",
        "orthophoniste" => "91",
        "orthoptiste" => "92",
        "ergothérapeute" | "ergotherapeute" => "94",
        "psychomotricien" => "96",
        "manipulateur erm" => "98",
        _ => return None,
    };
    Some(code)
}

fn merge(into: &mut Value, from: Value) {
    if let (Value::Object(into), Value::Object(from)) = (into, from) {
        into.extend(from);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doctor() -> Subject {
        Subject {
            id_nat: "899700123450".into(),
            family_name: "DOCTEUR".into(),
            given_name: "Jean".into(),
            professions: vec!["Médecin".into()],
            session: "00ff".into(),
            auth_time: 1_000,
        }
    }

    #[test]
    fn the_id_token_speaks_like_pro_sante_connect() {
        let claims = doctor().id_token("https://sso.example", "dpi", Some("n-1"), 1_010, 300);
        assert_eq!(claims["sub"], "899700123450");
        assert_eq!(claims["SubjectNameID"], "899700123450");
        assert_eq!(
            claims["SubjectRefPro"]["exercices"][0]["codeProfession"],
            "10"
        );
        assert_eq!(claims["SubjectRole"][0], "10^1.2.250.1.213.1.1.5.5");
        assert_eq!(claims["amr"], json!(["sc", "pin", "mfa", "hwk"]));
        assert_eq!(claims["aud"], "dpi");
        assert_eq!(claims["nonce"], "n-1");
        assert_eq!(claims["exp"], 1_310);
        assert_eq!(claims["auth_time"], 1_000);
        assert_eq!(claims["sid"], "00ff");
    }

    #[test]
    fn an_unknown_profession_has_a_label_but_no_role() {
        let mut staff = doctor();
        staff.professions = vec!["Secrétaire médicale".into()];
        let claims = staff.identity_claims();
        assert_eq!(claims["SubjectRole"], json!([]));
        assert_eq!(
            claims["SubjectRefPro"]["exercices"][0]["codeProfession"],
            ""
        );
        assert_eq!(
            claims["SubjectRefPro"]["exercices"][0]["libelleProfession"],
            "Secrétaire médicale"
        );
    }

    #[test]
    fn access_tokens_name_the_mail_login_and_the_session() {
        let claims = doctor().access_token("https://sso.example", "mail", "openid", "j1", 5, 60);
        assert_eq!(claims["preferred_username"], "899700123450");
        assert_eq!(claims["sid"], "00ff");
        assert_eq!(claims["nbf"], 5);
        assert_eq!(claims["exp"], 65);
    }
}
