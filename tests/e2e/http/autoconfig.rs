//! Mail client autoconfiguration as Thunderbird and Outlook fetch it: every field each
//! client reads, for served and unserved domains, with configured public ports and host
//! name, malformed and oversize requests.

use congvu::config::Config;
use congvu::directory::{Actor, NewDomain};
use congvu::http::MAX_AUTODISCOVER_REQUEST_BYTES;
use congvu::net::ListenerKind;
use congvu::server::RunningServer;
use congvu_tests::{server, Backend, TestDb};

use super::Element;
use crate::backend_tests;

backend_tests!(
    thunderbird_gets_the_settings_of_the_addresss_domain,
    thunderbird_without_an_address_gets_the_primary_domain,
    thunderbird_is_told_404_for_a_domain_congvu_does_not_serve,
    outlook_gets_each_protocol_for_a_served_address,
    outlook_is_told_invalid_request_for_an_unserved_address_or_a_probe,
    malformed_autodiscover_xml_is_400,
    autodiscover_body_is_bounded_at_16_kib,
    a_port_of_zero_is_not_offered_and_unset_names_default,
);

const PRIMARY: &str = "vinhphuc.gov.vn";
const DEPARTMENT: &str = "snv.vinhphuc.gov.vn";
const MAIL_HOST: &str = "imap.vinhphuc.gov.vn";
const DISPLAY_NAME: &str = "Thư công vụ tỉnh Vĩnh Phúc";
const XML_TYPE: &str = "application/xml; charset=utf-8";

/// Outlook's POX request for `address`.
fn outlook_request(address: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n\
         <Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006\">\
         <Request><EMailAddress>{address}</EMailAddress>\
         <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>\
         </Request></Autodiscover>"
    )
}

/// A server whose autoconfiguration names non-default ports and host.
struct Site {
    server: RunningServer,
    base: String,
    client: reqwest::Client,
    _db: TestDb,
}

impl Site {
    /// Public ports 10993/10143/10465/10587 on imap.vinhphuc.gov.vn; `adjust` changes more.
    async fn start(backend: Backend, adjust: impl FnOnce(&mut Config)) -> Option<Site> {
        let db = TestDb::new(backend).await?;
        let mut config = server::test_config(&db);
        config.http.mail_hostname = Some(MAIL_HOST.into());
        config.http.imaps_port = 10993;
        config.http.imap_port = 10143;
        config.http.submissions_port = 10465;
        config.http.submission_port = 10587;
        config.http.display_name = Some(DISPLAY_NAME.into());
        adjust(&mut config);
        let server = RunningServer::start(&config).await.unwrap();
        let http = server.local_addr(ListenerKind::Http).unwrap();
        Some(Site {
            server,
            base: format!("http://{http}"),
            client: reqwest::Client::new(),
            _db: db,
        })
    }

    /// Adds the province's primary domain and the Sở Nội vụ's domain.
    async fn with_domains(self) -> Site {
        let directory = &self.server.services().directory;
        let admin = Actor::admin("it-snv");
        let mut primary = NewDomain::new(PRIMARY);
        primary.is_primary = true;
        directory.add_domain(&admin, primary).await.unwrap();
        directory
            .add_domain(&admin, NewDomain::new(DEPARTMENT))
            .await
            .unwrap();
        self
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    async fn post(&self, path: &str, body: String) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base))
            .header("content-type", "text/xml")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    async fn stop(self) {
        assert!(self.server.stop().await, "sessions drained");
    }
}

fn header<'r>(response: &'r reqwest::Response, name: &str) -> Option<&'r str> {
    response
        .headers()
        .get(name)
        .map(|value| value.to_str().unwrap())
}

/// Status 200 with the XML content type and the hour of caching; the parsed body.
async fn cached_xml(response: reqwest::Response) -> Element {
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), Some(XML_TYPE));
    assert_eq!(header(&response, "cache-control"), Some("max-age=3600"));
    Element::parse(&response.text().await.unwrap())
}

/// One `<incomingServer>`/`<outgoingServer>` as Thunderbird reads it: type, hostname, port,
/// socketType, authentication, username.
fn tb_server(server: &Element) -> [String; 6] {
    [
        server.attribute("type").unwrap().to_owned(),
        server.text_of("hostname").to_owned(),
        server.text_of("port").to_owned(),
        server.text_of("socketType").to_owned(),
        server.text_of("authentication").to_owned(),
        server.text_of("username").to_owned(),
    ]
}

