//! The test kit's DNS server and DKIM signer, checked against real clients: hickory's
//! resolver (the one mail-auth and congvu resolve through), raw UDP and TCP exchanges for
//! truncation, and mail-auth's DKIM verifier for signatures made by dkimpy's `dkimsign`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use congvu_tests::dkim::{
    dkim_sign, Canonicalization, DkimKey, KeyType, SignOptions, SigningAlgorithm,
};
use congvu_tests::dns::DnsServer;
use hickory_proto::op::{Edns, Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use hickory_proto::{ProtoError, ProtoErrorKind};
use hickory_resolver::config::{NameServerConfigGroup, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::TokioResolver;
use mail_auth::{AuthenticatedMessage, DkimResult, MessageAuthenticator};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// How long the resolvers here wait for one answer.
const RESOLVER_TIMEOUT: Duration = Duration::from_secs(1);

/// A letter with an 8-bit body and dot lines, as the queue sends it.
const LETTER: &[u8] = include_bytes!("../fixtures/outbound.eml");

/// A resolver that asks only `dns`, over UDP then TCP, once, and remembers nothing.
fn resolver_config(dns: &DnsServer) -> (ResolverConfig, ResolverOpts) {
    let servers =
        NameServerConfigGroup::from_ips_clear(&[dns.addr().ip()], dns.addr().port(), true);
    let config = ResolverConfig::from_parts(None, vec![], servers);
    let mut options = ResolverOpts::default();
    options.timeout = RESOLVER_TIMEOUT;
    options.attempts = 1;
    options.cache_size = 0;
    options.use_hosts_file = ResolveHosts::Never;
    (config, options)
}

fn resolver(dns: &DnsServer) -> TokioResolver {
    let (config, options) = resolver_config(dns);
    TokioResolver::builder_with_config(config, TokioConnectionProvider::default())
        .with_options(options)
        .build()
}

/// The TXT records of `name`, each with its character-strings.
async fn txt(resolver: &TokioResolver, name: &str) -> Vec<Vec<String>> {
    let lookup = resolver.txt_lookup(name).await.unwrap();
    lookup
        .iter()
        .map(|record| {
            record
                .iter()
                .map(|s| String::from_utf8(s.to_vec()).unwrap())
                .collect()
        })
        .collect()
}

/// The response code of a lookup that found nothing.
fn response_code(error: &ProtoError) -> ResponseCode {
    match error.kind() {
        ProtoErrorKind::NoRecordsFound(no_records) => no_records.response_code,
        other => panic!("expected a DNS answer without records, got {other:?}"),
    }
}

#[tokio::test]
async fn short_and_long_txt_values_resolve() {
    let long = "p=".to_string() + &"A".repeat(598);
    let dns = DnsServer::builder()
        .txt("vinhphuc.gov.vn", "v=spf1 ip4:127.0.0.1 -all")
        .txt("vinhphuc.gov.vn", "google-site-verification=abc")
        .txt("sel._domainkey.hanoi.gov.vn", &long)
        .start()
        .await;
    let resolver = resolver(&dns);

    let mut spf = txt(&resolver, "vinhphuc.gov.vn").await;
    spf.sort();
    assert_eq!(
        spf,
        [
            vec!["google-site-verification=abc".to_string()],
            vec!["v=spf1 ip4:127.0.0.1 -all".to_string()],
        ]
    );

    // One record of three character-strings (255 + 255 + 90 bytes), which joined give the
    // value back.
    let key = txt(&resolver, "sel._domainkey.hanoi.gov.vn").await;
    assert_eq!(key.len(), 1);
    let lengths: Vec<usize> = key[0].iter().map(String::len).collect();
    assert_eq!(lengths, [255, 255, 90]);
    assert_eq!(key[0].concat(), long);
}

#[tokio::test]
async fn a_txt_set_too_large_for_udp_arrives_over_tcp() {
    let values: Vec<String> = (0..30)
        .map(|i| format!("{i:02}-{}", "x".repeat(197)))
        .collect();
    let builder = values
        .iter()
        .fold(DnsServer::builder(), |b, v| b.txt("big.hanoi.gov.vn", v));
    let dns = builder.start().await;

    let mut got: Vec<String> = txt(&resolver(&dns), "big.hanoi.gov.vn")
        .await
        .into_iter()
        .map(|strings| strings.concat())
        .collect();
    got.sort();
    assert_eq!(got, values);
    // Asked twice: over UDP (truncated answer), then over TCP.
    assert_eq!(
        dns.queries(),
        [
            ("big.hanoi.gov.vn".to_string(), "TXT".to_string()),
            ("big.hanoi.gov.vn".to_string(), "TXT".to_string()),
        ]
    );

    let over_udp = udp_exchange(&dns, "big.hanoi.gov.vn", None).await;
    assert!(over_udp.truncated());
    assert!(over_udp.answers().is_empty());
    let over_tcp = tcp_exchange(&dns, "big.hanoi.gov.vn").await;
    assert!(!over_tcp.truncated());
    assert_eq!(over_tcp.answers().len(), 30);
}

#[tokio::test]
async fn udp_answers_fit_the_payload_size_the_client_announces() {
    // 4 records of 200 bytes: about 900 bytes on the wire, over 512 and under 1232.
    let dns = (0..4)
        .fold(DnsServer::builder(), |b, i| {
            b.txt("mid.hanoi.gov.vn", &format!("{i}{}", "y".repeat(199)))
        })
        .start()
        .await;

    let classic = udp_exchange(&dns, "mid.hanoi.gov.vn", None).await;
    assert!(classic.truncated());
    assert!(classic.answers().is_empty());
    assert!(classic.extensions().is_none());

    let small_edns = udp_exchange(&dns, "mid.hanoi.gov.vn", Some(512)).await;
    assert!(small_edns.truncated());

    let edns = udp_exchange(&dns, "mid.hanoi.gov.vn", Some(1232)).await;
    assert!(!edns.truncated());
    assert_eq!(edns.answers().len(), 4);
    // RFC 6891 §7: a response to a query with OPT carries OPT.
    assert!(edns.extensions().is_some());
    assert!(edns.authoritative());
}

/// A query for the TXT records of `name` over UDP, with an OPT record announcing `payload`
/// if given.
async fn udp_exchange(dns: &DnsServer, name: &str, payload: Option<u16>) -> Message {
    let mut query = Message::query();
    query.add_query(Query::query(
        Name::from_ascii(name).unwrap(),
        RecordType::TXT,
    ));
    if let Some(payload) = payload {
        let mut edns = Edns::new();
        edns.set_max_payload(payload);
        query.set_edns(edns);
    }
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket
        .send_to(&query.to_vec().unwrap(), dns.addr())
        .await
        .unwrap();
    let mut buf = vec![0u8; 65535];
    let (len, _) = tokio::time::timeout(RESOLVER_TIMEOUT, socket.recv_from(&mut buf))
        .await
        .expect("an answer over UDP")
        .unwrap();
    // The client's limit is the server's to keep: nothing larger may arrive.
    assert!(
        len <= usize::from(payload.unwrap_or(512).max(512)),
        "{len} bytes"
    );
    let response = Message::from_vec(&buf[..len]).unwrap();
    assert_eq!(response.id(), query.id());
    response
}

/// A query for the TXT records of `name` over TCP (RFC 1035 §4.2.2 framing).
async fn tcp_exchange(dns: &DnsServer, name: &str) -> Message {
    let mut query = Message::query();
    query.add_query(Query::query(
        Name::from_ascii(name).unwrap(),
        RecordType::TXT,
    ));
    let bytes = query.to_vec().unwrap();
    let mut stream = TcpStream::connect(dns.addr()).await.unwrap();
    let mut framed = u16::try_from(bytes.len()).unwrap().to_be_bytes().to_vec();
    framed.extend_from_slice(&bytes);
    stream.write_all(&framed).await.unwrap();
    let mut prefix = [0u8; 2];
    stream.read_exact(&mut prefix).await.unwrap();
    let mut response = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
    stream.read_exact(&mut response).await.unwrap();
    Message::from_vec(&response).unwrap()
}

#[tokio::test]
async fn a_aaaa_mx_and_ptr_resolve() {
    // Documentation addresses (RFC 5737, RFC 3849): hickory answers loopback PTRs itself.
    let mail = Ipv4Addr::new(192, 0, 2, 25);
    let v6: Ipv6Addr = "2001:db8::25".parse().unwrap();
    let dns = DnsServer::builder()
        .a("mx.hanoi.gov.vn", Ipv4Addr::new(127, 0, 0, 25))
        .aaaa("mx.hanoi.gov.vn", v6)
        .mx("hanoi.gov.vn", 10, "mx.hanoi.gov.vn")
        .mx("hanoi.gov.vn", 20, "mx2.hanoi.gov.vn")
        .ptr(IpAddr::V4(mail), "mail.hanoi.gov.vn")
        .ptr(IpAddr::V6(v6), "mail6.hanoi.gov.vn")
        .start()
        .await;
    let resolver = resolver(&dns);

    let a: Vec<Ipv4Addr> = resolver
        .ipv4_lookup("mx.hanoi.gov.vn")
        .await
        .unwrap()
        .iter()
        .map(|a| a.0)
        .collect();
    assert_eq!(a, [Ipv4Addr::new(127, 0, 0, 25)]);
    let aaaa: Vec<Ipv6Addr> = resolver
        .ipv6_lookup("mx.hanoi.gov.vn")
        .await
        .unwrap()
        .iter()
        .map(|a| a.0)
        .collect();
    assert_eq!(aaaa, [v6]);

    let mut mx: Vec<(u16, String)> = resolver
        .mx_lookup("hanoi.gov.vn")
        .await
        .unwrap()
        .iter()
        .map(|mx| (mx.preference(), mx.exchange().to_ascii()))
        .collect();
    mx.sort();
    assert_eq!(
        mx,
        [
            (10, "mx.hanoi.gov.vn.".to_string()),
            (20, "mx2.hanoi.gov.vn.".to_string())
        ]
    );

    for (ip, host) in [
        (IpAddr::V4(mail), "mail.hanoi.gov.vn."),
        (IpAddr::V6(v6), "mail6.hanoi.gov.vn."),
    ] {
        let names: Vec<String> = resolver
            .reverse_lookup(ip)
            .await
            .unwrap()
            .iter()
            .map(|ptr| ptr.0.to_ascii())
            .collect();
        assert_eq!(names, [host]);
    }
    let asked: Vec<(String, String)> = [
        ("mx.hanoi.gov.vn", "A"),
        ("mx.hanoi.gov.vn", "AAAA"),
        ("hanoi.gov.vn", "MX"),
        ("25.2.0.192.in-addr.arpa", "PTR"),
        (
            "5.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
            "PTR",
        ),
    ]
    .iter()
    .map(|(name, rtype)| (name.to_string(), rtype.to_string()))
    .collect();
    assert_eq!(dns.queries(), asked);
}

#[tokio::test]
async fn unknown_names_are_nxdomain_and_other_types_are_nodata() {
    let dns = DnsServer::builder()
        .a("mx.hanoi.gov.vn", Ipv4Addr::LOCALHOST)
        .start()
        .await;
    let resolver = resolver(&dns);

    let nodata = resolver.txt_lookup("mx.hanoi.gov.vn").await.unwrap_err();
    assert_eq!(response_code(&nodata), ResponseCode::NoError);
    assert!(!nodata.is_nx_domain());

    let nxdomain = resolver
        .txt_lookup("nobody.hanoi.gov.vn")
        .await
        .unwrap_err();
    assert_eq!(response_code(&nxdomain), ResponseCode::NXDomain);
    assert!(nxdomain.is_nx_domain());

    // Names compare without regard to case (RFC 4343), and the question is logged lowercase.
    let a = resolver.ipv4_lookup("MX.Hanoi.GOV.vn.").await.unwrap();
    assert_eq!(
        a.iter().map(|a| a.0).collect::<Vec<_>>(),
        [Ipv4Addr::LOCALHOST]
    );
    assert_eq!(
        dns.queries().last().unwrap(),
        &("mx.hanoi.gov.vn".to_string(), "A".to_string())
    );
}

#[tokio::test]
async fn servfail_surfaces_as_an_error() {
    let dns = DnsServer::builder()
        .txt("broken.example", "v=spf1 -all")
        .servfail("broken.example")
        .start()
        .await;
    let resolver = resolver(&dns);
    for lookup in [
        resolver.txt_lookup("broken.example").await.map(|_| ()),
        resolver.mx_lookup("broken.example").await.map(|_| ()),
    ] {
        let error = lookup.unwrap_err();
        assert_eq!(response_code(&error), ResponseCode::ServFail);
    }
}

#[tokio::test]
async fn a_silent_name_times_out_within_the_resolver_timeout() {
    let dns = DnsServer::builder()
        .txt("slow.example", "v=spf1 -all")
        .silent("slow.example")
        .txt("fast.example", "v=spf1 -all")
        .start()
        .await;
    let resolver = resolver(&dns);

    let started = Instant::now();
    let error = resolver.txt_lookup("slow.example").await.unwrap_err();
    let waited = started.elapsed();
    assert!(matches!(error.kind(), ProtoErrorKind::Timeout), "{error:?}");
    assert!(
        waited >= RESOLVER_TIMEOUT && waited < RESOLVER_TIMEOUT * 3,
        "{waited:?}"
    );
    assert_eq!(
        dns.queries()[0],
        ("slow.example".to_string(), "TXT".to_string())
    );
    // Silence is for that name only.
    assert_eq!(txt(&resolver, "fast.example").await, [["v=spf1 -all"]]);
}

#[tokio::test]
async fn queries_are_recorded_in_order() {
    let dns = DnsServer::builder()
        .txt("_dmarc.hanoi.gov.vn", "v=DMARC1; p=reject")
        .a("mx.hanoi.gov.vn", Ipv4Addr::LOCALHOST)
        .start()
        .await;
    let resolver = resolver(&dns);
    assert!(dns.queries().is_empty());

    txt(&resolver, "_DMARC.hanoi.gov.vn").await;
    resolver.ipv4_lookup("mx.hanoi.gov.vn.").await.unwrap();
    resolver.mx_lookup("hanoi.gov.vn").await.unwrap_err();
    assert_eq!(
        dns.queries(),
        [
            ("_dmarc.hanoi.gov.vn".to_string(), "TXT".to_string()),
            ("mx.hanoi.gov.vn".to_string(), "A".to_string()),
            ("hanoi.gov.vn".to_string(), "MX".to_string()),
        ]
    );
}

#[tokio::test]
async fn records_change_while_the_server_runs() {
    let dns = DnsServer::builder()
        .txt("_dmarc.hanoi.gov.vn", "v=DMARC1; p=none")
        .a("_dmarc.hanoi.gov.vn", Ipv4Addr::LOCALHOST)
        .start()
        .await;
    let resolver = resolver(&dns);
    assert_eq!(
        txt(&resolver, "_dmarc.hanoi.gov.vn").await,
        [["v=DMARC1; p=none"]]
    );

    dns.set_txt(
        "_DMARC.hanoi.gov.vn.",
        &["v=DMARC1; p=reject", "v=DMARC1; p=quarantine"],
    );
    let mut now = txt(&resolver, "_dmarc.hanoi.gov.vn").await;
    now.sort();
    assert_eq!(now, [["v=DMARC1; p=quarantine"], ["v=DMARC1; p=reject"]]);
    // Only the TXT records were replaced.
    assert_eq!(
        resolver
            .ipv4_lookup("_dmarc.hanoi.gov.vn")
            .await
            .unwrap()
            .iter()
            .count(),
        1
    );

    dns.set_txt("_dmarc.hanoi.gov.vn", &[]);
    let nodata = resolver
        .txt_lookup("_dmarc.hanoi.gov.vn")
        .await
        .unwrap_err();
    assert_eq!(response_code(&nodata), ResponseCode::NoError);

    dns.remove("_dmarc.hanoi.gov.vn");
    let gone = resolver
        .ipv4_lookup("_dmarc.hanoi.gov.vn")
        .await
        .unwrap_err();
    assert_eq!(response_code(&gone), ResponseCode::NXDomain);
}

/// The value of tag `name` in the first `DKIM-Signature:` header of `message`.
fn signature_tag(message: &[u8], name: &str) -> String {
    let parsed = mail_parser::MessageParser::new().parse(message).unwrap();
    let header = parsed
        .header_raw("DKIM-Signature")
        .expect("a DKIM-Signature header");
    let unfolded: String = header.split_whitespace().collect();
    unfolded
        .split(';')
        .filter_map(|tag| tag.split_once('='))
        .find(|(tag, _)| *tag == name)
        .map(|(_, value)| value.to_string())
        .unwrap_or_else(|| panic!("no {name}= in {header}"))
}

/// What mail-auth's verifier, resolving through `dns`, says of each signature of `message`.
async fn verify(dns: &DnsServer, message: &[u8]) -> Vec<DkimResult> {
    let (config, options) = resolver_config(dns);
    let authenticator = MessageAuthenticator::new(config, options).unwrap();
    let parsed = AuthenticatedMessage::parse(message).unwrap();
    authenticator
        .verify_dkim(&parsed)
        .await
        .iter()
        .map(|output| output.result().clone())
        .collect()
}

/// `message` with the first `from` replaced by `to`.
fn replaced(message: &[u8], from: &str, to: &str) -> Vec<u8> {
    let at = message
        .windows(from.len())
        .position(|w| w == from.as_bytes())
        .unwrap_or_else(|| panic!("{from:?} is not in the message"));
    [&message[..at], to.as_bytes(), &message[at + from.len()..]].concat()
}

/// What mail-auth reports for a signature whose body no longer matches `bh=`.
fn body_changed() -> DkimResult {
    DkimResult::Neutral(mail_auth::Error::FailedBodyHashMatch)
}

#[tokio::test]
async fn a_dkimsign_signature_passes_and_changes_break_it() {
    let key = DkimKey::generate(2048);
    assert_eq!(key.key_type(), KeyType::Rsa);
    assert!(key.private_key().starts_with("-----BEGIN PRIVATE KEY-----"));
    assert!(key.txt_record().starts_with("v=DKIM1; k=rsa; p=MII"));
    // A 2048-bit key does not fit one character-string: the record is split.
    assert!(key.txt_record().len() > 255);
    let dns = DnsServer::builder()
        .txt("s2026._domainkey.vinhphuc.gov.vn", key.txt_record())
        .start()
        .await;

    let signed = dkim_sign(
        LETTER,
        "vinhphuc.gov.vn",
        "s2026",
        &key,
        &SignOptions::default(),
    );
    assert!(signed.ends_with(LETTER));
    let text = String::from_utf8_lossy(&signed);
    assert_eq!(text.matches("DKIM-Signature:").count(), 1);
    assert_eq!(signature_tag(&signed, "d"), "vinhphuc.gov.vn");
    assert_eq!(signature_tag(&signed, "s"), "s2026");
    assert_eq!(signature_tag(&signed, "a"), "rsa-sha256");
    assert_eq!(signature_tag(&signed, "c"), "relaxed/relaxed");

    assert_eq!(verify(&dns, &signed).await, [DkimResult::Pass]);
    assert_eq!(
        dns.queries(),
        [(
            "s2026._domainkey.vinhphuc.gov.vn".to_string(),
            "TXT".to_string()
        )]
    );
    // One body byte changed: the body hash no longer matches.
    let body = replaced(&signed, "Trân trọng.", "Trân trọng!");
    assert_eq!(verify(&dns, &body).await, [body_changed()]);
    // A signed header changed: the signature itself fails.
    let header = replaced(&signed, "To: vanphong@", "To: vanthu@");
    assert_eq!(
        verify(&dns, &header).await,
        [DkimResult::Fail(mail_auth::Error::FailedVerification)]
    );
}

#[tokio::test]
async fn ed25519_and_simple_canonicalization_signatures_pass() {
    let ed = DkimKey::generate_ed25519();
    assert_eq!(ed.key_type(), KeyType::Ed25519);
    assert!(ed.txt_record().starts_with("v=DKIM1; k=ed25519; p="));
    let rsa = DkimKey::generate(2048);
    let dns = DnsServer::builder()
        .txt("ed._domainkey.hanoi.gov.vn", ed.txt_record())
        .txt("rsa._domainkey.hanoi.gov.vn", rsa.txt_record())
        .start()
        .await;
    let simple = SignOptions {
        header: Canonicalization::Simple,
        body: Canonicalization::Simple,
        algorithm: Some(SigningAlgorithm::RsaSha256),
        identity: Some("vanphong@hanoi.gov.vn".into()),
    };

    let by_ed = dkim_sign(LETTER, "hanoi.gov.vn", "ed", &ed, &SignOptions::default());
    assert_eq!(signature_tag(&by_ed, "a"), "ed25519-sha256");
    assert_eq!(verify(&dns, &by_ed).await, [DkimResult::Pass]);
    let body = replaced(&by_ed, "Trân trọng.", "Trân trọng!");
    assert_eq!(verify(&dns, &body).await, [body_changed()]);

    let by_rsa = dkim_sign(LETTER, "hanoi.gov.vn", "rsa", &rsa, &simple);
    assert_eq!(signature_tag(&by_rsa, "c"), "simple/simple");
    assert_eq!(signature_tag(&by_rsa, "i"), "vanphong@hanoi.gov.vn");
    assert_eq!(verify(&dns, &by_rsa).await, [DkimResult::Pass]);
}
