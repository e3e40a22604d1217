//! End to end, as root: large transfers through the tunnel arrive intact both ways. With
//! segmentation offload on both TUN devices, a download leaves the web app as 64 KiB
//! super-packets that the connector cuts, encrypts and sends in runs, and the laptop joins
//! again; an upload takes the same path the other way. The bytes are compared by SHA-256
//! at both ends, so a wrong sequence number, checksum or join anywhere shows.

mod e2e_support;

use e2e_support::hospital_net::HospitalNet;
use e2e_support::{TempDir, eventually};
use vigie_lab::apps::{bulk_bytes, sha256_hex};

const SCAN: &str = "http://dpi.hopital.example/scan.bin";
/// Large enough for thousands of super-packets each way.
const SIZE: usize = 32 << 20;

#[test]
fn large_transfers_cross_the_batched_tunnel_intact_both_ways() {
    let Some((hospital, connector)) = HospitalNet::with_connector() else {
        return;
    };
    let laptop = hospital.laptop();
    let (clinician, mut session, status) = hospital.up(&laptop, "cps3-doctor");
    let tunnel = status.tunnel.clone().expect("a tunnel in the status");
    assert!(
        tunnel.offloads,
        "the laptop's TUN device took no offloads: {tunnel:?}"
    );
    connector.wait_log("offloads=true", 1);

    let scan = bulk_bytes(SIZE);
    let expected = sha256_hex(&scan);
    hospital
        .web
        .publish_file("scan.bin", &scan)
        .expect("the file");
    let downloaded = eventually("the download", || {
        let output = laptop.curl(&["--max-time", "120", "--fail", SCAN]);
        match output.status.success() {
            true => Ok(output.stdout),
            false => Err(String::from_utf8_lossy(&output.stderr).into_owned()),
        }
    });
    assert_eq!(downloaded.len(), SIZE, "the download's length");
    assert_eq!(sha256_hex(&downloaded), expected, "the download's bytes");

    let dir = TempDir::new("-bulk");
    let upload = dir.path().join("upload.bin");
    std::fs::write(&upload, &scan).expect("the upload's file");
    let path = upload.to_str().expect("a UTF-8 path");
    let output = laptop.curl(&["--max-time", "120", "--fail", "--upload-file", path, SCAN]);
    let answer = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(answer.trim(), expected, "the bytes the web app received");

    // The status file catches up with the counters within seconds.
    let traffic = eventually("the traffic counted", || {
        let tunnel = clinician.wait_state(&mut session, "active").tunnel;
        let tunnel = tunnel.ok_or("no tunnel")?;
        let both = tunnel.bytes_received > SIZE as u64 && tunnel.bytes_sent > SIZE as u64;
        both.then_some(tunnel.clone()).ok_or(format!("{tunnel:?}"))
    });
    assert!(traffic.packets_sent > (SIZE / 1500) as u64, "{traffic:?}");
    clinician.down(&mut session);
}
