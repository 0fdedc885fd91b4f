//! Password hashes carried over from another directory (`userPassword` in an OpenLDAP, 389-DS
//! or Zimbra export), kept as the text they were exported as and checked at sign-in until
//! the official's first successful one replaces them with argon2id.
//!
//! Accepted: the RFC 2307 digests `{SHA}` `{SSHA}` `{SHA256}` `{SSHA256}` `{SHA384}`
//! `{SSHA384}` `{SHA512}` `{SSHA512}` `{MD5}` `{SMD5}`; `{CRYPT}` with MD5-crypt (`$1$`),
//! SHA-crypt (`$5$`, `$6$`) or bcrypt (`$2a$`, `$2b$`, `$2y$`); PBKDF2 as OpenLDAP's pw-pbkdf2
//! and newer 389-DS write it (`{PBKDF2-SHA256}ITER$salt$hash`, the salt and hash in passlib's
//! "adapted base64" or in standard base64) and as older 389-DS writes it
//! (`{PBKDF2_SHA256}` = base64 of a big-endian iteration count, a 64-byte salt and a 256-byte
//! key); and `{ARGON2}` followed by a PHC string, as OpenLDAP's argon2 module writes it.
//! Dovecot's names for the `{CRYPT}` variants (`{MD5-CRYPT}`, `{SHA256-CRYPT}`,
//! `{SHA512-CRYPT}`, `{BLF-CRYPT}`) are read as `{CRYPT}`.
//! Scheme names are matched without regard to case.
//!
//! Every scheme is computed by a RustCrypto (or, for bcrypt, the Rust ecosystem's) crate and
//! compared in constant time; only the framing of each text is read here. The work a hash
//! asks for (iterations, rounds, cost, memory) is bounded: a hash above the bounds is refused
//! when it is brought in, with the reason, and never computed at sign-in, so that no stored
//! hash makes every login attempt burn seconds.
//!
//! This module owns only the formats and their checks; where hashes are stored, when they are
//! replaced, and how sign-in hides which kind an account has, are `auth`'s business.

use std::fmt;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use base64ct::{Base64ShaCrypt, Encoding as _};
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};
use subtle::ConstantTimeEq;

// The bounds below keep the dearest accepted hash near half a second of one core in a
// release build (PBKDF2-SHA512 at the bound: about 0.9 s), while staying well above what the
// directories congvu replaces write by default.

/// Most PBKDF2 blocks (iterations times the key's length in digest blocks) a hash may ask
/// for: above OWASP's 1,300,000 iterations of PBKDF2-SHA1, and far above OpenLDAP's default
/// (10,000), 389-DS's (8,192 × 8 blocks, later 100,000) and passlib's (29,000 of SHA-256).
pub const MAX_PBKDF2_WORK: u64 = 2_000_000;
/// Most SHA-crypt rounds: 200 times the default of 5,000 (about 0.3 s).
pub const MAX_SHA_CRYPT_ROUNDS: u32 = 1_000_000;
/// Highest bcrypt cost: 2^13 rounds (about 0.6 s); passlib's default is 12, PHP's 10.
pub const MAX_BCRYPT_COST: u32 = 13;
/// Most argon2 memory, in KiB (256 MiB): every hashing thread may hold this much at once.
pub const MAX_ARGON2_MEMORY_KIB: u32 = 262_144;
/// Most argon2 memory times passes, in KiB (512 MiB filled, about 0.6 s); OpenLDAP's module
/// writes m=4096,t=3 by default.
pub const MAX_ARGON2_WORK_KIB: u64 = 524_288;
/// Most argon2 lanes.
pub const MAX_ARGON2_LANES: u32 = 16;
/// Longest hash text taken, far above any real one (389-DS's PBKDF2_SHA256 is 451 bytes).
const MAX_TEXT: usize = 1024;

/// Why a `userPassword` value cannot be carried over.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LegacyHashError {
    /// No `{SCHEME}` prefix: the old directory kept the password in clear text.
    #[error("the password is stored in clear text, not hashed")]
    ClearText,
    /// A scheme (or `{CRYPT}` variant) congvu does not check.
    #[error("the scheme {0} is not one congvu accepts")]
    Unsupported(String),
    /// A known scheme whose value cannot be read.
    #[error("the {scheme} hash is malformed: {why}")]
    Malformed { scheme: &'static str, why: String },
    /// A known scheme asking for more work than congvu spends on one sign-in.
    #[error("the {scheme} hash asks for {asked}, above the {limit} congvu accepts")]
    TooCostly {
        scheme: &'static str,
        asked: String,
        limit: String,
    },
}