fn tb(kind: &str, host: &str, port: &str, socket: &str) -> [String; 6] {
    [
        kind,
        host,
        port,
        socket,
        "password-cleartext",
        "%EMAILADDRESS%",
    ]
    .map(str::to_owned)
}

/// Asserts a clientConfig 1.1 document describes `domain` with the site's settings.
fn assert_client_config(config: &Element, domain: &str, short_name: &str) {
    assert_eq!(config.name, "clientConfig");
    assert_eq!(config.attribute("version"), Some("1.1"));
    let provider = config.one("emailProvider");
    assert_eq!(provider.attribute("id"), Some(domain));
    assert_eq!(provider.text_of("domain"), domain);
    assert_eq!(provider.text_of("displayName"), DISPLAY_NAME);
    assert_eq!(provider.text_of("displayShortName"), short_name);
    let incoming: Vec<_> = provider
        .all("incomingServer")
        .into_iter()
        .map(tb_server)
        .collect();
    assert_eq!(
        incoming,
        [
            tb("imap", MAIL_HOST, "10993", "SSL"),
            tb("imap", MAIL_HOST, "10143", "STARTTLS"),
        ]
    );
    let outgoing: Vec<_> = provider
        .all("outgoingServer")
        .into_iter()
        .map(tb_server)
        .collect();
    assert_eq!(
        outgoing,
        [
            tb("smtp", MAIL_HOST, "10465", "SSL"),
            tb("smtp", MAIL_HOST, "10587", "STARTTLS"),
        ]
    );
}

async fn thunderbird_gets_the_settings_of_the_addresss_domain(backend: Backend) {
    let Some(site) = Site::start(backend, |_| {}).await else {
        return;
    };
    let site = site.with_domains().await;
    let mut bodies = Vec::new();
    for path in [
        "/mail/config-v1.1.xml?emailaddress=annv@snv.vinhphuc.gov.vn",
        "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=annv%40snv.vinhphuc.gov.vn",
        // Case and a trailing dot in the domain are what the address means all the same.
        "/mail/config-v1.1.xml?emailaddress=AnNV%40SNV.VinhPhuc.gov.vn.",
    ] {
        let response = site.get(path).await;
        let body = {
            assert_eq!(response.status(), 200, "{path}");
            assert_eq!(header(&response, "content-type"), Some(XML_TYPE));
            assert_eq!(header(&response, "cache-control"), Some("max-age=3600"));
            response.text().await.unwrap()
        };
        assert_client_config(&Element::parse(&body), DEPARTMENT, "snv");
        bodies.push(body);
    }
    assert!(bodies.iter().all(|b| *b == bodies[0]), "{bodies:?}");

    let primary = site
        .get("/mail/config-v1.1.xml?emailaddress=nhunglth%40vinhphuc.gov.vn")
        .await;
    assert_client_config(&cached_xml(primary).await, PRIMARY, "vinhphuc");
    site.stop().await;
}

async fn thunderbird_without_an_address_gets_the_primary_domain(backend: Backend) {
    let Some(site) = Site::start(backend, |_| {}).await else {
        return;
    };
    // No domain yet: there is nothing to describe.
    let before = site.get("/mail/config-v1.1.xml").await;
    assert_eq!(before.status(), 404);

    let site = site.with_domains().await;
    for path in [
        "/mail/config-v1.1.xml",
        "/.well-known/autoconfig/mail/config-v1.1.xml",
        "/mail/config-v1.1.xml?lang=vi",
    ] {
        let config = cached_xml(site.get(path).await).await;
        assert_client_config(&config, PRIMARY, "vinhphuc");
    }
    site.stop().await;
}

