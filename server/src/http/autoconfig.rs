//! Mail client autoconfiguration: an official types an address and a password, and the
//! client learns where IMAP and submission are.
//!
//! Owns two formats over one set of [`AutoconfigSettings`]: Thunderbird's clientConfig 1.1
//! (`/mail/config-v1.1.xml`, `/.well-known/autoconfig/mail/config-v1.1.xml`) and Outlook's
//! Autodiscover POX (`/autodiscover/autodiscover.xml`), the parsing of Autodiscover requests
//! and the XML written back. Which domains are served comes from the directory; nothing here
//! looks an official up, so the answers do not reveal whether an address exists.

use std::io;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesDecl, BytesStart, BytesText, Event};
use quick_xml::{Reader, Writer};

use crate::config::Config;
use crate::directory::{normalize_domain, Directory, MailDomain};

/// Largest Autodiscover request body read; a request is a few hundred bytes.
pub const MAX_AUTODISCOVER_REQUEST_BYTES: usize = 16 * 1024;

/// How long clients and proxies may keep an answer: settings change rarely, and an hour
/// bounds how long a changed port takes to reach new accounts.
const CACHE_CONTROL: &str = "max-age=3600";
const XML_CONTENT_TYPE: &str = "application/xml; charset=utf-8";

const AUTODISCOVER_RESPONSE_NS: &str =
    "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006";
/// The only response schema served: Outlook's POX settings.
const OUTLOOK_RESPONSE_SCHEMA: &str =
    "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a";

/// What clients are told, resolved from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoconfigSettings {
    /// The host clients connect to for IMAP and submission.
    pub mail_hostname: String,
    /// Public IMAP-over-TLS port; 0: not offered.
    pub imaps_port: u16,
    /// Public IMAP-with-STARTTLS port; 0: not offered.
    pub imap_port: u16,
    /// Public submission-over-TLS port (RFC 8314); 0: not offered.
    pub submissions_port: u16,
    /// Public submission-with-STARTTLS port (RFC 6409); 0: not offered.
    pub submission_port: u16,
    /// The provider's name that clients show.
    pub display_name: String,
    /// Answered for requests without an address when no directory domain is marked primary.
    pub primary_domain: String,
}

impl AutoconfigSettings {
    /// `[http]` with its defaults filled in from `[server]`.
    pub fn from_config(config: &Config) -> AutoconfigSettings {
        let http = &config.http;
        AutoconfigSettings {
            mail_hostname: http
                .mail_hostname
                .clone()
                .unwrap_or_else(|| config.server.hostname.clone()),
            imaps_port: http.imaps_port,
            imap_port: http.imap_port,
            submissions_port: http.submissions_port,
            submission_port: http.submission_port,
            display_name: http
                .display_name
                .clone()
                .unwrap_or_else(|| config.server.primary_domain.clone()),
            primary_domain: config.server.primary_domain.clone(),
        }
    }

    /// The offered endpoints in the order clients should try them: implicit TLS before
    /// STARTTLS (RFC 8314 §3), since Thunderbird and Outlook take the first they reach.
    fn endpoints(&self) -> impl Iterator<Item = Endpoint> + '_ {
        [
            (Service::Imap, self.imaps_port, Security::ImplicitTls),
            (Service::Imap, self.imap_port, Security::StartTls),
            (
                Service::Submission,
                self.submissions_port,
                Security::ImplicitTls,
            ),
            (
                Service::Submission,
                self.submission_port,
                Security::StartTls,
            ),
        ]
        .into_iter()
        .filter(|(_, port, _)| *port != 0)
        .map(|(service, port, security)| Endpoint {
            service,
            port,
            security,
        })
    }
}

/// Mail access or mail submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    Imap,
    Submission,
}

/// How a client secures the connection before it sends the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Security {
    ImplicitTls,
    StartTls,
}

/// One port a client may use.
#[derive(Debug, Clone, Copy)]
struct Endpoint {
    service: Service,
    port: u16,
    security: Security,
}

/// The settings and the directory the handlers answer from.
#[derive(Debug, Clone)]
pub struct Autoconfig {
    settings: Arc<AutoconfigSettings>,
    directory: Directory,
}

impl Autoconfig {
    /// Serves `settings` for the mail domains of `directory`.
    pub fn new(settings: AutoconfigSettings, directory: Directory) -> Autoconfig {
        Autoconfig {
            settings: Arc::new(settings),
            directory,
        }
    }