/// Which digest a salted or PBKDF2 scheme uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DigestKind {
    Md5,
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl DigestKind {
    fn output_len(self) -> usize {
        match self {
            DigestKind::Md5 => 16,
            DigestKind::Sha1 => 20,
            DigestKind::Sha256 => 32,
            DigestKind::Sha384 => 48,
            DigestKind::Sha512 => 64,
        }
    }

    /// The digest of `parts` concatenated.
    fn digest(self, parts: &[&[u8]]) -> Vec<u8> {
        fn run<D: Digest>(parts: &[&[u8]]) -> Vec<u8> {
            let mut d = D::new();
            for part in parts {
                d.update(part);
            }
            d.finalize().to_vec()
        }
        match self {
            DigestKind::Md5 => run::<Md5>(parts),
            DigestKind::Sha1 => run::<Sha1>(parts),
            DigestKind::Sha256 => run::<Sha256>(parts),
            DigestKind::Sha384 => run::<Sha384>(parts),
            DigestKind::Sha512 => run::<Sha512>(parts),
        }
    }

    /// PBKDF2-HMAC with this digest, filling `out`.
    fn pbkdf2(self, password: &[u8], salt: &[u8], rounds: u32, out: &mut [u8]) {
        match self {
            DigestKind::Md5 => pbkdf2::pbkdf2_hmac::<Md5>(password, salt, rounds, out),
            DigestKind::Sha1 => pbkdf2::pbkdf2_hmac::<Sha1>(password, salt, rounds, out),
            DigestKind::Sha256 => pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, rounds, out),
            DigestKind::Sha384 => pbkdf2::pbkdf2_hmac::<Sha384>(password, salt, rounds, out),
            DigestKind::Sha512 => pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, rounds, out),
        }
    }
}

/// The `{CRYPT}` variants accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CryptKind {
    Md5,
    Sha256,
    Sha512,
    Bcrypt,
}

/// What one hash needs to be checked, read from its text.
#[derive(Clone, PartialEq, Eq)]
enum Material {
    /// `digest(password ‖ salt) == expected`; the salt is empty for unsalted schemes.
    Digest {
        kind: DigestKind,
        salt: Vec<u8>,
        expected: Vec<u8>,
    },
    /// A crypt(3) string, checked by the scheme's crate.
    Crypt { kind: CryptKind, text: String },
    Pbkdf2 {
        kind: DigestKind,
        rounds: u32,
        salt: Vec<u8>,
        expected: Vec<u8>,
    },
    /// A PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`).
    Argon2 { phc: String },
}

/// A carried-over password hash, read and within bounds.
#[derive(Clone, PartialEq, Eq)]
pub struct LegacyHash {
    scheme: &'static str,
    material: Material,
}

impl fmt::Debug for LegacyHash {
    // The material is as secret as any hash: never in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LegacyHash({}, …)", self.scheme)
    }
}

