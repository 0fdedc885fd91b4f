//! Vectors from each scheme's own project (its test suite, README or documentation), and
//! hashes written by the tools installed here (slappasswd, mkpasswd, Python's crypt): each
//! verifies its password and refuses a near miss.

use base64::Engine as _;

use super::*;

/// (hash as exported, password, where the vector comes from).
const VECTORS: &[(&str, &str, &str)] = &[
    // passlib's documentation of ldap_digests (passlib.hash.ldap_std).
    ("{SSHA}pKqkNr1tq3wtQqk+UcPyA3HnA2NsU5NJ", "password", "passlib docs"),
    ("{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "password", "passlib docs"),
    ("{SMD5}jNoSMNY0cybfuBWiaGlFw3Mfi/U=", "password", "passlib docs"),
    ("{MD5}X03MO1qnZdYdgyfeuILPmQ==", "password", "passlib docs"),
    // slappasswd 2.5 (Debian), with the pw-sha2 module for the SHA-2 schemes.
    ("{SSHA}Wsgyft1R4/aR1Dvkk6BjiWCEjcmfZKoK", "secret", "slappasswd"),
    ("{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=", "secret", "slappasswd"),
    (
        "{SSHA256}O0C/aF1Q1bLmh9WCipsJ+ZO89HBF2tNNn2hyEx28FHW/0n/SE9LuIQ==",
        "secret",
        "slappasswd pw-sha2",
    ),
    (
        "{SSHA512}RllpUh7HyjCgrOg+/pMrq457GWGoJ5iY16dylSXxrLTvRgt/4eHBaRwtWxTsiQ9zv/pt1EyZdxQariE/2rpCBmudgd/GfkuF",
        "secret",
        "slappasswd pw-sha2",
    ),
    // SHA-crypt's specification (Drepper, SHA-crypt.txt), default and explicit rounds, the
    // salt cut to 16 characters.
    (
        "{CRYPT}$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5",
        "Hello world!",
        "SHA-crypt spec",
    ),
    (
        "{CRYPT}$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA",
        "Hello world!",
        "SHA-crypt spec",
    ),
    (
        "{CRYPT}$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
        "Hello world!",
        "SHA-crypt spec",
    ),
    (
        "{CRYPT}$6$3Btwpdew0/LgFRsn$fq.m5OCTdUiGojKJrHHS5v4PJw0Jqq5I0htsA3w5w80VIzVOF7hPWZd3JUFsYTFGheRTO9pENRXtwh7SEAJgw/",
        "secret",
        "slappasswd -c '$6$%.16s'",
    ),
    // MD5-crypt: passlib's md5_crypt documentation, mkpasswd and Python's crypt.
    ("{CRYPT}$1$5pZSV9va$azfrPr6af3Fc7dLblQXVa0", "password", "passlib docs"),
    ("{CRYPT}$1$Ch/xavka$LWSTHZEMpTyvwc8X7VNyj/", "secret", "mkpasswd -m md5crypt"),
    ("{CRYPT}$1$MHkAcn86$ASfmJy.uq9bcWWXuy13iE0", "secret", "Python crypt METHOD_MD5"),
    // bcrypt: Openwall's crypt_blowfish test vectors, and mkpasswd (also as $2y$, which is
    // the same algorithm under PHP's name).
    (
        "{CRYPT}$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
        "U*U",
        "crypt_blowfish wrapper.c",
    ),
    (
        "{CRYPT}$2a$05$CCCCCCCCCCCCCCCCCCCCC.VGOzA784oUp/Z0DY336zx7pLYAy0lwK",
        "U*U*",
        "crypt_blowfish wrapper.c",
    ),
    (
        "{CRYPT}$2b$05$KMpNxYPjJgF.qSktyZeoPOScxSdsc/jUwAel9z3pSBkReQ65BjglW",
        "secret",
        "mkpasswd -m bcrypt",
    ),
    (
        "{CRYPT}$2y$05$KMpNxYPjJgF.qSktyZeoPOScxSdsc/jUwAel9z3pSBkReQ65BjglW",
        "secret",
        "mkpasswd -m bcrypt, as $2y$",
    ),
    // OpenLDAP pw-pbkdf2: its README, and the vectors 389-DS's pwdchan tests carry.
    (
        "{PBKDF2}60000$Y6ZHtTTbeUgpIbIW0QDmDA$j/aU7jFKUSbH4UobNQDm9OEIwuw",
        "secret",
        "pw-pbkdf2 README",
    ),
    (
        "{PBKDF2}10000$IlfapjA351LuDSwYC0IQ8Q$saHqQTuYnjJN/tmAndT.8mJt.6w",
        "password",
        "389-DS pwdchan tests",
    ),
    (
        "{PBKDF2-SHA1}10000$ZBEH6B07rgQpJSikyvMU2w$TAA03a5IYkz1QlPsbJKvUsTqNV",
        "password",
        "389-DS pwdchan tests",
    ),
    (
        "{PBKDF2-SHA256}10000$henZGfPWw79Cs8ORDeVNrQ$1dTJy73v6n3bnTmTZFghxHXHLsAzKaAy8SksDfZBPIw",
        "password",
        "389-DS pwdchan tests",
    ),
    (
        "{PBKDF2-SHA512}10000$Je1Uw19Bfv5lArzZ6V3EPw$g4T/1sqBUYWl9o93MVnyQ/8zKGSkPbKaXXsT8WmysXQJhWy8MRP2JFudSL.N9RklQYgDPxPjnfum/F2f/TrppA",
        "password",
        "389-DS pwdchan tests",
    ),
    // passlib's documentation of ldap_pbkdf2_sha1 (131,000 iterations).
    (
        "{PBKDF2}131000$tLbWWssZ45zzfi9FiDEmxA$dQlpmhY4dGvmx4MOK/uOj/WU7Lg",
        "password",
        "passlib docs",
    ),
    // 389-DS 2.x writes the same layout in standard base64 with padding: a Django hash
    // re-encoded in pwdchan's tests, and Kolab's test vector from a 389-DS server.
    (
        "{PBKDF2-SHA256}36000$eElFb3p1WlZBb1lt$uW1b35DUKyhvQAf1mBqMvoBDcqSD06juzyO/nmyV0+w=",
        "eicieY7ahchaoCh0eeTa",
        "389-DS pwdchan tests",
    ),
    (
        "{PBKDF2-SHA512}10000$hbMHmUXNh3UoHNlDu+NJBOW+hVAhP3C0$ax9vNLL1rr85ppODFTykPC46igHh92vULWpZaR/CQqyD4IGG/IyPYbbC2v7BxSPIDUXc0e9AGX9IuwinIj5a/w==",
        "12345678_kolab",
        "Kolab PasswordTest",
    ),
    // 389-DS's original PBKDF2_SHA256: FreeIPA's generated test data and Kolab's tests.
    (
        "{PBKDF2_SHA256}AAAIAG+ooTntmgayOuMZRJuCMFVykCVWcVF3tw8YTlvFp9KF9UnFYhgpz8fC03o4Jv5KD4rQ4GsdXHIRlg/doyd1xOVFDYUZYAPHjnSpm9XnzIcaS4ZCV/JeLqueyeZQWKOlCH+k9BCmO2HZC7AKXWGMG5bJ8GLALceyf0xioP447wehg8caWYY7f2VYBz6k233DUkgV5NqswzuEwtLdDDFjpro0Ac15ok6fS0vqjDfiMs0ai5FCbivEKw4j6ZyuXHCpck6gcH8lh33rs779ZaLAgtIeeW+xdea3BDCQXhuHwCqIxxifLn2gQy/lLxlikXb82gk2ClADhwoG5RIdJ3ABrPDB100yw6QJ7NF14vV7DDzqxqylocWD/l1xw8HIYdkCpRG8PyfLz8TOR+Mgq0uB/mddrSkU6Hsmg9MkGpST69av",
        "password",
        "FreeIPA ipa-generate-data",
    ),
    (
        "{PBKDF2_SHA256}AAAIABzpVq0s1Ta7cqubx+19QOzsI7n7KRLu0SovLVivxUVCn0+ghlj3+9+tf3jqurdQhpQ/OWYmxMlAJCAeIU3jN0DDW7ODk9FpLFzhO2055J+vY5M7EXAGrvhUlkiyeH/zx/RBp2pVQq/2vtI+qmOGOGUXdZ0hK00yNXpZ7K7WTwsnEXeWs4DGkGkxwyPgsGTyEwwdYK4YpCFdjJi/dXI6+kKf72j+B+epuzPtuvdMj5xGnqe9jS+BN9Huzkof4vRPX3bYecywPaeNcdXPUY3iSj8hxFqiWbBDZ0mYy9aYAy6QgMitcdEGadPcR+dHXWNGK1qSLrFJJrB3cQtYhl+OgtHlwI0H4XTGBdp4MbegM3VgpUKuBNyIypwZ5oB/PRHA188bmsMjDmyN2kEnHSb1CK9MXcuS4bCQzNtutmQCxBCo",
        "Simple321Simple321",
        "Kolab PasswordTest",
    ),
    // OpenLDAP's argon2 module: slappasswd here (argon2i, its default), and the argon2id
    // vector 389-DS's pwdchan tests carry.
    (
        "{ARGON2}$argon2i$v=19$m=4096,t=3,p=1$/C1iDmFcO1GrLk2khm2vaA$BMsXzFUN2qRF4NeIj82nDqh+EOd4rdi9QntYbUugsKQ",
        "secret",
        "slappasswd argon2",
    ),
    (
        "{ARGON2}$argon2id$v=19$m=65536,t=2,p=1$IyTQMsvzB2JHDiWx8fq7Ew$VhYOA7AL0kbRXI5g2kOyyp8St1epkNj7WZyUY4pAIQQ",
        "password",
        "389-DS pwdchan tests",
    ),
];

#[test]
fn every_vector_verifies_its_password_and_refuses_a_near_miss() {
    for (hash, password, from) in VECTORS {
        let parsed = LegacyHash::parse(hash).unwrap_or_else(|e| panic!("{hash} ({from}): {e}"));
        assert!(
            parsed.verify(password),
            "{hash} ({from}) refuses its password"
        );
        let near = format!("{password}!");
        assert!(!parsed.verify(&near), "{hash} ({from}) accepts {near}");
        assert!(
            !parsed.verify(""),
            "{hash} ({from}) accepts the empty password"
        );
    }
}

#[test]
fn scheme_names_are_case_insensitive_and_reported() {
    let lower = LegacyHash::parse("{ssha}pKqkNr1tq3wtQqk+UcPyA3HnA2NsU5NJ").unwrap();
    assert!(lower.verify("password"));
    assert_eq!(lower.scheme(), "{SSHA}");
    let mixed = LegacyHash::parse(
        "{Pbkdf2-Sha256}10000$henZGfPWw79Cs8ORDeVNrQ$1dTJy73v6n3bnTmTZFghxHXHLsAzKaAy8SksDfZBPIw",
    )
    .unwrap();
    assert!(mixed.verify("password"));
    assert_eq!(mixed.scheme(), "{PBKDF2-SHA256}");
    let crypt = LegacyHash::parse("{crypt}$1$5pZSV9va$azfrPr6af3Fc7dLblQXVa0").unwrap();
    assert_eq!(crypt.scheme(), "{CRYPT} $1$");
}

#[test]
fn dovecot_names_for_crypt_variants_are_read_as_crypt() {
    let md5 = LegacyHash::parse("{MD5-CRYPT}$1$5pZSV9va$azfrPr6af3Fc7dLblQXVa0").unwrap();
    assert!(md5.verify("password") && !md5.verify("passwore"));
    assert_eq!(md5.scheme(), "{CRYPT} $1$");
    let sha512 = LegacyHash::parse(
        "{SHA512-CRYPT}$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
    )
    .unwrap();
    assert_eq!(sha512.scheme(), "{CRYPT} $6$");
    assert!(sha512.verify("Hello world!"));
}

#[test]
fn a_vietnamese_password_survives_utf8() {
    // The digest of the UTF-8 bytes, as slappasswd computes it from a UTF-8 terminal.
    let salt = b"muoi";
    let password = "Mật khẩu Sở Tài chính";
    let digest = DigestKind::Sha1.digest(&[password.as_bytes(), salt]);
    let mut value = digest;
    value.extend_from_slice(salt);
    let text = format!(
        "{{SSHA}}{}",
        base64::engine::general_purpose::STANDARD.encode(value)
    );
    let parsed = LegacyHash::parse(&text).unwrap();
    assert!(parsed.verify(password));
    assert!(!parsed.verify("Mat khau So Tai chinh"));
}

#[test]
fn clear_text_and_unknown_schemes_are_named() {
    assert_eq!(
        LegacyHash::parse("matkhau2020"),
        Err(LegacyHashError::ClearText)
    );
    assert_eq!(
        LegacyHash::parse("{mật khẩu}2020"),
        Err(LegacyHashError::ClearText)
    );
    assert_eq!(
        LegacyHash::parse("{CLEARTEXT}matkhau"),
        Err(LegacyHashError::Unsupported("{CLEARTEXT}".into()))
    );
    assert_eq!(
        LegacyHash::parse("{CRYPT}$y$j9T$abc$def"),
        Err(LegacyHashError::Unsupported(
            "{CRYPT} $y$ (yescrypt)".into()
        ))
    );
    assert_eq!(
        LegacyHash::parse("{CRYPT}abJnggxhB/yWI"),
        Err(LegacyHashError::Unsupported(
            "{CRYPT} with traditional DES crypt".into()
        ))
    );
    assert!(matches!(
        LegacyHash::parse("{CRYPT}$2x$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"),
        Err(LegacyHashError::Unsupported(s)) if s.contains("$2x$")
    ));
}

#[test]
fn malformed_values_say_what_is_wrong() {
    for (text, scheme) in [
        ("{SSHA}not*base64", "{SSHA}"),
        ("{SHA}AAAA", "{SHA}"),
        ("{SSHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "{SSHA}"),
        ("{PBKDF2-SHA256}10000$onlytwo", "{PBKDF2-SHA256}"),
        (
            "{PBKDF2-SHA256}ten$c2FsdA$a2V5a2V5a2V5a2V5a2V5",
            "{PBKDF2-SHA256}",
        ),
        ("{PBKDF2_SHA256}AAAIAA==", "{PBKDF2_SHA256}"),
        ("{CRYPT}$6$rounds=many$salt$hash", "{CRYPT} $6$"),
        ("{CRYPT}$2b$05$short", "{CRYPT} $2b$"),
        (
            "{CRYPT}$1$toolongsalt$azfrPr6af3Fc7dLblQXVa0",
            "{CRYPT} $1$",
        ),
        ("{ARGON2}$argon2id$v=19$m=x", "{ARGON2}"),
    ] {
        match LegacyHash::parse(text) {
            Err(LegacyHashError::Malformed { scheme: s, .. }) => assert_eq!(s, scheme, "{text}"),
            other => panic!("{text}: {other:?}"),
        }
    }
}

#[test]
fn work_above_the_bounds_is_refused_at_the_bound_and_accepted_just_under() {
    let pbkdf2 = |rounds: u64| {
        format!("{{PBKDF2-SHA1}}{rounds}$IlfapjA351LuDSwYC0IQ8Q$saHqQTuYnjJN/tmAndT.8mJt.6w")
    };
    assert!(LegacyHash::parse(&pbkdf2(MAX_PBKDF2_WORK)).is_ok());
    assert!(matches!(
        LegacyHash::parse(&pbkdf2(MAX_PBKDF2_WORK + 1)),
        Err(LegacyHashError::TooCostly {
            scheme: "{PBKDF2-SHA1}",
            ..
        })
    ));
    // A 64-byte key of PBKDF2-SHA1 takes four blocks: a quarter of the iterations.
    let long_key = format!(
        "{{PBKDF2-SHA1}}{}$IlfapjA351LuDSwYC0IQ8Q${}",
        MAX_PBKDF2_WORK / 4 + 1,
        "A".repeat(86)
    );
    assert!(matches!(
        LegacyHash::parse(&long_key),
        Err(LegacyHashError::TooCostly { .. })
    ));

    let sha_crypt = |rounds: u32| {
        format!("{{CRYPT}}$6$rounds={rounds}$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1")
    };
    assert!(LegacyHash::parse(&sha_crypt(MAX_SHA_CRYPT_ROUNDS)).is_ok());
    assert_eq!(
        LegacyHash::parse(&sha_crypt(MAX_SHA_CRYPT_ROUNDS + 1)),
        Err(LegacyHashError::TooCostly {
            scheme: "{CRYPT} $6$",
            asked: "1000001 rounds".into(),
            limit: "1000000 rounds".into(),
        })
    );

    let bcrypt = |cost: u32| {
        format!("{{CRYPT}}$2b${cost:02}$KMpNxYPjJgF.qSktyZeoPOScxSdsc/jUwAel9z3pSBkReQ65BjglW")
    };
    assert!(LegacyHash::parse(&bcrypt(MAX_BCRYPT_COST)).is_ok());
    assert!(matches!(
        LegacyHash::parse(&bcrypt(MAX_BCRYPT_COST + 1)),
        Err(LegacyHashError::TooCostly {
            scheme: "{CRYPT} $2b$",
            ..
        })
    ));

    let argon = |m: u32, t: u32| {
        format!("{{ARGON2}}$argon2id$v=19$m={m},t={t},p=1$IyTQMsvzB2JHDiWx8fq7Ew$VhYOA7AL0kbRXI5g2kOyyp8St1epkNj7WZyUY4pAIQQ")
    };
    assert!(LegacyHash::parse(&argon(MAX_ARGON2_MEMORY_KIB, 2)).is_ok());
    assert!(matches!(
        LegacyHash::parse(&argon(MAX_ARGON2_MEMORY_KIB + 1, 1)),
        Err(LegacyHashError::TooCostly {
            scheme: "{ARGON2}",
            ..
        })
    ));
    assert!(matches!(
        LegacyHash::parse(&argon(MAX_ARGON2_MEMORY_KIB, 3)),
        Err(LegacyHashError::TooCostly { .. })
    ));
}

#[test]
fn debug_output_carries_no_hash_material() {
    let hash = LegacyHash::parse("{SSHA}pKqkNr1tq3wtQqk+UcPyA3HnA2NsU5NJ").unwrap();
    let shown = format!("{hash:?}");
    assert_eq!(shown, "LegacyHash({SSHA}, …)");
}
