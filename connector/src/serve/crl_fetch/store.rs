//! The connector's folder of fetched CRLs, `<[state] dir>/crl-fetched/`: one file per
//! configured URL, named after the URL, so that the revocation files ([`super::super::files`])
//! read it like any `[trust] crls` folder, at start and whenever a file changes.
//!
//! A file is replaced by a rename, never written in place: the revocation watcher may look
//! at any moment, and a half-written CRL would hold back every CRL update until the next
//! write. The file is first written in `.partial/`, a folder inside this one (so the rename
//! stays on one file system) that the CRL readers do not look into, as they read only the
//! files of a folder, not its subfolders.

use std::collections::HashSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::FetchError;
use crate::http_url::HttpUrl;
use crate::serve::ServeError;

/// The folder's name in the state folder.
pub const FOLDER: &str = "crl-fetched";

/// Where a file is written before it is renamed into place.
const PARTIAL: &str = ".partial";

/// The folder of fetched CRLs.
#[derive(Clone, Debug)]
pub struct Folder {
    dir: PathBuf,
}

impl Folder {
    /// Makes `<state_dir>/crl-fetched` if it is missing, and removes the CRL files of URLs
    /// that are no longer configured: a CRL left behind would stay in force, and once stale
    /// would refuse every card of its CA.
    pub fn prepare(state_dir: &Path, urls: &[HttpUrl]) -> Result<Self, ServeError> {
        let dir = state_dir.join(FOLDER);
        std::fs::create_dir_all(&dir).map_err(|e| file_error(&dir, e))?;
        let folder = Self { dir };
        let kept: HashSet<String> = urls.iter().map(file_name).collect();
        for stray in folder.stray_files(&kept)? {
            std::fs::remove_file(&stray).map_err(|e| file_error(&stray, e))?;
            tracing::info!(
                file = %stray.display(),
                "removed a fetched CRL whose URL is no longer in [trust] crl_urls"
            );
        }
        Ok(folder)
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The file of `url`'s CRL.
    pub fn file_of(&self, url: &HttpUrl) -> PathBuf {
        self.dir.join(file_name(url))
    }

    /// Puts `crl` in place as `url`'s file, unless the file already holds exactly it; true
    /// when the file changed.
    pub fn store(&self, url: &HttpUrl, crl: &[u8]) -> Result<bool, FetchError> {
        let target = self.file_of(url);
        if std::fs::read(&target).is_ok_and(|old| old == crl) {
            return Ok(false);
        }
        let partial = self.dir.join(PARTIAL);
        std::fs::create_dir_all(&partial).map_err(|e| store_error(&partial, e))?;
        let staged = partial.join(file_name(url));
        write_synced(&staged, crl).map_err(|e| store_error(&staged, e))?;
        std::fs::rename(&staged, &target).map_err(|e| store_error(&target, e))?;
        Ok(true)
    }

    /// Files named like a fetched CRL whose URL is not in `kept`; other files are left alone.
    fn stray_files(&self, kept: &HashSet<String>) -> Result<Vec<PathBuf>, ServeError> {
        let entries = std::fs::read_dir(&self.dir).map_err(|e| file_error(&self.dir, e))?;
        let mut strays = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| file_error(&self.dir, e))?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if path.is_file() && is_fetched_name(name) && !kept.contains(name) {
                strays.push(path);
            }
        }
        Ok(strays)
    }
}

/// A stable name for `url`'s file: the first 8 bytes of the SHA-256 of the URL, in hex.
pub fn file_name(url: &HttpUrl) -> String {
    let digest = Sha256::digest(url.to_string().as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("{hex}.crl")
}

fn is_fetched_name(name: &str) -> bool {
    name.strip_suffix(".crl")
        .is_some_and(|hex| hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Writes and flushes to the disk, so the rename never exposes an empty file after a crash.
fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

fn file_error(path: &Path, error: std::io::Error) -> ServeError {
    ServeError::File {
        path: path.to_owned(),
        detail: error.to_string(),
    }
}

fn store_error(path: &Path, source: std::io::Error) -> FetchError {
    FetchError::Store {
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> HttpUrl {
        HttpUrl::parse(text).unwrap()
    }

    #[test]
    fn names_are_stable_and_per_url() {
        let a = file_name(&url("http://crl.example/a.crl"));
        assert_eq!(a, file_name(&url("HTTP://CRL.example:80/a.crl")));
        assert_ne!(a, file_name(&url("http://crl.example/b.crl")));
        assert!(is_fetched_name(&a), "{a}");
        assert!(!is_fetched_name("world.crl"));
    }

    #[test]
    fn a_crl_is_stored_once_and_replaced_whole() {
        let state = tempfile::tempdir().unwrap();
        let a = url("http://crl.example/a.crl");
        let folder = Folder::prepare(state.path(), std::slice::from_ref(&a)).unwrap();
        assert!(folder.path().is_dir(), "made at start");
        assert!(folder.store(&a, b"one").unwrap(), "a new file");
        assert!(
            !folder.store(&a, b"one").unwrap(),
            "the same bytes change nothing"
        );
        assert!(folder.store(&a, b"two").unwrap());
        assert_eq!(std::fs::read(folder.file_of(&a)).unwrap(), b"two");
        let files: Vec<_> = std::fs::read_dir(folder.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .collect();
        assert_eq!(
            files,
            [folder.file_of(&a)],
            "nothing else among the files read"
        );
    }

    #[test]
    fn files_of_urls_no_longer_configured_are_removed() {
        let state = tempfile::tempdir().unwrap();
        let (a, b) = (
            url("http://crl.example/a.crl"),
            url("http://crl.example/b.crl"),
        );
        let folder = Folder::prepare(state.path(), &[a.clone(), b.clone()]).unwrap();
        folder.store(&a, b"a").unwrap();
        folder.store(&b, b"b").unwrap();
        std::fs::write(folder.path().join("notes.txt"), b"mine").unwrap();
        let folder = Folder::prepare(state.path(), std::slice::from_ref(&b)).unwrap();
        assert!(!folder.file_of(&a).exists(), "a's URL was removed");
        assert!(folder.file_of(&b).exists());
        assert!(
            folder.path().join("notes.txt").exists(),
            "not a fetched CRL's name"
        );
    }
}