impl LegacyHash {
    /// Reads a `userPassword` value as exported (`{SSHA}…`), refusing what cannot be checked
    /// or would cost too much to check.
    pub fn parse(text: &str) -> Result<LegacyHash, LegacyHashError> {
        let Some(rest) = text.strip_prefix('{') else {
            return Err(LegacyHashError::ClearText);
        };
        // Only a scheme-like name counts as one: a clear-text password that happens to start
        // with `{` must never be echoed back in a report as a "scheme".
        let scheme_like = |name: &str| {
            (1..=32).contains(&name.len())
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        };
        let Some((name, value)) = rest.split_once('}').filter(|(n, _)| scheme_like(n)) else {
            return Err(LegacyHashError::ClearText);
        };
        if text.len() > MAX_TEXT {
            return Err(LegacyHashError::Unsupported(format!(
                "{{{name}}} (a value of {} bytes)",
                text.len()
            )));
        }
        let upper = name.to_ascii_uppercase();
        let (scheme, material) = match upper.as_str() {
            "SHA" => ("{SHA}", digest(DigestKind::Sha1, false, value)),
            "SSHA" => ("{SSHA}", digest(DigestKind::Sha1, true, value)),
            "SHA256" => ("{SHA256}", digest(DigestKind::Sha256, false, value)),
            "SSHA256" => ("{SSHA256}", digest(DigestKind::Sha256, true, value)),
            "SHA384" => ("{SHA384}", digest(DigestKind::Sha384, false, value)),
            "SSHA384" => ("{SSHA384}", digest(DigestKind::Sha384, true, value)),
            "SHA512" => ("{SHA512}", digest(DigestKind::Sha512, false, value)),
            "SSHA512" => ("{SSHA512}", digest(DigestKind::Sha512, true, value)),
            "MD5" => ("{MD5}", digest(DigestKind::Md5, false, value)),
            "SMD5" => ("{SMD5}", digest(DigestKind::Md5, true, value)),
            // Dovecot's passdb names for the crypt(3) variants, as in its passwd-files and
            // its LDAP `userPassword` values.
            "CRYPT" | "MD5-CRYPT" | "SHA256-CRYPT" | "SHA512-CRYPT" | "BLF-CRYPT" => {
                return crypt(value)
            }
            "PBKDF2" | "PBKDF2-SHA1" => ("{PBKDF2-SHA1}", pbkdf2_text(DigestKind::Sha1, value)),
            "PBKDF2-SHA256" => ("{PBKDF2-SHA256}", pbkdf2_text(DigestKind::Sha256, value)),
            "PBKDF2-SHA512" => ("{PBKDF2-SHA512}", pbkdf2_text(DigestKind::Sha512, value)),
            "PBKDF2_SHA256" => ("{PBKDF2_SHA256}", pbkdf2_389(value)),
            "ARGON2" => ("{ARGON2}", argon2(value)),
            _ => return Err(LegacyHashError::Unsupported(format!("{{{name}}}"))),
        };
        let material = material.map_err(|e| e.within(scheme))?;
        Ok(LegacyHash { scheme, material })
    }

    /// The scheme's name, as in `{SSHA}` or `{CRYPT} $6$`: not secret, for reports.
    pub fn scheme(&self) -> &'static str {
        self.scheme
    }

    /// Whether `password` is the one this hash was made from, compared in constant time.
    pub fn verify(&self, password: &str) -> bool {
        let password = password.as_bytes();
        match &self.material {
            Material::Digest {
                kind,
                salt,
                expected,
            } => kind.digest(&[password, salt]).ct_eq(expected).into(),
            Material::Crypt { kind, text } => verify_crypt(*kind, password, text),
            Material::Pbkdf2 {
                kind,
                rounds,
                salt,
                expected,
            } => {
                let mut out = vec![0u8; expected.len()];
                kind.pbkdf2(password, salt, *rounds, &mut out);
                out.ct_eq(expected).into()
            }
            Material::Argon2 { phc } => verify_argon2(password, phc),
        }
    }
}

/// A problem with a hash's value, before it is known under which scheme name to report it.
enum ValueError {
    Malformed(String),
    TooCostly { asked: String, limit: String },
}

impl ValueError {
    fn within(self, scheme: &'static str) -> LegacyHashError {
        match self {
            ValueError::Malformed(why) => LegacyHashError::Malformed { scheme, why },
            ValueError::TooCostly { asked, limit } => LegacyHashError::TooCostly {
                scheme,
                asked,
                limit,
            },
        }
    }
}

fn malformed<T>(why: impl Into<String>) -> Result<T, ValueError> {
    Err(ValueError::Malformed(why.into()))
}

/// Base64 as LDAP tools write it: standard alphabet, padding optional, and (as OpenLDAP's and
/// 389-DS's own decoders allow) stray bits after the last byte.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

fn decode_base64(text: &str) -> Result<Vec<u8>, ValueError> {
    LENIENT_BASE64
        .decode(text.trim())
        .or_else(|e| malformed(format!("not base64 ({e})")))
}

