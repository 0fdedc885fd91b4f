//! The RFC 2849 examples that apply to content records, slapcat's habits, and every fault
//! confined to its own entry.

use super::*;

fn entries(text: &str) -> Vec<Record> {
    records(text.as_bytes())
}

fn entry(record: &Record) -> &Entry {
    match record {
        Record::Entry(e) => e,
        Record::Broken { line, reason } => panic!("line {line}: {reason}"),
    }
}

fn text(e: &Entry, name: &str) -> Vec<String> {
    e.values(name)
        .map(|v| String::from_utf8(v.bytes.clone()).unwrap())
        .collect()
}

#[test]
fn rfc_2849_example_2_folded_values() {
    // RFC 2849 §"Example 2": a folded description, and a comment.
    let ldif = "version: 1\n\
dn:cn=Barbara Jensen, ou=Product Development, dc=airius, dc=com\n\
objectclass:top\n\
objectclass:person\n\
objectclass:organizationalPerson\n\
cn:Barbara Jensen\n\
cn:Barbara J Jensen\n\
cn:Babs Jensen\n\
sn:Jensen\n\
uid:bjensen\n\
telephonenumber:+1 408 555 1212\n\
description:Babs is a big sailing fan, and travels extensively in sea\n rch of perfect sailing conditions.\n\
title:Product Manager, Rod and Reel Division\n";
    let records = entries(ldif);
    assert_eq!(records.len(), 1);
    let e = entry(&records[0]);
    assert_eq!(e.line, 2);
    assert_eq!(
        e.dn,
        "cn=Barbara Jensen, ou=Product Development, dc=airius, dc=com"
    );
    assert_eq!(
        text(e, "description"),
        ["Babs is a big sailing fan, and travels extensively in search of perfect sailing conditions."]
    );
    assert_eq!(text(e, "cn").len(), 3);
    assert_eq!(e.values("uid").next().unwrap().line, 10);
}

#[test]
fn rfc_2849_example_3_base64_values() {
    // RFC 2849 §"Example 3": a base64 value holding a CR LF.
    let ldif = "version: 1\n\
dn: cn=Gern Jensen, ou=Product Testing, dc=airius, dc=com\n\
objectclass: top\n\
cn: Gern Jensen\n\
description:: V2hhdCBhIGNhcmVmdWwgcmVhZGVyIHlvdSBhcmUhICBUaGlzIHZhbHVl\n IGlzIGJhc2UtNjQtZW5jb2RlZCBiZWNhdXNlIGl0IGhhcyBhIGNvbnRyb2wgY2hhcmFjdG\n VyIGluIGl0IChhIENSKS4NICBCeSB0aGUgd2F5LCB5b3Ugc2hvdWxkIHJlYWxseSBnZXQg\n b3V0IG1vcmUu\n";
    let e = entry(&entries(ldif)[0]).clone();
    assert_eq!(
        text(&e, "description"),
        ["What a careful reader you are!  This value is base-64-encoded because it has a control character in it (a CR).\r  By the way, you should really get out more."]
    );
}

#[test]
fn slapcat_output_with_vietnamese_values_and_crlf() {
    let ldif = "dn: dc=vinhphuc,dc=gov,dc=vn\r\n\
objectClass: dcObject\r\n\
\r\n\
# Nguyễn Văn An, Sở Tài chính\r\n\
dn:: dWlkPWFubnYsb3U9U+G7nyBUw6BpIGNow61uaCxkYz12aW5ocGh1YyxkYz1nb3YsZGM9dm4=\r\n\
cn:: Tmd1eeG7hW4gVsSDbiBBbg==\r\n\
cn;lang-en: An Nguyen\r\n\
entryCSN: 20260101000000.000000Z#000000#000#000000\r\n";
    let records = entries(ldif);
    assert_eq!(records.len(), 2);
    let e = entry(&records[1]);
    assert_eq!(e.line, 5);
    assert_eq!(e.dn, "uid=annv,ou=Sở Tài chính,dc=vinhphuc,dc=gov,dc=vn");
    assert_eq!(text(e, "cn"), ["Nguyễn Văn An", "An Nguyen"]);
    assert_eq!(text(e, "entrycsn").len(), 1);
}

#[test]
fn a_fault_spoils_only_its_own_entry() {
    let ldif = "dn: uid=a,dc=x\n\
uid: a\n\
\n\
dn: uid=b,dc=x\n\
cn:: bm90IGJhc2U2NCE*\n\
\n\
dn: uid=c,dc=x\n\
jpegPhoto:< file:///etc/passwd\n\
\n\
dn: uid=d,dc=x\n\
no colon here\n\
\n\
dn: uid=e,dc=x\n\
changetype: delete\n\
\n\
dn: uid=f,dc=x\n\
uid: f\n";
    let records = entries(ldif);
    assert_eq!(records.len(), 6);
    assert_eq!(entry(&records[0]).dn, "uid=a,dc=x");
    let broken: Vec<(u64, String)> = records[1..5]
        .iter()
        .map(|r| match r {
            Record::Broken { line, reason } => (*line, reason.clone()),
            Record::Entry(e) => panic!("{} read", e.dn),
        })
        .collect();
    assert_eq!(broken[0].0, 5);
    assert!(
        broken[0].1.starts_with("the base64 value of cn is broken"),
        "{}",
        broken[0].1
    );
    assert_eq!(broken[1].0, 8);
    assert!(
        broken[1].1.contains("reference to a file"),
        "{}",
        broken[1].1
    );
    assert_eq!(broken[2].0, 11);
    assert_eq!(broken[3].0, 14);
    assert!(broken[3].1.contains("change record"), "{}", broken[3].1);
    assert_eq!(entry(&records[5]).dn, "uid=f,dc=x");
}

#[test]
fn folded_comments_and_several_blank_lines_are_skipped() {
    let ldif = "\n\n# a comment\n  that is folded\ndn: uid=a,dc=x\n# inside\nuid: a\n\n\n\ndn: uid=b,\n dc=x\nuid: b";
    let records = entries(ldif);
    assert_eq!(records.len(), 2);
    assert_eq!(entry(&records[0]).line, 5);
    assert_eq!(entry(&records[1]).dn, "uid=b,dc=x");
    assert_eq!(text(entry(&records[1]), "uid"), ["b"]);
}

#[test]
fn an_entry_not_starting_with_dn_is_broken() {
    let records = entries("uid: a\ncn: A\n");
    assert_eq!(
        records,
        [Record::Broken {
            line: 1,
            reason: "an entry must start with dn:, not uid:".into()
        }]
    );
}

#[test]
fn passwords_are_left_out_of_debug_output() {
    let records =
        entries("dn: uid=a,dc=x\nuserPassword: {SSHA}pKqkNr1tq3wtQqk+UcPyA3HnA2NsU5NJ\ncn: A\n");
    let shown = format!("{:?}", records[0]);
    assert!(!shown.contains("pKqkNr1"), "{shown}");
    assert!(shown.contains("userpassword"), "{shown}");
}
