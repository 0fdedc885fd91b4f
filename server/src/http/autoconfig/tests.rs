//! XML written and read by autoconfiguration, byte for byte.

#![allow(clippy::unwrap_used)]

use super::*;

fn settings() -> AutoconfigSettings {
    AutoconfigSettings {
        mail_hostname: "mail.vinhphuc.gov.vn".into(),
        imaps_port: 993,
        imap_port: 143,
        submissions_port: 465,
        submission_port: 587,
        display_name: "Thư công vụ tỉnh Vĩnh Phúc".into(),
        primary_domain: "vinhphuc.gov.vn".into(),
    }
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap()
}

/// The text of every `<name>` element, unescaped by a real parser.
fn element_texts(document: &str, name: &str) -> Vec<String> {
    let mut reader = Reader::from_str(document);
    let (mut inside, mut found) = (false, Vec::new());
    loop {
        match reader.read_event().unwrap() {
            Event::Start(e) if e.local_name().as_ref() == name => {
                inside = true;
                found.push(String::new());
            }
            Event::End(_) => inside = false,
            Event::Text(t) if inside => found.last_mut().unwrap().push_str(&t.xml10_content()),
            Event::GeneralRef(r) if inside => {
                let resolved = resolve_predefined_entity(&r).unwrap();
                found.last_mut().unwrap().push_str(resolved);
            }
            Event::Eof => return found,
            _ => {}
        }
    }
}

#[test]
fn client_config_is_mozillas_format_with_tls_first() {
    assert_eq!(
        text(client_config(&settings(), "vinhphuc.gov.vn")),
        r#"<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1">
  <emailProvider id="vinhphuc.gov.vn">
    <domain>vinhphuc.gov.vn</domain>
    <displayName>Thư công vụ tỉnh Vĩnh Phúc</displayName>
    <displayShortName>vinhphuc</displayShortName>
    <incomingServer type="imap">
      <hostname>mail.vinhphuc.gov.vn</hostname>
      <port>993</port>
      <socketType>SSL</socketType>
      <username>%EMAILADDRESS%</username>
      <authentication>password-cleartext</authentication>
    </incomingServer>
    <incomingServer type="imap">
      <hostname>mail.vinhphuc.gov.vn</hostname>
      <port>143</port>
      <socketType>STARTTLS</socketType>
      <username>%EMAILADDRESS%</username>
      <authentication>password-cleartext</authentication>
    </incomingServer>
    <outgoingServer type="smtp">
      <hostname>mail.vinhphuc.gov.vn</hostname>
      <port>465</port>
      <socketType>SSL</socketType>
      <username>%EMAILADDRESS%</username>
      <authentication>password-cleartext</authentication>
    </outgoingServer>
    <outgoingServer type="smtp">
      <hostname>mail.vinhphuc.gov.vn</hostname>
      <port>587</port>
      <socketType>STARTTLS</socketType>
      <username>%EMAILADDRESS%</username>
      <authentication>password-cleartext</authentication>
    </outgoingServer>
  </emailProvider>
</clientConfig>
"#
    );
}

#[test]
fn display_name_is_escaped_and_keeps_vietnamese_letters() {
    let name = r#"Sở Nội vụ & "Văn thư" <tỉnh Vĩnh Phúc>"#;
    let settings = AutoconfigSettings {
        display_name: name.into(),
        ..settings()
    };
    let document = text(client_config(&settings, "vinhphuc.gov.vn"));
    assert!(
        document.contains(
            "<displayName>Sở Nội vụ &amp; &quot;Văn thư&quot; &lt;tỉnh Vĩnh Phúc&gt;</displayName>"
        ),
        "{document}"
    );
    assert_eq!(element_texts(&document, "displayName"), [name]);
}