/// RFC 2307 digests: base64 of the digest, followed by the salt for the salted ones.
fn digest(kind: DigestKind, salted: bool, value: &str) -> Result<Material, ValueError> {
    let bytes = decode_base64(value)?;
    let len = kind.output_len();
    let fits = if salted {
        bytes.len() > len
    } else {
        bytes.len() == len
    };
    if !fits {
        return malformed(format!(
            "{} bytes where the digest is {len}{}",
            bytes.len(),
            if salted { " plus a salt" } else { "" }
        ));
    }
    let (expected, salt) = bytes.split_at(len);
    Ok(Material::Digest {
        kind,
        salt: salt.to_vec(),
        expected: expected.to_vec(),
    })
}

/// `ITER$salt$hash`, the salt and key in passlib's adapted base64 (`.` for `+`, no padding)
/// as OpenLDAP writes them, or in standard base64 as 389-DS 2.x writes them.
fn pbkdf2_text(kind: DigestKind, value: &str) -> Result<Material, ValueError> {
    let mut parts = value.split('$');
    let (Some(rounds), Some(salt), Some(key), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return malformed("not ITERATIONS$SALT$KEY");
    };
    let rounds: u32 = match rounds.parse() {
        Ok(n) if n > 0 => n,
        _ => return malformed(format!("\"{rounds}\" is not an iteration count")),
    };
    let adapted = |text: &str| decode_base64(&text.replace('.', "+"));
    let (salt, expected) = (adapted(salt)?, adapted(key)?);
    if salt.is_empty() || expected.len() < 16 {
        return malformed("the salt is empty or the key shorter than 16 bytes");
    }
    pbkdf2_within_bounds(kind, rounds, expected.len())?;
    Ok(Material::Pbkdf2 {
        kind,
        rounds,
        salt,
        expected,
    })
}

/// 389-DS's original PBKDF2_SHA256: base64 of a 4-byte big-endian iteration count, a
/// 64-byte salt and a 256-byte key (`pbkdf2_pwd.c`).
fn pbkdf2_389(value: &str) -> Result<Material, ValueError> {
    const SALT: usize = 64;
    const KEY: usize = 256;
    let bytes = decode_base64(value)?;
    if bytes.len() != 4 + SALT + KEY {
        return malformed(format!(
            "{} bytes where 389-DS writes {}",
            bytes.len(),
            4 + SALT + KEY
        ));
    }
    let (count, rest) = bytes.split_at(4);
    let rounds = u32::from_be_bytes([count[0], count[1], count[2], count[3]]);
    if rounds == 0 {
        return malformed("an iteration count of 0");
    }
    pbkdf2_within_bounds(DigestKind::Sha256, rounds, KEY)?;
    let (salt, expected) = rest.split_at(SALT);
    Ok(Material::Pbkdf2 {
        kind: DigestKind::Sha256,
        rounds,
        salt: salt.to_vec(),
        expected: expected.to_vec(),
    })
}

/// PBKDF2 computes every iteration once per digest-sized block of the key.
fn pbkdf2_within_bounds(kind: DigestKind, rounds: u32, key_len: usize) -> Result<(), ValueError> {
    let blocks = key_len.div_ceil(kind.output_len()) as u64;
    let work = u64::from(rounds) * blocks;
    if work > MAX_PBKDF2_WORK {
        return Err(ValueError::TooCostly {
            asked: format!("{rounds} iterations over {blocks} block(s)"),
            limit: format!("{MAX_PBKDF2_WORK} iteration-blocks"),
        });
    }
    Ok(())
}

/// `{CRYPT}` followed by a crypt(3) string; only the variants with a known, bounded cost.
fn crypt(value: &str) -> Result<LegacyHash, LegacyHashError> {
    let (scheme, kind) = if value.starts_with("$1$") {
        ("{CRYPT} $1$", CryptKind::Md5)
    } else if value.starts_with("$5$") {
        ("{CRYPT} $5$", CryptKind::Sha256)
    } else if value.starts_with("$6$") {
        ("{CRYPT} $6$", CryptKind::Sha512)
    } else if value.starts_with("$2a$") {
        ("{CRYPT} $2a$", CryptKind::Bcrypt)
    } else if value.starts_with("$2b$") {
        ("{CRYPT} $2b$", CryptKind::Bcrypt)
    } else if value.starts_with("$2y$") {
        ("{CRYPT} $2y$", CryptKind::Bcrypt)
    } else {
        return Err(LegacyHashError::Unsupported(crypt_variant(value)));
    };
    let checked = match kind {
        CryptKind::Md5 => md5_crypt_parts(value).map(|_| ()),
        CryptKind::Sha256 | CryptKind::Sha512 => sha_crypt_rounds(value),
        CryptKind::Bcrypt => bcrypt_cost(value),
    };
    checked.map_err(|e| e.within(scheme))?;
    Ok(LegacyHash {
        scheme,
        material: Material::Crypt {
            kind,
            text: value.to_string(),
        },
    })
}

