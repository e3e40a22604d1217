//! Pointing this process's PC/SC client library at a lab pcscd.
//!
//! libpcsclite reads `PCSCLITE_CSOCK_NAME` once, at its first call, and keeps it for the life
//! of the process. Setting a process environment variable is `unsafe` since Rust 2024 because
//! C code may read the environment concurrently; this is the lab's only `unsafe`.

use std::path::Path;
use std::sync::Once;

static POINTED: Once = Once::new();

/// Sets `PCSCLITE_CSOCK_NAME` to `socket`, once per process; later calls do nothing (the
/// library would not see a change anyway).
pub(super) fn point_client_library_at(socket: &Path) {
    POINTED.call_once(|| {
        #[expect(
            unsafe_code,
            reason = "libpcsclite only takes its socket path from the environment"
        )]
        // SAFETY: this runs once, before the lab starts its first pcscd, and the lab's
        // contract (`Pcscd::shared`) is that no PC/SC call happens in the process before it;
        // the other readers of the environment in a test process are Rust code, which
        // std serialises with `set_var` through its environment lock.
        unsafe {
            std::env::set_var("PCSCLITE_CSOCK_NAME", socket);
        }
    });
}