#[test]
fn autodiscover_login_name_is_escaped() {
    let address = "an&<\"b@vinhphuc.gov.vn";
    let document = text(autodiscover_settings(&settings(), address));
    assert!(
        document.contains("<LoginName>an&amp;&lt;&quot;b@vinhphuc.gov.vn</LoginName>"),
        "{document}"
    );
    assert_eq!(element_texts(&document, "LoginName"), [address; 4]);
    assert_eq!(element_texts(&document, "DisplayName"), [address]);
}

#[test]
fn autodiscover_settings_list_each_protocol_in_order() {
    let document = text(autodiscover_settings(&settings(), "annv@vinhphuc.gov.vn"));
    assert_eq!(
        element_texts(&document, "Type"),
        ["IMAP", "IMAP", "SMTP", "SMTP"]
    );
    assert_eq!(
        element_texts(&document, "Port"),
        ["993", "143", "465", "587"]
    );
    assert_eq!(element_texts(&document, "SSL"), ["on", "off", "on", "off"]);
    assert_eq!(
        element_texts(&document, "Encryption"),
        ["SSL", "TLS", "SSL", "TLS"]
    );
}

#[test]
fn a_port_of_zero_is_not_offered() {
    let settings = AutoconfigSettings {
        imap_port: 0,
        submissions_port: 0,
        ..settings()
    };
    let document = text(client_config(&settings, "vinhphuc.gov.vn"));
    assert_eq!(element_texts(&document, "port"), ["993", "587"]);
    assert_eq!(element_texts(&document, "socketType"), ["SSL", "STARTTLS"]);
}

#[test]
fn autodiscover_error_is_exchanges() {
    assert_eq!(
        text(autodiscover_error(PoxError::InvalidRequest)),
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">
  <Response>
    <Error>
      <ErrorCode>600</ErrorCode>
      <Message>Invalid Request</Message>
      <DebugData/>
    </Error>
  </Response>
</Autodiscover>
"#
    );
}

const OUTLOOK_REQUEST: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>annv@vinhphuc.gov.vn</EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>"#;

#[test]
fn outlooks_request_is_read() {
    let request = AutodiscoverRequest::parse(OUTLOOK_REQUEST.as_bytes()).unwrap();
    assert_eq!(request.email.as_deref(), Some("annv@vinhphuc.gov.vn"));
    assert!(request.accepts_outlook_schema());
}

#[test]
fn prefixes_entities_and_cdata_are_read_as_xml_means_them() {
    let body = r#"<a:Autodiscover xmlns:a="urn:x"><a:Request><!-- c --><a:EMailAddress>an&#x6E;v<![CDATA[@vinhphuc]]>&#46;gov.vn</a:EMailAddress><Other>x@y.vn</Other></a:Request></a:Autodiscover>"#;
    let request = AutodiscoverRequest::parse(body.as_bytes()).unwrap();
    assert_eq!(request.email.as_deref(), Some("annv@vinhphuc.gov.vn"));
    assert_eq!(request.response_schema, None);
    assert!(request.accepts_outlook_schema());
}

#[test]
fn well_formed_documents_of_another_shape_have_no_address() {
    for body in [
        "<Request><EMailAddress>annv@vinhphuc.gov.vn</EMailAddress></Request>",
        "<Autodiscover><EMailAddress>annv@vinhphuc.gov.vn</EMailAddress></Autodiscover>",
        "<Autodiscover><Request><X><EMailAddress>a@b.vn</EMailAddress></X></Request></Autodiscover>",
        "<Autodiscover/>",
    ] {
        let request = AutodiscoverRequest::parse(body.as_bytes()).unwrap();
        assert_eq!(request.email, None, "{body}");
    }
    let empty = AutodiscoverRequest::parse(
        b"<Autodiscover><Request><EMailAddress/></Request></Autodiscover>",
    )
    .unwrap();
    assert_eq!(empty.email.as_deref(), Some(""));
}

#[test]
fn another_response_schema_is_not_outlooks() {
    let body = OUTLOOK_REQUEST.replace(
        "outlook/responseschema/2006a",
        "mobilesync/responseschema/2006",
    );
    let request = AutodiscoverRequest::parse(body.as_bytes()).unwrap();
    assert!(!request.accepts_outlook_schema());
}