    /// The routes of both formats, with the Autodiscover body limit.
    pub(super) fn router<S>(self) -> Router<S> {
        Router::new()
            .route("/mail/config-v1.1.xml", get(thunderbird))
            .route(
                "/.well-known/autoconfig/mail/config-v1.1.xml",
                get(thunderbird),
            )
            .route(
                "/autodiscover/autodiscover.xml",
                get(autodiscover_probe).post(autodiscover),
            )
            .route(
                "/Autodiscover/Autodiscover.xml",
                get(autodiscover_probe).post(autodiscover),
            )
            .layer(DefaultBodyLimit::max(MAX_AUTODISCOVER_REQUEST_BYTES))
            .with_state(self)
    }

    /// The served domain called `name`, or `None` if congvu does not serve it.
    async fn served_domain(&self, name: &str) -> Result<Option<MailDomain>, Unavailable> {
        let domains = self.domains().await?;
        Ok(domains.into_iter().find(|d| d.name == name))
    }

    /// The domain to describe when a client names none: the directory's primary domain,
    /// else `server.primary_domain` if the directory serves it.
    async fn primary_domain(&self) -> Result<Option<MailDomain>, Unavailable> {
        let domains = self.domains().await?;
        let primary = domains.iter().position(|d| d.is_primary).or_else(|| {
            domains
                .iter()
                .position(|d| d.name == self.settings.primary_domain)
        });
        Ok(primary.map(|at| domains[at].clone()))
    }

    async fn domains(&self) -> Result<Vec<MailDomain>, Unavailable> {
        self.directory.domains().await.map_err(|e| {
            tracing::warn!(error = %e, "autoconfig: cannot list mail domains");
            Unavailable
        })
    }
}

/// The directory could not be read; the client should retry later.
#[derive(Debug)]
struct Unavailable;

impl IntoResponse for Unavailable {
    fn into_response(self) -> Response {
        plain(StatusCode::SERVICE_UNAVAILABLE, "directory unavailable\n")
    }
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

/// A settings document: clients and proxies may keep it for [`CACHE_CONTROL`].
fn xml_settings(body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, XML_CONTENT_TYPE),
            (header::CACHE_CONTROL, CACHE_CONTROL),
        ],
        body,
    )
        .into_response()
}

/// An Autodiscover error document, not to be cached: the domain may be added any time.
fn xml_error(error: PoxError) -> Response {
    (
        [(header::CONTENT_TYPE, XML_CONTENT_TYPE)],
        autodiscover_error(error),
    )
        .into_response()
}

// ---- Thunderbird ---------------------------------------------------------------------

/// `GET /mail/config-v1.1.xml?emailaddress=…`: the clientConfig for the address's domain,
/// or for the primary domain when the client names no address.
async fn thunderbird(
    State(autoconfig): State<Autoconfig>,
    Query(query): Query<ThunderbirdQuery>,
) -> Response {
    let domain = match query.emailaddress {
        None => autoconfig.primary_domain().await,
        Some(address) => match RequestedAddress::parse(&address) {
            Some(address) => autoconfig.served_domain(&address.domain).await,
            None => {
                return plain(
                    StatusCode::BAD_REQUEST,
                    "emailaddress must be a mail address such as annv@vinhphuc.gov.vn\n",
                )
            }
        },
    };
    match domain {
        Ok(Some(domain)) => xml_settings(client_config(&autoconfig.settings, &domain.name)),
        Ok(None) => plain(StatusCode::NOT_FOUND, "no mail domain here by that name\n"),
        Err(unavailable) => unavailable.into_response(),
    }
}

/// The query Thunderbird sends: `emailaddress`, the address the official typed.
#[derive(Debug, serde::Deserialize)]
struct ThunderbirdQuery {
    emailaddress: Option<String>,
}

/// Thunderbird's clientConfig version 1.1 for `domain`.
pub(crate) fn client_config(settings: &AutoconfigSettings, domain: &str) -> Vec<u8> {
    let short_name = domain.split('.').next().unwrap_or(domain);
    xml_document(|w| {
        element(w, "clientConfig", &[("version", "1.1")], |w| {
            element(w, "emailProvider", &[("id", domain)], |w| {
                text_element(w, "domain", domain)?;
                text_element(w, "displayName", &settings.display_name)?;
                text_element(w, "displayShortName", short_name)?;
                settings.endpoints().try_for_each(|endpoint| {
                    client_config_server(w, &settings.mail_hostname, endpoint)
                })
            })
        })
    })
}

