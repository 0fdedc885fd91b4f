//! A real mail client against the server: `mbsync` (Debian package isync) syncs An's
//! mailbox, Vietnamese folder names included, with a local Maildir both ways. What the
//! server holds (delivered over SMTP, appended over IMAP) arrives in the Maildir byte for
//! byte; a message put in the Maildir, and a new local folder, arrive on the server at the
//! next sync.
//!
//! Never skipped: where mbsync is missing the test fails and says how to install it, as
//! `.ci/run` does.

use std::path::Path;

use congvu::net::ListenerKind;
use congvu_tests::mbsync::{self, with_lf, without_tuid, Account, Direction, Mbsync, MessageFile};
use congvu_tests::Backend;

use super::fixture::{self, Province, ANNV};
use super::{append, deliver, imap_tests, logged_in, stored};

imap_tests!(mbsync_syncs_vietnamese_folders_both_ways);

/// `Công văn đến` in modified UTF-7.
const CONG_VAN_DEN: &str = "C&APQ-ng v&AQM-n &AREevw-n";
/// `Hồ sơ`.
const HO_SO: &str = "H&HtM- s&AaE-";
/// `Hồ sơ/2024`.
const HO_SO_2024: &str = "H&HtM- s&AaE-/2024";
/// `Lưu trữ`.
const LUU_TRU: &str = "L&AbA-u tr&Hu8-";

/// Puts `message` into the Maildir folder at `dir` as a new, unsynced message.
fn drop_into(dir: &Path, name: &str, message: &[u8]) {
    for part in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(dir.join(part)).unwrap();
    }
    std::fs::write(dir.join("new").join(name), message).unwrap();
}

/// A folder's messages as mbsync keeps them, comparable with [`server_side`].
fn local_side(messages: &[MessageFile]) -> Vec<Vec<u8>> {
    let mut messages: Vec<Vec<u8>> = messages.iter().map(|m| without_tuid(&m.bytes)).collect();
    messages.sort();
    messages
}

/// A folder's messages as the server stores them, comparable with [`local_side`].
fn server_side(messages: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut messages: Vec<Vec<u8>> = messages.iter().map(|m| with_lf(m)).collect();
    messages.sort();
    messages
}

async fn mbsync_syncs_vietnamese_folders_both_ways(backend: Backend) {
    mbsync::require();
    let Some(p) = Province::start(backend).await else {
        return;
    };
    // On the server: a delivered message in INBOX, two filed into a Vietnamese folder and
    // one in a Vietnamese folder's subfolder.
    let delivered = fixture::message("vp@example.org", "annv@vinhphuc.gov.vn", "Giay moi hop");
    deliver(&p, &[ANNV.0], &delivered).await;
    let mut imap = logged_in(&p, ANNV).await;
    imap.command("a", &format!("CREATE \"{CONG_VAN_DEN}\""))
        .await;
    imap.command("b", &format!("CREATE \"{HO_SO_2024}\"")).await;
    for (n, folder) in [(1, CONG_VAN_DEN), (2, CONG_VAN_DEN), (3, HO_SO_2024)] {
        let message = format!(
            "From: <vanthu.snv@vinhphuc.gov.vn>\r\nSubject: =?UTF-8?B?Q8O0bmcgdsSDbiBz4buRIDE=?= {n}\r\nMessage-ID: <cv-{n}@vinhphuc.gov.vn>\r\n\r\nCông văn số {n}.\r\n"
        );
        let lines = append(
            &mut imap,
            "c",
            &format!("\"{folder}\""),
            "",
            message.as_bytes(),
        )
        .await;
        assert!(lines[0].starts_with("c OK "), "{lines:?}");
    }

    let certificate = p.db.dir.path().join("data/tls/self-signed-cert.pem");
    let account = Account {
        user: ANNV.0,
        password: ANNV.1,
        port: p.addr(ListenerKind::Imaps).port(),
        certificate: &certificate,
    };
    let client = Mbsync::new(&p.db.dir.path().join("mbsync"), account, Direction::Both);
    let mail = client.maildir();

    client.sync().await;
    let local = client.folders();
    // mbsync 1.4 keeps IMAP's modified UTF-7 names as they are.
    let folders: Vec<&str> = local.keys().map(String::as_str).collect();
    assert_eq!(
        folders,
        [
            CONG_VAN_DEN,
            "Drafts",
            HO_SO,
            HO_SO_2024,
            "INBOX",
            "Junk",
            "Sent",
            "Trash"
        ]
    );
    for (folder, name) in [
        ("INBOX", "INBOX"),
        (CONG_VAN_DEN, "Công văn đến"),
        (HO_SO_2024, "Hồ sơ/2024"),
        ("Sent", "Sent"),
    ] {
        let on_server = stored(&p, ANNV.0, name).await;
        assert_eq!(
            local_side(&local[folder]),
            server_side(&on_server),
            "{name}"
        );
    }
    assert_eq!(local[CONG_VAN_DEN].len(), 2);
    assert_eq!(local["INBOX"].len(), 1);

    // In the Maildir: a new message in the Vietnamese folder and a new folder.
    let reply = b"From: <annv@vinhphuc.gov.vn>\nSubject: Tra loi cong van 1\nMessage-ID: <tl-1@vinhphuc.gov.vn>\n\nDa nhan.\n";
    drop_into(&mail.join(CONG_VAN_DEN), "1795741300.tl1.laptop", reply);
    let archived = "From: <annv@vinhphuc.gov.vn>\nSubject: Lưu trữ\nMessage-ID: <lt-1@vinhphuc.gov.vn>\n\nHồ sơ đã xử lý.\n";
    drop_into(
        &mail.join(LUU_TRU),
        "1795741301.lt1.laptop",
        archived.as_bytes(),
    );
    client.sync().await;

    let cong_van = stored(&p, ANNV.0, "Công văn đến").await;
    assert_eq!(cong_van.len(), 3);
    assert_eq!(without_tuid(&with_lf(&cong_van[2])), reply);
    let luu_tru = stored(&p, ANNV.0, "Lưu trữ").await;
    assert_eq!(luu_tru.len(), 1);
    assert_eq!(without_tuid(&with_lf(&luu_tru[0])), archived.as_bytes());
    // Both copies came back with CRLF line ends, as IMAP has them.
    assert!(!String::from_utf8_lossy(&luu_tru[0])
        .replace("\r\n", "")
        .contains('\n'));
    // The next sync finds nothing new either way.
    client.sync().await;
    assert_eq!(stored(&p, ANNV.0, "Công văn đến").await.len(), 3);
    assert_eq!(client.folders()[CONG_VAN_DEN].len(), 3);
}
