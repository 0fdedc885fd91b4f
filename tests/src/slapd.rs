//! OpenLDAP as the directory a province migrates from: a private database built offline
//! (a `slapd.conf` with an mdb backend in a temporary directory, filled with `slapadd`) and
//! exported with the real `slapcat`, and password hashes made by the real tools: `slappasswd`
//! (with Debian's pw-sha2 and argon2 modules), `mkpasswd` (package whois), and Python's
//! `crypt` and `hashlib` for the PBKDF2 layouts of OpenLDAP's pw-pbkdf2 and of 389-DS, which
//! Debian's slapd does not ship.
//!
//! No daemon is started: slapadd and slapcat open the database files directly. A missing
//! program fails the test with what to install (`.ci/run` installs slapd and whois).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tempfile::TempDir;

use crate::program::output_with_stdin;

/// The suffix of the test directory: the province's own.
pub const SUFFIX: &str = "dc=vinhphuc,dc=gov,dc=vn";

/// The Netscape/Sun mail schema's alias attribute, which OpenLDAP does not carry: the
/// auxiliary class `mailRecipient` lets an entry hold `mailAlternateAddress`, as mail
/// directories that Zimbra and Sun Messaging fed do.
const MAIL_SCHEMA: &str = "attributetype ( 2.16.840.1.113730.3.1.13 NAME 'mailAlternateAddress'
    EQUALITY caseIgnoreIA5Match SUBSTR caseIgnoreIA5SubstringsMatch
    SYNTAX 1.3.6.1.4.1.1466.115.121.1.26{256} )
objectclass ( 2.16.840.1.113730.3.2.3 NAME 'mailRecipient' SUP top AUXILIARY
    MAY ( mail $ mailAlternateAddress ) )
";

/// A private OpenLDAP database under [`SUFFIX`].
#[derive(Debug)]
pub struct Slapd {
    dir: TempDir,
    config: PathBuf,
}

impl Slapd {
    /// Writes the configuration and an empty database directory.
    pub fn new() -> Slapd {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("db");
        std::fs::create_dir(&db).unwrap();
        let schema = dir.path().join("mail.schema");
        std::fs::write(&schema, MAIL_SCHEMA).unwrap();
        let config = dir.path().join("slapd.conf");
        let text = format!(
            "include /etc/ldap/schema/core.schema\n\
             include /etc/ldap/schema/cosine.schema\n\
             include /etc/ldap/schema/nis.schema\n\
             include /etc/ldap/schema/inetorgperson.schema\n\
             include {schema}\n\
             modulepath /usr/lib/ldap\n\
             moduleload back_mdb\n\
             database mdb\n\
             suffix \"{SUFFIX}\"\n\
             rootdn \"cn=admin,{SUFFIX}\"\n\
             directory {db}\n\
             maxsize 67108864\n",
            schema = schema.display(),
            db = db.display(),
        );
        std::fs::write(&config, text).unwrap();
        Slapd { dir, config }
    }

