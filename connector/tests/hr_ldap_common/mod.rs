//! A real OpenLDAP `slapd` for one test: its own configuration and `mdb` database in a
//! temporary folder, listening on 127.0.0.1 only, stopped by its PID when dropped. Entries are
//! loaded with `ldapadd`/`ldapmodify`/`ldapdelete` as the directory's root account; the
//! connector binds as a separate read-only service account, as it would at a hospital.

#![allow(
    dead_code,
    reason = "each test file uses a different part of the server"
)]

use std::io::Write as _;
use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const SUFFIX: &str = "dc=hopital,dc=example";
pub const PEOPLE: &str = "ou=people,dc=hopital,dc=example";
pub const SERVICE_DN: &str = "cn=vigie,ou=services,dc=hopital,dc=example";
pub const SERVICE_PASSWORD: &str = "vigie-service-secret";
const ROOT_DN: &str = "cn=admin,dc=hopital,dc=example";
const ROOT_PASSWORD: &str = "root-secret";

pub struct Slapd {
    dir: tempfile::TempDir,
    child: Child,
    port: u16,
    /// The LDAPS port, when the server has a certificate.
    tls_port: Option<u16>,
}

impl Slapd {
    /// Starts a server with the base tree and the service account. With `page_limit`, the
    /// service account gets at most that many entries per search or page, as Active Directory
    /// limits pages to 1000: a search that does not page is cut short.
    pub fn start(page_limit: Option<u32>) -> Self {
        Self::start_with(page_limit, false)
    }

    /// Starts a server that speaks LDAPS and StartTLS, with a certificate for 127.0.0.1 from a
    /// test authority (its certificate is [`Self::ca_file`]), and refuses any operation over a
    /// connection that is not encrypted.
    pub fn start_tls() -> Self {
        Self::start_with(None, true)
    }

    fn start_with(page_limit: Option<u32>, tls: bool) -> Self {
        let dir = tempfile::tempdir().expect("temporary folder");
        std::fs::create_dir(dir.path().join("db")).expect("database folder");
        let mut text = config(dir.path(), page_limit);
        let port = free_port();
        let mut listen = format!("ldap://127.0.0.1:{port}/");
        let tls_port = tls.then(|| {
            text = tls_config(dir.path()) + &text;
            let tls_port = free_port();
            listen.push_str(&format!(" ldaps://127.0.0.1:{tls_port}/"));
            tls_port
        });
        let conf = dir.path().join("slapd.conf");
        std::fs::write(&conf, text).expect("write slapd.conf");
        let log = std::fs::File::create(dir.path().join("slapd.log")).expect("slapd log");
        let child = Command::new(slapd())
            .args(["-d", "0", "-h", &listen, "-f"])
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("start slapd (Debian package slapd)");
        let mut server = Self {
            dir,
            child,
            port,
            tls_port,
        };
        server.wait_ready();
        server.add(&base_tree());
        server
    }

    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    /// The LDAPS URL of a server started with [`Self::start_tls`].
    pub fn ldaps_url(&self) -> String {
        let port = self.tls_port.expect("a server started with start_tls");
        format!("ldaps://127.0.0.1:{port}")
    }

    /// The test authority's certificate (PEM).
    pub fn ca_file(&self) -> std::path::PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// Adds entries (LDIF, entries separated by blank lines).
    pub fn add(&self, ldif: &str) {
        self.tool("ldapadd", &[], ldif);
    }

    /// Applies an LDIF change.
    pub fn modify(&self, ldif: &str) {
        self.tool("ldapmodify", &[], ldif);
    }

    /// Deletes one entry.
    pub fn delete(&self, dn: &str) {
        self.tool("ldapdelete", &[dn], "");
    }

