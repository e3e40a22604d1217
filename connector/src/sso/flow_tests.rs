//! The issuer's decisions on a virtual clock: the code flow with PKCE, tokens bound to the
//! session, logout.

use std::time::Duration;

use serde_json::json;

use std::collections::HashSet;

use super::*;
use crate::sso::journal::Record;

const REDIRECT: &str = "https://dpi.example/cb";
const VERIFIER: &str = "a-verifier-that-is-long-enough-for-pkce-0123456789";

fn config() -> SsoConfig {
    toml::from_str(&format!(
        "issuer = \"https://sso.example\"\nlisten = \"198.18.10.254:443\"\n\
         [[client]]\nid = \"dpi\"\nsecret = \"dpi-secret\"\nredirect_uris = [\"{REDIRECT}\"]\n\
         post_logout_redirect_uris = [\"https://dpi.example/\"]\n\
         backchannel_logout_uri = \"https://dpi.example/logout\"\n\
         [[client]]\nid = \"public\"\nredirect_uris = [\"{REDIRECT}\"]\n"
    ))
    .unwrap()
}

fn keys() -> (tempfile::TempDir, KeyRing) {
    let dir = tempfile::tempdir().unwrap();
    let ring = KeyRing::load_or_create(dir.path(), Duration::from_secs(86_400), 0).unwrap();
    (dir, ring)
}

fn subject() -> Subject {
    Subject {
        id_nat: "899700123450".into(),
        family_name: "DOCTEUR".into(),
        given_name: "Jean".into(),
        professions: vec!["Médecin".into()],
        session: "5e55".into(),
        auth_time: 900,
    }
}

fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn request(client: &str) -> Vec<(String, String)> {
    let challenge = s256(VERIFIER);
    params(&[
        ("response_type", "code"),
        ("client_id", client),
        ("redirect_uri", REDIRECT),
        ("scope", "openid profile"),
        ("state", "st&1"),
        ("nonce", "n-1"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ])
}

fn exchange(code: &str, verifier: &str) -> Vec<(String, String)> {
    params(&[
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
    ])
}

/// Signs in through the session; the access and ID tokens.
fn signed_in(issuer: &mut Issuer, keys: &KeyRing) -> (String, String) {
    let location = issuer
        .authorize(&request("dpi"), Some(&subject()), "code-1".into(), 1_000)
        .unwrap();
    assert_eq!(location, format!("{REDIRECT}?code=code-1&state=st%261"));
    let tokens = issuer
        .token(keys, "dpi", &exchange("code-1", VERIFIER), "jti-1", 1_010)
        .unwrap();
    let text = |k: &str| tokens.body[k].as_str().unwrap().to_owned();
    (text("access_token"), text("id_token"))
}

#[test]
fn a_session_signs_in_without_a_prompt_and_the_id_token_names_the_card_holder() {
    let (_dir, keys) = keys();
    let mut issuer = Issuer::new(config());
    let (_, id_token) = signed_in(&mut issuer, &keys);
    let claims = jwt::verify(&keys, &id_token, 1_011).unwrap();
    assert_eq!(claims["iss"], "https://sso.example");
    assert_eq!(claims["aud"], "dpi");
    assert_eq!(claims["nonce"], "n-1");
    assert_eq!(claims["SubjectNameID"], "899700123450");
    assert_eq!(claims["sid"], "5e55");
}

#[test]
fn requests_from_outside_a_session_or_of_unknown_apps_get_a_page() {
    let mut issuer = Issuer::new(config());
    let no_session = issuer.authorize(&request("dpi"), None, "c".into(), 1);
    assert_eq!(no_session, Err(Refusal::NoSession));
    let unknown = issuer.authorize(&request("nobody"), Some(&subject()), "c".into(), 1);
    assert_eq!(unknown, Err(Refusal::UnknownClient));
    let mut elsewhere = request("dpi");
    elsewhere[2].1 = "https://evil.example/cb".into();
    let redirected = issuer.authorize(&elsewhere, Some(&subject()), "c".into(), 1);
    assert_eq!(redirected, Err(Refusal::BadRedirect));
}

#[test]
fn protocol_errors_go_back_to_the_app_with_the_state() {
    let mut issuer = Issuer::new(config());
    let mut no_openid = request("dpi");
    no_openid[3].1 = "profile".into();
    let location = issuer
        .authorize(&no_openid, Some(&subject()), "c".into(), 1)
        .unwrap();
    assert!(
        location.starts_with(&format!("{REDIRECT}?error=invalid_scope")),
        "{location}"
    );
    assert!(location.ends_with("state=st%261"), "{location}");
    let public_without_pkce: Vec<_> = request("public")
        .into_iter()
        .filter(|(k, _)| !k.starts_with("code_challenge"))
        .collect();
    let location = issuer
        .authorize(&public_without_pkce, Some(&subject()), "c".into(), 1)
        .unwrap();
    assert!(location.contains("error=invalid_request"), "{location}");
}

#[test]
fn a_code_is_exchanged_once_with_its_verifier_by_its_client_in_time() {
    let (_dir, keys) = keys();
    let mut issuer = Issuer::new(config());
    let grant = |issuer: &mut Issuer, code: &str, at: u64| {
        issuer
            .authorize(&request("dpi"), Some(&subject()), code.into(), at)
            .unwrap();
    };
    grant(&mut issuer, "c1", 0);
    let wrong = issuer.token(&keys, "dpi", &exchange("c1", "another-verifier"), "j", 1);
    assert!(
        matches!(wrong, Err(TokenError::InvalidGrant(_))),
        "{wrong:?}"
    );
    let reused = issuer.token(&keys, "dpi", &exchange("c1", VERIFIER), "j", 1);
    assert!(
        matches!(reused, Err(TokenError::InvalidGrant(_))),
        "a failed try spends it"
    );

    grant(&mut issuer, "c2", 0);
    let other = issuer.token(&keys, "public", &exchange("c2", VERIFIER), "j", 1);
    assert!(
        matches!(other, Err(TokenError::InvalidGrant(_))),
        "{other:?}"
    );

    grant(&mut issuer, "c3", 0);
    let late = issuer.token(&keys, "dpi", &exchange("c3", VERIFIER), "j", 60);
    assert!(matches!(late, Err(TokenError::InvalidGrant(_))), "{late:?}");

    grant(&mut issuer, "c4", 100);
    assert!(
        issuer
            .token(&keys, "dpi", &exchange("c4", VERIFIER), "j", 101)
            .is_ok()
    );
}

#[test]
fn client_secrets_are_checked() {
    let mut issuer = Issuer::new(config());
    let mut check = |id, secret| issuer.authenticate(&Credentials::Secret { id, secret }, 1);
    assert_eq!(check("dpi", Some("dpi-secret")).unwrap(), "dpi");
    assert!(check("dpi", Some("wrong")).is_err());
    assert!(check("dpi", None).is_err());
    assert_eq!(check("public", None).unwrap(), "public");
    assert!(check("public", Some("anything")).is_err());
    assert!(check("nobody", None).is_err());
}

/// An issuer where app `signed` authenticates with the key of `app_keys`.
fn with_signing_app(app_keys: &KeyRing) -> Issuer {
    let mut config = config();
    let jwks = serde_json::to_string(&app_keys.jwks()).unwrap();
    let mut client = config.clients[1].clone();
    client.id = "signed".into();
    client.keys = super::super::client_auth::parse_jwks(&jwks).unwrap();
    config.clients.push(client);
    Issuer::new(config)
}

fn assertion(app_keys: &KeyRing, iss: &str, aud: &str, jti: &str, exp: u64) -> String {
    let claims = json!({ "iss": iss, "sub": iss, "aud": aud, "jti": jti, "exp": exp });
    jwt::sign(app_keys, "JWT", &claims).unwrap()
}

#[test]
fn an_app_may_sign_its_requests_with_its_own_key_once_each() {
    let (_dir, app_keys) = keys();
    let (_other_dir, other_keys) = keys();
    let mut issuer = with_signing_app(&app_keys);
    let mut check =
        |assertion: &str, id| issuer.authenticate(&Credentials::Assertion { id, assertion }, 1_000);
    let good = assertion(
        &app_keys,
        "signed",
        "https://sso.example/token",
        "j1",
        1_060,
    );
    assert_eq!(check(&good, Some("signed")).unwrap(), "signed");
    assert!(check(&good, None).is_err(), "a replayed assertion");
    let to_issuer = assertion(&app_keys, "signed", "https://sso.example", "j2", 1_060);
    assert_eq!(check(&to_issuer, None).unwrap(), "signed");
    let foreign = assertion(&other_keys, "signed", "https://sso.example", "j3", 1_060);
    assert!(check(&foreign, None).is_err(), "signed by another key");
    let elsewhere = assertion(&app_keys, "signed", "https://other.example", "j4", 1_060);
    assert!(check(&elsewhere, None).is_err(), "for another audience");
    let lasting = assertion(
        &app_keys,
        "signed",
        "https://sso.example",
        "j5",
        1_000 + 3_600,
    );
    assert!(check(&lasting, None).is_err(), "valid for an hour");
    let expired = assertion(&app_keys, "signed", "https://sso.example", "j6", 999);
    assert!(check(&expired, None).is_err());
    let other_client = assertion(&app_keys, "signed", "https://sso.example", "j7", 1_060);
    assert!(
        check(&other_client, Some("dpi")).is_err(),
        "client_id differs"
    );
    let as_dpi = assertion(&app_keys, "dpi", "https://sso.example", "j8", 1_060);
    assert!(check(&as_dpi, None).is_err(), "dpi has no keys");
}

#[test]
fn tokens_die_with_the_session_and_the_app_is_told() {
    let (_dir, keys) = keys();
    let mut issuer = Issuer::new(config());
    let (access, _) = signed_in(&mut issuer, &keys);
    let info = issuer.userinfo(&keys, &access, 1_020).unwrap();
    assert_eq!(info["preferred_username"], "899700123450");
    assert_eq!(issuer.introspect(&keys, &access, 1_020)["active"], true);

    let told = issuer.session_ended(&keys, "5e55", &|| "logout-1".into(), 1_030);
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].0, "https://dpi.example/logout");
    let logout = jwt::verify(&keys, &told[0].1, 1_031).unwrap();
    assert_eq!(logout["sid"], "5e55");
    assert!(logout["events"]["http://schemas.openid.net/event/backchannel-logout"].is_object());
    assert!(logout.get("nonce").is_none());

    assert!(issuer.userinfo(&keys, &access, 1_031).is_err());
    assert_eq!(issuer.introspect(&keys, &access, 1_031)["active"], false);
}