/// How to name a crypt(3) variant that is not accepted.
fn crypt_variant(value: &str) -> String {
    let id = value
        .strip_prefix('$')
        .and_then(|rest| rest.split('$').next())
        .unwrap_or("");
    match id {
        "" if value.len() == 13 => "{CRYPT} with traditional DES crypt".into(),
        "" => "{CRYPT} without a $id$ prefix".into(),
        "y" => "{CRYPT} $y$ (yescrypt)".into(),
        "gy" => "{CRYPT} $gy$ (GOST yescrypt)".into(),
        "7" => "{CRYPT} $7$ (scrypt)".into(),
        "2x" => "{CRYPT} $2x$ (bcrypt with the old sign-extension bug)".into(),
        other => format!("{{CRYPT}} ${}$", other.chars().take(8).collect::<String>()),
    }
}

/// The rounds of a SHA-crypt string (`$6$rounds=N$salt$hash`), within bounds.
fn sha_crypt_rounds(value: &str) -> Result<(), ValueError> {
    let parts: Vec<&str> = value.split('$').collect();
    let rounds = match parts.as_slice() {
        ["", _, rounds, _, _] => match rounds.strip_prefix("rounds=").map(str::parse::<u64>) {
            Some(Ok(n)) => n,
            _ => return malformed("the rounds are not rounds=NUMBER"),
        },
        ["", _, _, _] => 5_000,
        _ => return malformed("not $id$[rounds=N$]salt$hash"),
    };
    if rounds > u64::from(MAX_SHA_CRYPT_ROUNDS) {
        return Err(ValueError::TooCostly {
            asked: format!("{rounds} rounds"),
            limit: format!("{MAX_SHA_CRYPT_ROUNDS} rounds"),
        });
    }
    Ok(())
}

/// The cost of a bcrypt string (`$2b$12$…`), within bounds.
fn bcrypt_cost(value: &str) -> Result<(), ValueError> {
    let parts: Vec<&str> = value.split('$').collect();
    let ["", _, cost, rest] = parts.as_slice() else {
        return malformed("not $2b$COST$SALTHASH");
    };
    if rest.len() != 53 {
        return malformed("the salt and hash are not 53 characters");
    }
    match cost.parse::<u32>() {
        Ok(c) if c > MAX_BCRYPT_COST => Err(ValueError::TooCostly {
            asked: format!("cost {c}"),
            limit: format!("cost {MAX_BCRYPT_COST}"),
        }),
        Ok(c) if c >= 4 => Ok(()),
        _ => malformed(format!("\"{cost}\" is not a bcrypt cost")),
    }
}

fn verify_crypt(kind: CryptKind, password: &[u8], text: &str) -> bool {
    match kind {
        CryptKind::Md5 => md5_crypt_parts(text).is_ok_and(|(salt, expected)| {
            md5_crypt(password, salt).as_bytes().ct_eq(expected).into()
        }),
        // Both take the password as text; one that is not UTF-8 cannot have been typed here.
        CryptKind::Sha256 => {
            std::str::from_utf8(password).is_ok_and(|p| sha_crypt::sha256_check(p, text).is_ok())
        }
        CryptKind::Sha512 => {
            std::str::from_utf8(password).is_ok_and(|p| sha_crypt::sha512_check(p, text).is_ok())
        }
        // bcrypt compares in constant time itself; like crypt(3), it reads 72 bytes at most.
        CryptKind::Bcrypt => bcrypt::verify(password, text).unwrap_or(false),
    }
}

