//! A hospital site in a temporary folder: a configuration file, an HR export, card
//! certificates made with openssl, and the real `vigie-connector` binary run against them.

#![allow(dead_code, reason = "each test file uses a different part of the site")]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The outcome of one command.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Both streams, for assertion messages.
    pub fn all(&self) -> String {
        format!(
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

pub struct Site {
    dir: tempfile::TempDir,
}

pub const HEADER: &str = "IDNAT;NOM;PRENOM;PROFESSION;SERVICES;STATUT;ENTREE;SORTIE\n";

impl Site {
    /// A site whose configuration has the base sections plus `extra` TOML.
    pub fn new(extra: &str) -> Self {
        let site = Self {
            dir: tempfile::tempdir().expect("temporary folder"),
        };
        site.configure(extra);
        site
    }

    /// Rewrites the configuration with `extra` TOML after the base sections.
    pub fn configure(&self, extra: &str) {
        let config = format!(
            "[directory]\npath = \"state/connector.db\"\n[audit]\ndir = \"audit\"\n\
             [hr.csv]\npath = \"hr.csv\"\ndate_format = \"%d/%m/%Y\"\n\
             [hr.csv.columns]\nid_nat = \"IDNAT\"\nsurname = \"NOM\"\ngiven_name = \"PRENOM\"\n\
             professions = \"PROFESSION\"\ngroups = \"SERVICES\"\nstatus = \"STATUT\"\n\
             start_date = \"ENTREE\"\nend_date = \"SORTIE\"\n\
             [hr.csv.status_values]\nactive = [\"ACTIF\"]\nsuspended = [\"SUSPENDU\"]\ndeparted = [\"SORTI\"]\n{extra}"
        );
        std::fs::write(self.path("connector.toml"), config).expect("write config");
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes the HR export: the header and these rows.
    pub fn hr(&self, rows: &[&str]) {
        let text: String = std::iter::once(HEADER.to_owned())
            .chain(rows.iter().map(|r| format!("{r}\n")))
            .collect();
        std::fs::write(self.path("hr.csv"), text).expect("write HR export");
    }

    /// Runs `vigie-connector --config <site> ARGS` as the admin `desk-admin`.
    pub fn run(&self, args: &[&str]) -> Run {
        let output = Command::new(env!("CARGO_BIN_EXE_vigie-connector"))
            .arg("--config")
            .arg(self.path("connector.toml"))
            .args(args)
            .env("USER", "desk-admin")
            .env_remove("SUDO_USER")
            .output()
            .expect("run vigie-connector");
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Runs a command that must succeed and returns its output.
    pub fn ok(&self, args: &[&str]) -> String {
        let run = self.run(args);
        assert_eq!(
            run.code,
            0,
            "vigie-connector {args:?} failed:\n{}",
            run.all()
        );
        run.stdout
    }

    /// A card authentication certificate for `id_nat` with this serial (hex), made by openssl,
    /// written as PEM (or DER) under `name`.
    pub fn card(&self, name: &str, id_nat: &str, serial: &str, pem: bool) -> PathBuf {
        let pem_path = self.path(&format!("{name}.pem"));
        let subject = format!("/C=FR/title=Médecin/CN={id_nat}/SN=Martin/GN=Claire");
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &self.path(&format!("{name}.key")).to_string_lossy(),
            "-out",
            &pem_path.to_string_lossy(),
            "-days",
            "30",
            "-utf8",
            "-subj",
            &subject,
            "-set_serial",
            &format!("0x{serial}"),
        ]);
        if pem {
            return pem_path;
        }
        let der_path = self.path(&format!("{name}.der"));
        openssl(&[
            "x509",
            "-in",
            &pem_path.to_string_lossy(),
            "-outform",
            "der",
            "-out",
            &der_path.to_string_lossy(),
        ]);
        der_path
    }

    /// The audit log's day files, oldest first.
    pub fn audit_files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.path("audit"))
            .expect("audit folder")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
            .collect();
        files.sort();
        files
    }

    /// Every audit record, as text lines.
    pub fn audit_lines(&self) -> Vec<String> {
        self.audit_files()
            .iter()
            .flat_map(|f| read_lines(f))
            .collect()
    }
}

pub fn read_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .expect("read")
        .lines()
        .map(str::to_owned)
        .collect()
}

fn openssl(args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl is installed (scripts/setup.sh)");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