#[test]
fn an_app_that_logs_out_loses_its_tokens_and_the_browser_goes_back() {
    let (_dir, keys) = keys();
    let mut issuer = Issuer::new(config());
    let (access, id_token) = signed_in(&mut issuer, &keys);
    let logout = params(&[
        ("id_token_hint", &id_token),
        ("post_logout_redirect_uri", "https://dpi.example/"),
        ("state", "bye"),
    ]);
    assert_eq!(
        issuer.end_session(&keys, &logout).as_deref(),
        Some("https://dpi.example/?state=bye")
    );
    assert!(issuer.userinfo(&keys, &access, 1_020).is_err());
    let elsewhere = params(&[
        ("id_token_hint", &id_token),
        ("post_logout_redirect_uri", "https://evil.example/"),
    ]);
    assert_eq!(issuer.end_session(&keys, &elsewhere), None);
}

/// An issuer started again from what `issuer` recorded so far.
fn started_again(issuer: &mut Issuer, earlier: Vec<Record>) -> (Issuer, Vec<Record>) {
    let mut records = earlier;
    records.extend(issuer.take_records());
    let mut again = Issuer::new(config());
    again.replay(records.clone());
    (again, records)
}

#[test]
fn an_issuer_started_again_knows_the_sessions_its_records_kept() {
    let (_dir, keys) = keys();
    let mut issuer = Issuer::new(config());
    let (access, _) = signed_in(&mut issuer, &keys);
    let (mut again, records) = started_again(&mut issuer, Vec::new());
    assert_eq!(
        records.len(),
        2,
        "the subject and the app holding tokens: {records:?}"
    );
    assert!(again.take_records().is_empty(), "a replay says nothing new");

    let info = again.userinfo(&keys, &access, 1_020).unwrap();
    assert_eq!(info["preferred_username"], "899700123450");
    assert_eq!(again.known_sessions(), HashSet::from(["5e55".to_owned()]));
    let told = again.session_ended(&keys, "5e55", &|| "logout-1".into(), 1_030);
    assert_eq!(told.len(), 1, "the app is told after the restart");
    assert_eq!(told[0].0, "https://dpi.example/logout");
    assert_eq!(
        again.take_records(),
        [Record::Ended {
            session: "5e55".into()
        }]
    );

    // What the state is now, replayed alone, is the same state.
    let (_, id_token) = signed_in(&mut issuer, &keys);
    let logout = params(&[("id_token_hint", &id_token)]);
    issuer.end_session(&keys, &logout);
    let mut compacted = Issuer::new(config());
    compacted.replay(issuer.standing());
    assert!(
        compacted.userinfo(&keys, &access, 1_020).is_err(),
        "logged out"
    );
    assert_eq!(compacted.known_sessions(), issuer.known_sessions());
}

#[test]
fn an_ended_session_stays_ended_after_a_restart() {
    let (_dir, keys) = keys();
    let mut issuer = Issuer::new(config());
    let (access, _) = signed_in(&mut issuer, &keys);
    issuer.session_ended(&keys, "5e55", &|| "l".into(), 1_030);
    let (mut again, _) = started_again(&mut issuer, Vec::new());
    assert!(again.userinfo(&keys, &access, 1_020).is_err());
    assert!(again.known_sessions().is_empty());
    let told = again.session_ended(&keys, "5e55", &|| "l".into(), 1_040);
    assert!(told.is_empty(), "the app was told once, before the restart");
    assert!(
        again.take_records().is_empty(),
        "nothing to record for a session unknown"
    );
}

#[test]
fn signing_in_again_is_recorded_once_and_a_logout_then_a_new_token_holds() {
    let (_dir, keys) = keys();
    let mut issuer = Issuer::new(config());
    let (_, id_token) = signed_in(&mut issuer, &keys);
    issuer.take_records();
    let logout = params(&[("id_token_hint", &id_token)]);
    issuer.end_session(&keys, &logout);
    issuer.end_session(&keys, &logout);
    let (access, _) = signed_in(&mut issuer, &keys);
    let records = issuer.take_records();
    let logged_out = Record::LoggedOut {
        session: "5e55".into(),
        client: "dpi".into(),
    };
    let holder = Record::Holder {
        session: "5e55".into(),
        client: "dpi".into(),
    };
    assert_eq!(
        records,
        [logged_out, holder],
        "the same subject is not written again"
    );
    let mut again = Issuer::new(config());
    again.replay(records);
    again.replay([Record::Subject { subject: subject() }]);
    assert!(
        again.userinfo(&keys, &access, 1_020).is_ok(),
        "signed in again"
    );
}
