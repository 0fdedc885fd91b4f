use congvu::sieve::{Answers, Copy, Delivery, Filters, Outcome, RedirectPolicy};

use super::*;
use crate::server::{DOMAIN, HOSTNAME};
use crate::smtp::{payload, SENDER};

/// congvu's world as the benchmark's recipients see it: one served domain, no folders yet.
struct Province;

impl Answers for Province {
    fn is_served(&self, domain: &str) -> bool {
        domain == DOMAIN
    }

    fn folder_exists(&self, _name: &str) -> bool {
        false
    }
}

/// What the script decides for `message` sent by `sender` to an official of the province.
fn decide(sender: &str, message: &[u8]) -> Outcome {
    let filters = Filters::new(HOSTNAME, RedirectPolicy::default());
    let script = filters
        .compile(SCRIPT.as_bytes())
        .expect("the script compiles");
    let addresses = vec![format!("nguyenvana@{DOMAIN}")];
    let delivery = Delivery {
        message,
        sender,
        recipient: &addresses[0],
        addresses: &addresses,
        name: "Nguyễn Văn A",
    };
    filters.run(&script, &delivery, &Province)
}

fn bench_message() -> Vec<u8> {
    let mut message = head(&format!("nguyenvana@{DOMAIN}"), 7);
    message.extend_from_slice(&payload(4096));
    message
}

#[test]
fn the_script_has_twenty_rules() {
    let rules = SCRIPT.lines().filter(|l| l.starts_with("if ")).count();
    assert_eq!(rules, 20);
}

#[test]
fn the_benchmark_messages_are_filed_into_the_folder_and_nothing_else_happens() {
    let outcome = decide(SENDER, &bench_message());
    assert_eq!(
        outcome,
        Outcome {
            copies: vec![Copy {
                folder: Some(FOLDER.to_string()),
                flags: Vec::new(),
                create: true,
            }],
            ..Outcome::default()
        }
    );
}

#[test]
fn earlier_rules_take_the_mail_they_are_written_for() {
    let from = |sender: &str, subject: &str| {
        format!(
            "From: <{sender}>\r\nTo: <nguyenvana@{DOMAIN}>\r\nSubject: {subject}\r\n\r\nNội dung\r\n"
        )
        .into_bytes()
    };
    let office = decide(
        "vanphong@vinhphuc.gov.vn",
        &from("vanphong@vinhphuc.gov.vn", "Công văn số 12"),
    );
    assert_eq!(
        office.copies,
        vec![Copy {
            folder: Some("Công văn đến".into()),
            flags: vec!["$CongVan".into()],
            create: true,
        }]
    );
    let invitation = decide(SENDER, &from(SENDER, "Giấy mời họp giao ban"));
    assert_eq!(
        invitation.copies[0].folder.as_deref(),
        Some("Lịch họp"),
        "{invitation:?}"
    );
}

#[test]
fn the_header_carries_the_subject_before_the_blank_line() {
    let text = String::from_utf8(head("a@b", 1)).unwrap();
    assert!(text.starts_with("From: <sender@example.org>\r\nTo: <a@b>\r\n"));
    assert!(text.ends_with(&format!("\r\nSubject: {SUBJECT}\r\n\r\n")));
    assert_eq!(text.matches("\r\n\r\n").count(), 1);
}

#[test]
fn dovecot_keeps_the_folder_under_its_modified_utf7_name() {
    let home = tempfile::tempdir().unwrap();
    let new = home.path().join("Maildir/.Th&AbA- b&AOo-n ngo&AOA-i/new");
    std::fs::create_dir_all(&new).unwrap();
    std::fs::write(new.join("1.m"), "x").unwrap();
    std::fs::create_dir_all(home.path().join("Maildir/cur")).unwrap();
    assert_eq!(messages_in(home.path(), Some(FOLDER)), 1);
    assert_eq!(messages_in(home.path(), None), 0);
}