/// The salt (at most 8 characters) and the 22-character checksum of `$1$salt$checksum`.
fn md5_crypt_parts(value: &str) -> Result<(&[u8], &[u8]), ValueError> {
    let rest = value.strip_prefix("$1$").unwrap_or(value);
    let Some((salt, checksum)) = rest.split_once('$') else {
        return malformed("not $1$salt$checksum");
    };
    if salt.len() > 8 || checksum.len() != 22 {
        return malformed("the salt is over 8 characters or the checksum not 22");
    }
    Ok((salt.as_bytes(), checksum.as_bytes()))
}

/// MD5-crypt's checksum of `password` with `salt`, in the crypt(3) alphabet: Poul-Henning
/// Kamp's algorithm as FreeBSD and glibc compute it (kanidm carries it the same way, over
/// RustCrypto's MD5, as no maintained crate offers it alone).
fn md5_crypt(password: &[u8], salt: &[u8]) -> String {
    let alternate = DigestKind::Md5.digest(&[password, salt, password]);
    let mut context = Md5::new();
    context.update(password);
    context.update(b"$1$");
    context.update(salt);
    // As many bytes of the alternate digest as the password is long, repeating it.
    let repeated: Vec<u8> = alternate
        .iter()
        .copied()
        .cycle()
        .take(password.len())
        .collect();
    context.update(&repeated);
    // For each bit of the length, a NUL byte or the password's first byte (the original
    // reads a buffer it has just cleared, hence the NUL).
    let mut bits = password.len();
    while bits > 0 {
        if bits & 1 == 1 {
            context.update([0u8]);
        } else {
            context.update(&password[..1]);
        }
        bits >>= 1;
    }
    let mut round: [u8; 16] = context.finalize().into();
    for i in 0..1000 {
        let mut next = Md5::new();
        if i % 2 == 1 {
            next.update(password);
        } else {
            next.update(round);
        }
        if i % 3 != 0 {
            next.update(salt);
        }
        if i % 7 != 0 {
            next.update(password);
        }
        if i % 2 == 1 {
            next.update(round);
        } else {
            next.update(password);
        }
        round = next.finalize().into();
    }
    // The bytes in the order crypt(3) writes them, three at a time, least significant first.
    const ORDER: [usize; 16] = [12, 6, 0, 13, 7, 1, 14, 8, 2, 15, 9, 3, 5, 10, 4, 11];
    let permuted: Vec<u8> = ORDER.iter().map(|&i| round[i]).collect();
    Base64ShaCrypt::encode_string(&permuted)
}

/// `{ARGON2}` holds a PHC string; its parameters must be within bounds.
fn argon2(value: &str) -> Result<Material, ValueError> {
    let phc = argon2::password_hash::PasswordHash::new(value)
        .or_else(|e| malformed(format!("not a PHC string ({e})")))?;
    if argon2::Algorithm::try_from(phc.algorithm).is_err() {
        return malformed(format!("{} is not an argon2 variant", phc.algorithm));
    }
    let params = argon2::Params::try_from(&phc)
        .or_else(|e| malformed(format!("the parameters are invalid ({e})")))?;
    if phc.hash.is_none() || phc.salt.is_none() {
        return malformed("the salt or hash is missing");
    }
    let (m, t, p) = (params.m_cost(), params.t_cost(), params.p_cost());
    if m > MAX_ARGON2_MEMORY_KIB
        || u64::from(m) * u64::from(t) > MAX_ARGON2_WORK_KIB
        || p > MAX_ARGON2_LANES
    {
        return Err(ValueError::TooCostly {
            asked: format!("m={m} KiB, t={t}, p={p}"),
            limit: format!(
                "m of {MAX_ARGON2_MEMORY_KIB} KiB, m×t of {MAX_ARGON2_WORK_KIB} KiB and p of {MAX_ARGON2_LANES}"
            ),
        });
    }
    Ok(Material::Argon2 {
        phc: value.to_string(),
    })
}

/// Checks an argon2 PHC string with its own parameters (argon2's comparison is constant-time).
fn verify_argon2(password: &[u8], phc: &str) -> bool {
    use argon2::password_hash::PasswordVerifier as _;
    let Ok(parsed) = argon2::password_hash::PasswordHash::new(phc) else {
        return false;
    };
    argon2::Argon2::default()
        .verify_password(password, &parsed)
        .is_ok()
}

#[cfg(test)]
mod tests;