#[test]
fn malformed_bodies_are_refused_with_the_reason() {
    for (body, reason) in [
        (&b""[..], "the body has no root element"),
        (b"   \n", "the body has no root element"),
        (b"annv@vinhphuc.gov.vn", "the body has no root element"),
        (
            b"<Autodiscover><Request>",
            "the body ends inside an element",
        ),
        (
            b"<Autodiscover></Autodiscover><Autodiscover/>",
            "the body has content after its root element",
        ),
        (
            b"<Autodiscover/>trailing",
            "the body has content after its root element",
        ),
        (
            b"<Autodiscover>&nbsp;</Autodiscover>",
            "the entity &nbsp; is not defined",
        ),
        (
            b"<Autodiscover>\xff</Autodiscover>",
            "the body is not UTF-8",
        ),
    ] {
        let err = AutodiscoverRequest::parse(body).unwrap_err();
        assert_eq!(err.to_string(), reason, "{}", String::from_utf8_lossy(body));
    }
    for body in [
        "<Autodiscover><Request></Autodiscover>",
        "<Autodiscover></Request>",
        "<Autodiscover",
        "<Autodiscover a=></Autodiscover>",
        r#"<Autodiscover a="1" a="2"></Autodiscover>"#,
    ] {
        assert!(
            matches!(
                AutodiscoverRequest::parse(body.as_bytes()),
                Err(MalformedXml::Syntax(_))
            ),
            "{body}"
        );
    }
}

#[test]
fn requested_addresses_are_checked_and_their_domain_normalized() {
    assert_eq!(
        RequestedAddress::parse(" AnNV@VinhPhuc.Gov.VN. "),
        Some(RequestedAddress {
            address: "AnNV@vinhphuc.gov.vn".into(),
            domain: "vinhphuc.gov.vn".into(),
        })
    );
    assert_eq!(
        RequestedAddress::parse("a@b@vinhphuc.gov.vn").map(|a| a.domain),
        Some("vinhphuc.gov.vn".into())
    );
    let long_local = format!("{}@vinhphuc.gov.vn", "a".repeat(238));
    assert_eq!(long_local.len(), 254);
    assert!(RequestedAddress::parse(&long_local).is_some());
    let too_long = format!("{}@vinhphuc.gov.vn", "a".repeat(239));
    for bad in [
        "",
        "annv",
        "@vinhphuc.gov.vn",
        "annv@",
        "annv@localhost",
        "an nv@vinhphuc.gov.vn",
        "an\u{1}nv@vinhphuc.gov.vn",
        "annv@vinh phuc.gov.vn",
        too_long.as_str(),
    ] {
        assert_eq!(RequestedAddress::parse(bad), None, "{bad:?}");
    }
}

#[test]
fn unset_names_come_from_the_server_section() {
    let mut config = Config::default();
    config.server.hostname = "mx1.vinhphuc.gov.vn".into();
    config.server.primary_domain = "vinhphuc.gov.vn".into();
    config.http.imap_port = 0;
    assert_eq!(
        AutoconfigSettings::from_config(&config),
        AutoconfigSettings {
            mail_hostname: "mx1.vinhphuc.gov.vn".into(),
            imaps_port: 993,
            imap_port: 0,
            submissions_port: 465,
            submission_port: 587,
            display_name: "vinhphuc.gov.vn".into(),
            primary_domain: "vinhphuc.gov.vn".into(),
        }
    );
    config.http.mail_hostname = Some("mail.vinhphuc.gov.vn".into());
    config.http.display_name = Some("Thư công vụ tỉnh Vĩnh Phúc".into());
    let settings = AutoconfigSettings::from_config(&config);
    assert_eq!(settings.mail_hostname, "mail.vinhphuc.gov.vn");
    assert_eq!(settings.display_name, "Thư công vụ tỉnh Vĩnh Phúc");
}