/// One `<incomingServer>` or `<outgoingServer>`.
fn client_config_server(
    w: &mut Writer<Vec<u8>>,
    hostname: &str,
    endpoint: Endpoint,
) -> io::Result<()> {
    let (element_name, kind) = match endpoint.service {
        Service::Imap => ("incomingServer", "imap"),
        Service::Submission => ("outgoingServer", "smtp"),
    };
    let socket_type = match endpoint.security {
        Security::ImplicitTls => "SSL",
        Security::StartTls => "STARTTLS",
    };
    element(w, element_name, &[("type", kind)], |w| {
        text_element(w, "hostname", hostname)?;
        text_element(w, "port", &endpoint.port.to_string())?;
        text_element(w, "socketType", socket_type)?;
        // Thunderbird puts the address the official typed in place of the placeholder.
        text_element(w, "username", "%EMAILADDRESS%")?;
        // Cleartext within TLS: congvu keeps argon2id hashes, which rules out CRAM-MD5.
        text_element(w, "authentication", "password-cleartext")
    })
}

/// An address as a client sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RequestedAddress {
    /// `local@domain`, the domain normalized.
    pub(crate) address: String,
    /// Lowercase, without a trailing dot.
    pub(crate) domain: String,
}

impl RequestedAddress {
    /// `None` unless `text` is `local@domain` with a non-empty local part free of spaces and
    /// control characters (it is written back into XML) and a well-formed domain.
    pub(crate) fn parse(text: &str) -> Option<RequestedAddress> {
        let text = text.trim();
        let (local, domain) = text.rsplit_once('@')?;
        // RFC 5321 §4.5.3.1.3: a path holds at most 256 octets, an address 254 of them.
        if local.is_empty()
            || text.len() > 254
            || local.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return None;
        }
        let domain = normalize_domain(domain).ok()?;
        Some(RequestedAddress {
            address: format!("{local}@{domain}"),
            domain,
        })
    }
}

// ---- Outlook Autodiscover ------------------------------------------------------------

/// `POST /autodiscover/autodiscover.xml`: Outlook's settings for the requested address.
async fn autodiscover(State(autoconfig): State<Autoconfig>, body: Bytes) -> Response {
    let request = match AutodiscoverRequest::parse(&body) {
        Ok(request) => request,
        Err(e) => {
            tracing::debug!(error = %e, "autodiscover: malformed request");
            return plain(
                StatusCode::BAD_REQUEST,
                "malformed Autodiscover request: the body must be well-formed XML in UTF-8\n",
            );
        }
    };
    if !request.accepts_outlook_schema() {
        return xml_error(PoxError::ProviderUnavailable);
    }
    let Some(address) = request.email.as_deref().and_then(RequestedAddress::parse) else {
        return xml_error(PoxError::InvalidRequest);
    };
    match autoconfig.served_domain(&address.domain).await {
        Ok(Some(_)) => xml_settings(autodiscover_settings(
            &autoconfig.settings,
            &address.address,
        )),
        Ok(None) => xml_error(PoxError::InvalidRequest),
        Err(unavailable) => unavailable.into_response(),
    }
}

/// `GET` on the Autodiscover URL, as clients and monitoring probe it: there is no request
/// to answer, so the answer is Exchange's "Invalid Request", which tells them the
/// endpoint exists.
async fn autodiscover_probe() -> Response {
    xml_error(PoxError::InvalidRequest)
}

/// What an Autodiscover POX request asks, from `<Autodiscover><Request>`.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct AutodiscoverRequest {
    /// `<EMailAddress>`, as sent.
    pub(crate) email: Option<String>,
    /// `<AcceptableResponseSchema>`, as sent.
    pub(crate) response_schema: Option<String>,
}

/// Why an Autodiscover request body is not well-formed XML.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MalformedXml {
    #[error("the body is not UTF-8")]
    NotUtf8,
    #[error(transparent)]
    Syntax(#[from] quick_xml::Error),
    #[error("the body has no root element")]
    NoRoot,
    #[error("the body has content after its root element")]
    AfterRoot,
    #[error("the body ends inside an element")]
    Unclosed,
    #[error("the entity &{0}; is not defined")]
    UnknownEntity(String),
}