async fn thunderbird_is_told_404_for_a_domain_congvu_does_not_serve(backend: Backend) {
    let Some(site) = Site::start(backend, |_| {}).await else {
        return;
    };
    let site = site.with_domains().await;
    for path in [
        "/mail/config-v1.1.xml?emailaddress=someone%40gmail.com",
        "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=annv@sotc.vinhphuc.gov.vn",
        // A parent of a served domain is not served.
        "/mail/config-v1.1.xml?emailaddress=annv@gov.vn",
    ] {
        let response = site.get(path).await;
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(header(&response, "cache-control"), None);
        assert_eq!(
            response.text().await.unwrap(),
            "no mail domain here by that name\n"
        );
    }
    for address in [
        "annv",
        "annv%40",
        "%40vinhphuc.gov.vn",
        "an%20nv%40vinhphuc.gov.vn",
    ] {
        let response = site
            .get(&format!("/mail/config-v1.1.xml?emailaddress={address}"))
            .await;
        assert_eq!(response.status(), 400, "{address}");
        assert_eq!(
            response.text().await.unwrap(),
            "emailaddress must be a mail address such as annv@vinhphuc.gov.vn\n"
        );
    }
    site.stop().await;
}

/// One `<Protocol>` as Outlook reads it: Type, Server, Port, SSL, Encryption, LoginName,
/// SPA, AuthRequired.
fn pox_protocol(protocol: &Element) -> [&str; 8] {
    [
        "Type",
        "Server",
        "Port",
        "SSL",
        "Encryption",
        "LoginName",
        "SPA",
        "AuthRequired",
    ]
    .map(|name| protocol.text_of(name))
}

async fn outlook_gets_each_protocol_for_a_served_address(backend: Backend) {
    let Some(site) = Site::start(backend, |_| {}).await else {
        return;
    };
    let site = site.with_domains().await;
    let address = "annv@snv.vinhphuc.gov.vn";
    for path in [
        "/autodiscover/autodiscover.xml",
        "/Autodiscover/Autodiscover.xml",
    ] {
        let root = cached_xml(site.post(path, outlook_request(address)).await).await;
        assert_eq!(root.name, "Autodiscover");
        assert_eq!(
            root.attribute("xmlns"),
            Some("http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006")
        );
        let response = root.one("Response");
        assert_eq!(
            response.attribute("xmlns"),
            Some("http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a")
        );
        assert_eq!(response.one("User").text_of("DisplayName"), address);
        let account = response.one("Account");
        assert_eq!(account.text_of("AccountType"), "email");
        assert_eq!(account.text_of("Action"), "settings");
        let protocols: Vec<_> = account
            .all("Protocol")
            .into_iter()
            .map(pox_protocol)
            .collect();
        assert_eq!(
            protocols,
            [
                ["IMAP", MAIL_HOST, "10993", "on", "SSL", address, "off", "on"],
                ["IMAP", MAIL_HOST, "10143", "off", "TLS", address, "off", "on"],
                ["SMTP", MAIL_HOST, "10465", "on", "SSL", address, "off", "on"],
                ["SMTP", MAIL_HOST, "10587", "off", "TLS", address, "off", "on"],
            ],
            "{path}"
        );
    }
    site.stop().await;
}

/// Asserts an Autodiscover error response with `code` and `message`, not cached.
async fn assert_pox_error(response: reqwest::Response, code: &str, message: &str) {
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), Some(XML_TYPE));
    assert_eq!(header(&response, "cache-control"), None);
    let root = Element::parse(&response.text().await.unwrap());
    assert_eq!(root.name, "Autodiscover");
    let error = root.one("Response").one("Error");
    assert_eq!(error.child_names(), ["ErrorCode", "Message", "DebugData"]);
    assert_eq!(error.text_of("ErrorCode"), code);
    assert_eq!(error.text_of("Message"), message);
}

async fn outlook_is_told_invalid_request_for_an_unserved_address_or_a_probe(backend: Backend) {
    let Some(site) = Site::start(backend, |_| {}).await else {
        return;
    };
    let site = site.with_domains().await;
    for address in ["someone@gmail.com", "annv@sotc.vinhphuc.gov.vn", "annv", ""] {
        let response = site
            .post("/autodiscover/autodiscover.xml", outlook_request(address))
            .await;
        assert_pox_error(response, "600", "Invalid Request").await;
    }
    let no_address = "<Autodiscover><Request/></Autodiscover>".to_owned();
    let response = site
        .post("/autodiscover/autodiscover.xml", no_address)
        .await;
    assert_pox_error(response, "600", "Invalid Request").await;
    // ActiveSync's schema is not served.
    let mobilesync = outlook_request("annv@vinhphuc.gov.vn").replace(
        "outlook/responseschema/2006a",
        "mobilesync/responseschema/2006",
    );
    let response = site
        .post("/Autodiscover/Autodiscover.xml", mobilesync)
        .await;
    assert_pox_error(response, "601", "Provider is not available").await;
    for path in [
        "/autodiscover/autodiscover.xml",
        "/Autodiscover/Autodiscover.xml",
    ] {
        assert_pox_error(site.get(path).await, "600", "Invalid Request").await;
    }
    site.stop().await;
}