    /// Adds `ldif` (entries, parents first) with slapadd, which checks them against the
    /// schema as slapd would.
    pub fn add(&self, ldif: &str) {
        let file = self.dir.path().join("add.ldif");
        std::fs::write(&file, ldif).unwrap();
        let output = tool("/usr/sbin/slapadd", "slapd")
            .arg("-f")
            .arg(&self.config)
            .arg("-l")
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "slapadd refused the entries:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// The whole database as `slapcat` exports it: base64 for non-ASCII values and DNs,
    /// lines folded at 76 columns, operational attributes included.
    pub fn export(&self) -> String {
        let output = tool("/usr/sbin/slapcat", "slapd")
            .arg("-f")
            .arg(&self.config)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "slapcat failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// Writes the export to `path`.
    pub fn export_to(&self, path: &Path) {
        std::fs::write(path, self.export()).unwrap();
    }
}

impl Default for Slapd {
    fn default() -> Self {
        Slapd::new()
    }
}

/// A command for `program`, failing the test with the package to install when it is absent.
fn tool(program: &str, package: &str) -> Command {
    assert!(
        Path::new(program).exists() || which(program),
        "{program} is not installed: install the Debian package {package} (.ci/run does)"
    );
    let mut command = Command::new(program);
    command.stdin(Stdio::null());
    command
}

fn which(program: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `slappasswd -h SCHEME -s SECRET`, loading `module` (pw-sha2, argon2) first when given.
pub fn slappasswd(scheme: &str, module: Option<&str>, secret: &str) -> String {
    let mut command = tool("/usr/sbin/slappasswd", "slapd");
    if let Some(module) = module {
        command.args(["-o", &format!("module-load={module}")]);
    }
    if let Some(format) = scheme.strip_prefix("{CRYPT}") {
        command.args(["-h", "{CRYPT}", "-c", format]);
    } else {
        command.args(["-h", scheme]);
    }
    let output = command.args(["-s", secret]).output().unwrap();
    assert!(
        output.status.success(),
        "slappasswd -h {scheme} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let hash = String::from_utf8(output.stdout).unwrap().trim().to_string();
    assert!(hash.starts_with('{'), "slappasswd wrote {hash}");
    hash
}

/// `mkpasswd -m METHOD`, the secret on standard input; the result as `{CRYPT}…`.
pub fn mkpasswd(method: &str, secret: &str) -> String {
    let output = output_with_stdin(
        tool("mkpasswd", "whois").args(["-m", method, "--stdin"]),
        format!("{secret}\n").as_bytes(),
    );
    assert!(
        output.status.success(),
        "mkpasswd -m {method} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    format!(
        "{{CRYPT}}{}",
        String::from_utf8(output.stdout).unwrap().trim()
    )
}

/// Runs a Python 3 snippet that prints one hash, the secret in `SECRET` of its environment.
fn python(code: &str, secret: &str) -> String {
    let output = tool("python3", "python3")
        .args(["-W", "ignore", "-c", code])
        .env("SECRET", secret)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "python3 failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// `{CRYPT}$2y$…`: bcrypt under PHP's name, made by Python's `crypt` (libxcrypt).
pub fn python_bcrypt_2y(secret: &str) -> String {
    let code = "import crypt, os, base64\n\
        salt = base64.b64encode(os.urandom(16)).decode().translate(str.maketrans('+=', '.A'))[:22]\n\
        print('{CRYPT}' + crypt.crypt(os.environ['SECRET'], '$2y$05$' + salt))";
    python(code, secret)
}

/// `{PBKDF2-…}ITER$salt$key` as OpenLDAP's pw-pbkdf2 writes it (passlib's adapted base64:
/// `.` for `+`, no padding); `digest` is sha1, sha256 or sha512. For an iteration count other
/// than the 10,000 that `slappasswd` with pw-pbkdf2 (package slapd-contrib) always uses.
pub fn openldap_pbkdf2(digest: &str, iterations: u32, secret: &str) -> String {
    let (scheme, length) = match digest {
        "sha1" => ("PBKDF2", 20),
        "sha256" => ("PBKDF2-SHA256", 32),
        "sha512" => ("PBKDF2-SHA512", 64),
        other => panic!("no PBKDF2 scheme for {other}"),
    };
    let code = format!(
        "import hashlib, os, base64\n\
         ab64 = lambda b: base64.b64encode(b).decode().rstrip('=').replace('+', '.')\n\
         salt = os.urandom(16)\n\
         key = hashlib.pbkdf2_hmac('{digest}', os.environ['SECRET'].encode(), salt, {iterations}, {length})\n\
         print('{{{scheme}}}{iterations}$' + ab64(salt) + '$' + ab64(key))"
    );
    python(&code, secret)
}

/// `{PBKDF2-SHA512}ITER$salt$key` as 389-DS 2.x writes it: standard base64 with padding.
pub fn ds389_pbkdf2_sha512(iterations: u32, secret: &str) -> String {
    let code = format!(
        "import hashlib, os, base64\n\
         salt = os.urandom(24)\n\
         key = hashlib.pbkdf2_hmac('sha512', os.environ['SECRET'].encode(), salt, {iterations}, 64)\n\
         print('{{PBKDF2-SHA512}}{iterations}$' + base64.b64encode(salt).decode() + '$' + base64.b64encode(key).decode())"
    );
    python(&code, secret)
}

/// `{PBKDF2_SHA256}` as older 389-DS writes it: base64 of the big-endian iteration count, a
/// 64-byte salt and a 256-byte key.
pub fn ds389_pbkdf2_sha256(iterations: u32, secret: &str) -> String {
    let code = format!(
        "import hashlib, os, base64, struct\n\
         salt = os.urandom(64)\n\
         key = hashlib.pbkdf2_hmac('sha256', os.environ['SECRET'].encode(), salt, {iterations}, 256)\n\
         print('{{PBKDF2_SHA256}}' + base64.b64encode(struct.pack('>I', {iterations}) + salt + key).decode())"
    );
    python(&code, secret)
}
