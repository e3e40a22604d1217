//! Where the demo finds Vigie's programs: next to `vigie-lab` itself, where `cargo build
//! --workspace --bins` puts them (`target/debug/`), or in a folder the person names.

use std::path::{Path, PathBuf};

use super::{DemoError, Result};

/// The three Vigie programs the demo runs.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// The client, `vigie`.
    pub vigie: PathBuf,
    /// The hospital side, `vigie-connector`.
    pub connector: PathBuf,
    /// The test PKI generator, `vigie-pki`.
    pub pki: PathBuf,
}

impl Binaries {
    /// The programs in `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            vigie: dir.join("vigie"),
            connector: dir.join("vigie-connector"),
            pki: dir.join("vigie-pki"),
        }
    }

    /// The programs in the folder of the running executable.
    pub fn next_to_this_program() -> Result<Self> {
        let exe = std::env::current_exe().map_err(|e| DemoError::Step {
            step: "finding Vigie's programs",
            detail: format!("cannot tell where vigie-lab runs from: {e}; use --bin-dir"),
        })?;
        let dir = exe.parent().unwrap_or(Path::new("."));
        Ok(Self::in_dir(dir))
    }

    /// Every program exists; otherwise the first missing one.
    pub fn check(&self) -> Result<()> {
        for path in [&self.vigie, &self.connector, &self.pki] {
            if !path.is_file() {
                return Err(DemoError::MissingBinary { path: path.clone() });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_program_is_named() {
        let binaries = Binaries::in_dir(Path::new("/nonexistent/vigie-bin"));
        let err = binaries.check().unwrap_err().to_string();
        assert!(err.contains("/nonexistent/vigie-bin/vigie"), "{err}");
        assert!(err.contains("--bin-dir"), "{err}");
    }
}