async fn malformed_autodiscover_xml_is_400(backend: Backend) {
    let Some(site) = Site::start(backend, |_| {}).await else {
        return;
    };
    let site = site.with_domains().await;
    let request = outlook_request("annv@vinhphuc.gov.vn");
    for body in [
        String::new(),
        "annv@vinhphuc.gov.vn".to_owned(),
        request.replace("</Autodiscover>", ""),
        request.replace("</Request>", "</Requst>"),
        request.replace("annv@", "annv&nbsp;@"),
        format!("{request}<Autodiscover/>"),
    ] {
        let response = site
            .post("/autodiscover/autodiscover.xml", body.clone())
            .await;
        assert_eq!(response.status(), 400, "{body}");
        assert_eq!(
            header(&response, "content-type"),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(
            response.text().await.unwrap(),
            "malformed Autodiscover request: the body must be well-formed XML in UTF-8\n"
        );
    }
    site.stop().await;
}

async fn autodiscover_body_is_bounded_at_16_kib(backend: Backend) {
    let Some(site) = Site::start(backend, |_| {}).await else {
        return;
    };
    let site = site.with_domains().await;
    assert_eq!(MAX_AUTODISCOVER_REQUEST_BYTES, 16 * 1024);
    let request = outlook_request("annv@vinhphuc.gov.vn");
    // Whitespace after the root element is allowed, so it pads a request to any size.
    let padded = |len: usize| format!("{request}{}", " ".repeat(len - request.len()));

    let at_limit = site
        .post("/autodiscover/autodiscover.xml", padded(16 * 1024))
        .await;
    let root = cached_xml(at_limit).await;
    assert_eq!(root.one("Response").one("Account").all("Protocol").len(), 4);

    let over = site
        .post("/autodiscover/autodiscover.xml", padded(16 * 1024 + 1))
        .await;
    assert_eq!(over.status(), 413);
    site.stop().await;
}

async fn a_port_of_zero_is_not_offered_and_unset_names_default(backend: Backend) {
    let Some(site) = Site::start(backend, |config| {
        config.http.mail_hostname = None;
        config.http.display_name = None;
        config.http.imap_port = 0;
        config.http.submissions_port = 0;
    })
    .await
    else {
        return;
    };
    let site = site.with_domains().await;
    // Unset: server.hostname and server.primary_domain of the test configuration.
    let host = "mail.vinhphuc.gov.vn";

    let config = cached_xml(site.get("/mail/config-v1.1.xml").await).await;
    let provider = config.one("emailProvider");
    assert_eq!(provider.text_of("displayName"), PRIMARY);
    let servers: Vec<_> = provider
        .children
        .iter()
        .filter(|c| c.name.ends_with("Server"))
        .map(|c| (c.name.as_str(), tb_server(c)))
        .collect();
    assert_eq!(
        servers,
        [
            ("incomingServer", tb("imap", host, "10993", "SSL")),
            ("outgoingServer", tb("smtp", host, "10587", "STARTTLS")),
        ]
    );

    let address = "annv@vinhphuc.gov.vn";
    let response = site
        .post("/autodiscover/autodiscover.xml", outlook_request(address))
        .await;
    let root = cached_xml(response).await;
    let protocols: Vec<_> = root
        .one("Response")
        .one("Account")
        .all("Protocol")
        .into_iter()
        .map(pox_protocol)
        .collect();
    assert_eq!(
        protocols,
        [
            ["IMAP", host, "10993", "on", "SSL", address, "off", "on"],
            ["SMTP", host, "10587", "off", "TLS", address, "off", "on"],
        ]
    );
    site.stop().await;
}