    /// Runs `ldapsearch` as the service account without paging, and returns its output and
    /// exit status.
    pub fn search_unpaged(&self, base: &str) -> (String, Option<i32>) {
        let output = Command::new("ldapsearch")
            .args(["-x", "-LLL", "-H", &self.url(), "-D", SERVICE_DN, "-w"])
            .args([
                SERVICE_PASSWORD,
                "-b",
                base,
                "(objectClass=inetOrgPerson)",
                "dn",
            ])
            .output()
            .expect("run ldapsearch (Debian package ldap-utils)");
        let text = String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr);
        (text, output.status.code())
    }

    fn tool(&self, tool: &str, args: &[&str], stdin: &str) {
        let url = self
            .tls_port
            .map_or_else(|| self.url(), |_| self.ldaps_url());
        let mut child = Command::new(tool)
            .args(["-x", "-H", &url, "-D", ROOT_DN, "-w", ROOT_PASSWORD])
            .env("LDAPTLS_CACERT", self.ca_file())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("run {tool} (Debian package ldap-utils): {e}"));
        let mut input = child.stdin.take().expect("stdin");
        input.write_all(stdin.as_bytes()).expect("write LDIF");
        drop(input);
        let output = child.wait_with_output().expect("wait for the LDAP tool");
        assert!(
            output.status.success(),
            "{tool} failed:\n{}{}\nLDIF:\n{stdin}\nslapd's log:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            self.log()
        );
    }

    /// Waits until the server accepts connections; fails with its log if it exits.
    fn wait_ready(&mut self) {
        for _ in 0..600 {
            if let Some(status) = self.child.try_wait().expect("slapd status") {
                panic!("slapd exited ({status}):\n{}", self.log());
            }
            if self.answers() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "slapd does not listen on port {}:\n{}",
            self.port,
            self.log()
        );
    }

    /// Whether the server answers an LDAP request (the root entry, anonymously): any answer,
    /// a refusal too, means it serves. `ldapsearch` exits with 255 when it cannot connect.
    /// A bare TCP connection is not proof enough: while nobody listens, a connection to a port
    /// of the ephemeral range may meet itself when the kernel picks that port as its source.
    fn answers(&self) -> bool {
        let status = Command::new("ldapsearch")
            .args(["-x", "-LLL", "-H", &self.url(), "-s", "base", "-b", ""])
            .args(["-o", "nettimeout=2", "namingContexts"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run ldapsearch (Debian package ldap-utils)");
        status.code().is_some_and(|code| code != 255)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("slapd.log")).unwrap_or_default()
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        // Only the process this test started, by its PID.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn slapd() -> &'static str {
    if Path::new("/usr/sbin/slapd").exists() {
        "/usr/sbin/slapd"
    } else {
        "slapd"
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

fn config(dir: &Path, page_limit: Option<u32>) -> String {
    let dir = dir.display();
    let limits = page_limit.map_or(String::new(), |n| {
        format!(
            "limits dn.exact=\"{SERVICE_DN}\" size.soft={n} size.hard={n} size.pr={n} \
             size.prtotal=unlimited\n"
        )
    });
    format!(
        "include /etc/ldap/schema/core.schema\n\
         include /etc/ldap/schema/cosine.schema\n\
         include /etc/ldap/schema/inetorgperson.schema\n\
         pidfile {dir}/slapd.pid\n\
         argsfile {dir}/slapd.args\n\
         modulepath /usr/lib/ldap\n\
         moduleload back_mdb\n\
         moduleload memberof\n\
         database mdb\n\
         suffix \"{SUFFIX}\"\n\
         rootdn \"{ROOT_DN}\"\n\
         rootpw {ROOT_PASSWORD}\n\
         directory {dir}/db\n\
         maxsize 10485760\n\
         {limits}\
         access to attrs=userPassword by anonymous auth by * none\n\
         access to * by users read by * none\n\
         overlay memberof\n"
    )
}

/// A test authority and a certificate for 127.0.0.1 it signs, made with openssl; the
/// `slapd.conf` lines that use them.
fn tls_config(dir: &Path) -> String {
    let file = |name: &str| dir.join(name).display().to_string();
    let key = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let (ca_key, ca, csr) = (file("ca.key"), file("ca.pem"), file("server.csr"));
    let (server_key, server, ext) = (file("server.key"), file("server.pem"), file("server.ext"));
    let ca_subject = ["-subj", "/CN=Vigie test LDAP CA", "-days", "2"];
    openssl(&[
        &["req", "-x509"],
        &key,
        &ca_subject,
        &["-keyout", &ca_key, "-out", &ca],
    ]);
    let subject = [
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        &server_key,
        "-out",
        &csr,
    ];
    openssl(&[&["req"], &key, &subject]);
    std::fs::write(
        &ext,
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write extensions");
    openssl(&[
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
        ],
        &["-days", "2", "-extfile", &ext, "-out", &server],
    ]);
    format!(
        "TLSCACertificateFile {ca}\nTLSCertificateFile {server}\n\
         TLSCertificateKeyFile {server_key}\nsecurity tls=1\n"
    )
}

/// Runs openssl with these groups of arguments, one after the other.
fn openssl(groups: &[&[&str]]) {
    let args: Vec<&str> = groups.iter().flat_map(|g| g.iter().copied()).collect();
    let output = Command::new("openssl")
        .args(&args)
        .output()
        .expect("run openssl");
    assert!(
        output.status.success(),
        "openssl {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn base_tree() -> String {
    format!(
        "dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: Hopital\ndc: hopital\n\n\
         dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people\n\n\
         dn: ou=services,{SUFFIX}\nobjectClass: organizationalUnit\nou: services\n\n\
         dn: ou=groups,{SUFFIX}\nobjectClass: organizationalUnit\nou: groups\n\n\
         dn: {SERVICE_DN}\nobjectClass: inetOrgPerson\ncn: vigie\nsn: vigie\n\
         userPassword: {SERVICE_PASSWORD}\n\n"
    )
}

/// One person's entry: `uid=<uid>` under [`PEOPLE`], the idNat in `employeeNumber`, the
/// profession in `title`, the HR status in `employeeType`.
pub fn person(uid: &str, id_nat: &str, surname: &str, status: &str) -> String {
    format!(
        "dn: uid={uid},{PEOPLE}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {uid}\n\
         sn: {surname}\ngivenName: Claire\nemployeeNumber: {id_nat}\ntitle: Médecin\n\
         employeeType: {status}\n\n"
    )
}

/// A `groupOfNames` group under `ou=groups` whose members are these uids; the `memberof`
/// overlay gives each member a `memberOf` value, as Active Directory does.
pub fn group(name: &str, uids: &[&str]) -> String {
    let members: String = uids
        .iter()
        .map(|uid| format!("member: uid={uid},{PEOPLE}\n"))
        .collect();
    format!("dn: cn={name},ou=groups,{SUFFIX}\nobjectClass: groupOfNames\ncn: {name}\n{members}\n")
}

/// The `[hr]` and `[hr.ldap]` sections for this server; the password file is written by the
/// caller under `password_file`.
pub fn connector_config(server: &Slapd, password_file: &Path, page_size: u16) -> String {
    format!(
        "[hr.ldap]\nurl = \"{}\"\nbind_dn = \"{SERVICE_DN}\"\n\
         bind_password_file = \"{}\"\nbase_dn = \"{PEOPLE}\"\n\
         filter = \"(objectClass=inetOrgPerson)\"\npage_size = {page_size}\n\
         [hr.ldap.attributes]\nid_nat = \"employeeNumber\"\nprofessions = \"title\"\n\
         groups = \"memberOf\"\nstatus = \"employeeType\"\n\
         [hr.ldap.status_values]\nactive = [\"ACTIF\"]\nsuspended = [\"SUSPENDU\"]\n\
         departed = [\"SORTI\"]\n",
        server.url(),
        password_file.display()
    )
}
