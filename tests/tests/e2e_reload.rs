//! End to end, as root: an app published while the connector runs becomes reachable through
//! the tunnels without a restart — by a configuration reload (`vigie-connector reload`) or by
//! `app publish` on the command line — while the sessions already up stay up and keep
//! reaching their own apps. Reached with curl, through the real data plane and its NAT rules.

mod e2e_support;

use e2e_support::connector::Connector;
use e2e_support::hospital_net::{HospitalNet, UNPUBLISHED_PORT};
use e2e_support::{eventually, world};
use vigie_client::control::Status;
use vigie_lab::apps::WebApp;

const DPI: &str = "http://dpi.hopital.example/";

fn names(status: &Status) -> Vec<String> {
    status.apps.iter().map(|a| a.name.clone()).collect()
}

/// The HR web server nobody was granted, as an app for the nurses' group.
fn rh_app(hospital: &HospitalNet) -> String {
    format!(
        "[[app]]\nname = \"rh\"\ndns_name = \"rh.hopital.example\"\nports = [\"tcp/{UNPUBLISHED_PORT}\"]\n\
         backend = \"{}\"\ngroups = [\"soins\"]\n",
        hospital.backend_address
    )
}

fn rh_url() -> String {
    format!("http://rh.hopital.example:{UNPUBLISHED_PORT}/")
}

#[test]
fn an_app_added_by_a_reload_is_reached_by_new_sessions_while_live_ones_stay_up() {
    let Some(hospital) = HospitalNet::for_test() else {
        return;
    };
    let mut site = hospital.site();
    let connector = Connector::start_site(&world(), &site, Some(&hospital.connector));
    let doctor_laptop = hospital.laptop();
    let (doctor, mut doctor_session, before) = hospital.up(&doctor_laptop, "cps3-doctor");
    let page = eventually("the web app", || doctor_laptop.http_get(DPI));
    assert!(page.contains(&WebApp::marker("dpi")), "{page}");

    site.apps.push_str(&rh_app(&hospital));
    connector.reconfigure(&world(), &site);
    let said = connector.admin(&["reload"]);
    assert!(
        said.contains("rh created") && said.contains("NAT rules rebuilt"),
        "{said}"
    );
    let rules = hospital
        .connector
        .run_stdout("nft", &["list", "table", "ip", "vigie"]);
    assert!(rules.expect("the NAT table").contains("comment \"rh\""));

    // The doctor's session did not notice, and still reaches her app.
    let status = doctor.wait_state(&mut doctor_session, "active");
    assert_eq!(status.session_id, before.session_id);
    assert_eq!(names(&status), ["dpi", "mail"]);
    let output = doctor_session.output();
    assert!(!output.contains("reconnecting"), "{output}");
    let page = eventually("the web app after the reload", || {
        doctor_laptop.http_get(DPI)
    });
    assert!(page.contains(&WebApp::marker("dpi")), "{page}");

    // A nurse who comes up now gets the new app, and reaches it by name.
    let nurse_laptop = hospital.laptop();
    let (_nurse, _nurse_session, nurse) = hospital.up(&nurse_laptop, "cps4-nurse");
    assert_eq!(names(&nurse), ["mail", "rh"]);
    let page = eventually("the new app", || nurse_laptop.http_get(&rh_url()));
    assert!(page.contains(&WebApp::marker("rh")), "{page}");
    doctor.down(&mut doctor_session);
}

#[test]
fn an_app_published_from_the_command_line_is_reached_without_a_reload() {
    let Some(hospital) = HospitalNet::for_test() else {
        return;
    };
    let connector = Connector::start_site(&world(), &hospital.site(), Some(&hospital.connector));
    let backend = hospital.backend_address.to_string();
    let port = format!("tcp/{UNPUBLISHED_PORT}");
    connector.admin(&[
        "app",
        "publish",
        "--name",
        "rh",
        "--dns-name",
        "rh.hopital.example",
        "--port",
        &port,
        "--backend",
        &backend,
    ]);
    connector.admin(&["app", "grant", "rh", "--group", "soins"]);
    connector.wait_log("the published apps changed: NAT rules rebuilt", 1);

    let laptop = hospital.laptop();
    let (_nurse, _session, nurse) = hospital.up(&laptop, "cps4-nurse");
    assert_eq!(names(&nurse), ["mail", "rh"]);
    let page = eventually("the app published while serving", || {
        laptop.http_get(&rh_url())
    });
    assert!(page.contains(&WebApp::marker("rh")), "{page}");
}