/// The request fields read, by their path of local names under the root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RequestField {
    Email,
    ResponseSchema,
}

impl RequestField {
    fn at(path: &[String]) -> Option<RequestField> {
        match path {
            [root, request, leaf] if root == "Autodiscover" && request == "Request" => {
                match leaf.as_str() {
                    "EMailAddress" => Some(RequestField::Email),
                    "AcceptableResponseSchema" => Some(RequestField::ResponseSchema),
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

/// The state of one pass over a request: where the reader is, and what it has kept.
#[derive(Debug, Default)]
struct RequestReader {
    /// Local names of the open elements, root first.
    path: Vec<String>,
    seen_root: bool,
    request: AutodiscoverRequest,
}

impl RequestReader {
    fn open(&mut self, start: &BytesStart<'_>) -> Result<(), MalformedXml> {
        // The reader leaves attributes unparsed until asked; a broken one is malformed XML.
        for attribute in start.attributes() {
            attribute.map_err(quick_xml::Error::from)?;
        }
        if self.path.is_empty() {
            if self.seen_root {
                return Err(MalformedXml::AfterRoot);
            }
            self.seen_root = true;
        }
        self.path.push(start.local_name().as_ref().to_owned());
        if let Some(field) = RequestField::at(&self.path) {
            // Present even if empty: `<EMailAddress/>` is an empty address, not a missing one.
            self.request
                .field_mut(field)
                .get_or_insert_with(String::new);
        }
        Ok(())
    }

    fn close(&mut self) {
        self.path.pop();
    }

    /// Character data: kept inside a field, ignored inside other elements, and outside the
    /// root allowed only as whitespace.
    fn text(&mut self, text: &str) -> Result<(), MalformedXml> {
        if self.path.is_empty() {
            return match text.trim() {
                "" => Ok(()),
                _ if self.seen_root => Err(MalformedXml::AfterRoot),
                _ => Err(MalformedXml::NoRoot),
            };
        }
        if let Some(field) = RequestField::at(&self.path) {
            self.request
                .field_mut(field)
                .get_or_insert_with(String::new)
                .push_str(text);
        }
        Ok(())
    }

    fn finish(self) -> Result<AutodiscoverRequest, MalformedXml> {
        if !self.path.is_empty() {
            Err(MalformedXml::Unclosed)
        } else if !self.seen_root {
            Err(MalformedXml::NoRoot)
        } else {
            Ok(self.request)
        }
    }
}

impl AutodiscoverRequest {
    /// Reads the fields; elements are matched by local name, so a client's namespace
    /// prefixes do not matter. A well-formed document of another shape yields no fields.
    pub(crate) fn parse(body: &[u8]) -> Result<AutodiscoverRequest, MalformedXml> {
        let text = std::str::from_utf8(body).map_err(|_| MalformedXml::NotUtf8)?;
        let mut reader = Reader::from_str(text);
        let mut read = RequestReader::default();
        loop {
            match reader.read_event()? {
                Event::Start(start) => read.open(&start)?,
                Event::Empty(start) => {
                    read.open(&start)?;
                    read.close();
                }
                Event::End(_) => read.close(),
                Event::Text(text) => read.text(&text.xml10_content())?,
                Event::CData(data) => read.text(&data.xml10_content())?,
                Event::GeneralRef(reference) => match reference.resolve_char_ref()? {
                    Some(c) => read.text(c.encode_utf8(&mut [0; 4]))?,
                    None => match resolve_predefined_entity(&reference) {
                        Some(text) => read.text(text)?,
                        None => return Err(MalformedXml::UnknownEntity(reference.to_string())),
                    },
                },
                Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
                Event::Eof => return read.finish(),
            }
        }
    }

    fn field_mut(&mut self, field: RequestField) -> &mut Option<String> {
        match field {
            RequestField::Email => &mut self.email,
            RequestField::ResponseSchema => &mut self.response_schema,
        }
    }

    /// Outlook names the POX schema; a request naming none is taken to want it too.
    pub(crate) fn accepts_outlook_schema(&self) -> bool {
        self.response_schema
            .as_deref()
            .is_none_or(|schema| schema.trim() == OUTLOOK_RESPONSE_SCHEMA)
    }
}

/// Autodiscover POX errors congvu answers, with Exchange's codes and texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PoxError {
    /// 600: no address, or one congvu does not serve.
    InvalidRequest,
    /// 601: the client asked for a response schema other than Outlook's.
    ProviderUnavailable,
}

impl PoxError {
    fn code_and_message(self) -> (&'static str, &'static str) {
        match self {
            PoxError::InvalidRequest => ("600", "Invalid Request"),
            PoxError::ProviderUnavailable => ("601", "Provider is not available"),
        }
    }
}

/// The POX error response.
pub(crate) fn autodiscover_error(error: PoxError) -> Vec<u8> {
    let (code, message) = error.code_and_message();
    xml_document(|w| {
        element(
            w,
            "Autodiscover",
            &[("xmlns", AUTODISCOVER_RESPONSE_NS)],
            |w| {
                element(w, "Response", &[], |w| {
                    element(w, "Error", &[], |w| {
                        text_element(w, "ErrorCode", code)?;
                        text_element(w, "Message", message)?;
                        w.create_element("DebugData").write_empty()?;
                        Ok(())
                    })
                })
            },
        )
    })
}

/// The POX settings response for `address`. `<User><DisplayName>` is the address itself:
/// naming the official would tell anyone who asks which addresses exist.
pub(crate) fn autodiscover_settings(settings: &AutoconfigSettings, address: &str) -> Vec<u8> {
    xml_document(|w| {
        element(
            w,
            "Autodiscover",
            &[("xmlns", AUTODISCOVER_RESPONSE_NS)],
            |w| {
                element(w, "Response", &[("xmlns", OUTLOOK_RESPONSE_SCHEMA)], |w| {
                    element(w, "User", &[], |w| text_element(w, "DisplayName", address))?;
                    element(w, "Account", &[], |w| {
                        text_element(w, "AccountType", "email")?;
                        text_element(w, "Action", "settings")?;
                        settings.endpoints().try_for_each(|endpoint| {
                            pox_protocol(w, &settings.mail_hostname, address, endpoint)
                        })
                    })
                })
            },
        )
    })
}

/// One `<Protocol>` block. `<Encryption>` overrides `<SSL>` in clients that know it; both
/// are given for those that do not.
fn pox_protocol(
    w: &mut Writer<Vec<u8>>,
    hostname: &str,
    address: &str,
    endpoint: Endpoint,
) -> io::Result<()> {
    let kind = match endpoint.service {
        Service::Imap => "IMAP",
        Service::Submission => "SMTP",
    };
    let (ssl, encryption) = match endpoint.security {
        Security::ImplicitTls => ("on", "SSL"),
        Security::StartTls => ("off", "TLS"),
    };
    element(w, "Protocol", &[], |w| {
        text_element(w, "Type", kind)?;
        text_element(w, "Server", hostname)?;
        text_element(w, "Port", &endpoint.port.to_string())?;
        text_element(w, "LoginName", address)?;
        text_element(w, "DomainRequired", "off")?;
        text_element(w, "SPA", "off")?;
        text_element(w, "SSL", ssl)?;
        text_element(w, "Encryption", encryption)?;
        text_element(w, "AuthRequired", "on")
    })
}

// ---- XML writing ---------------------------------------------------------------------

/// A UTF-8 XML document: the declaration, then what `body` writes, indented.
#[allow(clippy::expect_used, reason = "a Vec<u8> accepts every write")]
fn xml_document(body: impl FnOnce(&mut Writer<Vec<u8>>) -> io::Result<()>) -> Vec<u8> {
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    writer
        .write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))
        .and_then(|()| body(&mut writer))
        // A Vec<u8> accepts every write, so the only errors possible are writing ones.
        .expect("writing XML into memory cannot fail");
    let mut document = writer.into_inner();
    document.push(b'\n');
    document
}

/// `<name attributes…>`, what `inner` writes, `</name>`; attribute values escaped.
fn element(
    w: &mut Writer<Vec<u8>>,
    name: &str,
    attributes: &[(&str, &str)],
    inner: impl FnOnce(&mut Writer<Vec<u8>>) -> io::Result<()>,
) -> io::Result<()> {
    w.create_element(name)
        .with_attributes(attributes.iter().copied())
        .write_inner_content(inner)?;
    Ok(())
}

/// `<name>text</name>`, the text escaped.
fn text_element(w: &mut Writer<Vec<u8>>, name: &str, text: &str) -> io::Result<()> {
    w.create_element(name)
        .write_text_content(BytesText::new(text))?;
    Ok(())
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod proptests;
