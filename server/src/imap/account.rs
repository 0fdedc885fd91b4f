//! Commands about the connection and the account: CAPABILITY, STARTTLS, LOGIN,
//! AUTHENTICATE PLAIN (with SASL-IR, RFC 4959), ID (RFC 2971), NAMESPACE (RFC 2342) and
//! ENABLE (RFC 5161). Logins go through the directory's authenticator, so lockout and
//! per-address throttling are shared with LDAP and SMTP.

use std::borrow::Cow;

use imap_codec::imap_types::auth::{AuthMechanism, AuthenticateData};
use imap_codec::imap_types::core::{AString, IString, NString, QuotedChar, Tag, Vec1};
use imap_codec::imap_types::extensions::enable::CapabilityEnable;
use imap_codec::imap_types::extensions::namespace::Namespace;
use imap_codec::imap_types::response::{Code, Data};
use imap_codec::imap_types::secret::Secret;

use super::framing::{Expect, Received};
use super::reply;
use super::session::{Done, End, Session};
use crate::directory::{plain_credentials, LoginName, LoginOutcome, Principal};
use crate::mailstore::SEPARATOR;
use crate::net::Stream;

impl Session<'_> {
    pub(super) fn capability(&mut self) -> Done {
        let list = reply::capabilities(self.is_tls(), self.is_authenticated());
        self.data(Data::Capability(list));
        Done::ok(reply::DONE)
    }

    pub(super) fn id(
        &mut self,
        _client: Option<Vec<(IString<'static>, NString<'static>)>>,
    ) -> Done {
        let field = |s: &'static str| IString::try_from(s).ok();
        let parameters = [("name", "congvu"), ("vendor", "congvu")]
            .into_iter()
            .filter_map(|(k, v)| Some((field(k)?, NString(field(v)))))
            .collect();
        self.data(Data::Id {
            parameters: Some(parameters),
        });
        Done::ok(reply::DONE)
    }

    pub(super) fn namespace(&mut self) -> Done {
        let personal = IString::try_from("").ok().map(|prefix| Namespace {
            prefix,
            delimiter: QuotedChar::try_from(SEPARATOR).ok(),
            extensions: Vec::new(),
        });
        self.data(Data::Namespace {
            personal: personal.into_iter().collect(),
            other: Vec::new(),
            shared: Vec::new(),
        });
        Done::ok(reply::DONE)
    }

    /// ENABLE: CONDSTORE is the one extension offered that can be enabled.
    pub(super) fn enable(&mut self, asked: Vec1<CapabilityEnable<'static>>) -> Done {
        let condstore = asked.as_ref().contains(&CapabilityEnable::CondStore);
        let mut enabled = Vec::new();
        if condstore && !self.condstore {
            self.condstore = true;
            enabled.push(CapabilityEnable::CondStore);
        }
        self.data(Data::Enabled {
            capabilities: enabled,
        });
        Done::ok(reply::DONE)
    }

    /// STARTTLS (RFC 3501 §6.2.1): OK, the handshake, and a clean slate: anything the client
    /// sent after the command in plaintext is dropped.
    pub(super) async fn start_tls(&mut self, tag: Tag<'static>) -> Result<bool, End> {
        let started = std::time::Instant::now();
        let refuse = |text| {
            crate::telemetry::imap_command("STARTTLS", "bad", started.elapsed());
            Done::bad(text)
        };
        if self.is_tls() {
            return Ok(self.complete(tag, refuse(reply::TLS_ACTIVE)));
        }
        let Some(acceptor) = self.service.tls.clone() else {
            return Ok(self.complete(tag, refuse(reply::NOT_SUPPORTED)));
        };
        crate::telemetry::imap_command("STARTTLS", "ok", started.elapsed());
        self.complete(tag, Done::ok(reply::TLS_GO));
        self.flush().await?;
        let Some(Stream::Plain(tcp)) = self.take_stream() else {
            return Err(End);
        };
        let upgraded = crate::net::upgrade_to_tls(
            &acceptor,
            tcp,
            self.handshake_timeout,
            self.listener,
            self.peer,
        )
        .await;
        self.put_stream(upgraded.ok_or(End)?);
        self.reader.discard_buffered();
        Ok(false)
    }

    pub(super) async fn login(
        &mut self,
        username: AString<'static>,
        password: Secret<AString<'static>>,
    ) -> Done {
        if !self.is_tls() {
            return Done::no(Some(reply::code("PRIVACYREQUIRED")), reply::TLS_FIRST);
        }
        let user = String::from_utf8_lossy(username.as_ref()).into_owned();
        let password = String::from_utf8_lossy(password.declassify().as_ref()).into_owned();
        self.check_credentials(&user, &password).await
    }

    /// AUTHENTICATE PLAIN, with the response inline (SASL-IR) or after an empty challenge.
    pub(super) async fn authenticate(
        &mut self,
        mechanism: AuthMechanism<'static>,
        initial: Option<Secret<Cow<'static, [u8]>>>,
    ) -> Result<Done, End> {
        if self.is_authenticated() {
            return Ok(Done::bad(reply::WRONG_STATE));
        }
        if !self.is_tls() {
            return Ok(Done::no(
                Some(reply::code("PRIVACYREQUIRED")),
                reply::TLS_FIRST,
            ));
        }
        if mechanism != AuthMechanism::Plain {
            return Ok(Done::no(None, reply::AUTH_MECHANISM));
        }
        let response = match initial {
            Some(response) => response.declassify().to_vec(),
            None => {
                self.raw(b"+ \r\n");
                self.flush().await?;
                let idle = self.service.settings.idle_timeout;
                let received = self.read_authenticate_data(idle).await?;
                match received {
                    Received::AuthenticateData(AuthenticateData::Continue(data)) => {
                        data.declassify().to_vec()
                    }
                    Received::AuthenticateData(AuthenticateData::Cancel) => {
                        return Ok(Done::bad(reply::AUTH_CANCELLED))
                    }
                    _ => return Ok(Done::bad(reply::AUTH_MALFORMED)),
                }
            }
        };
        Ok(match plain_credentials(&response) {
            Ok((user, password)) => self.check_credentials(&user, &password).await,
            Err(_) => self.failed_login(),
        })
    }

    async fn read_authenticate_data(&mut self, idle: std::time::Duration) -> Result<Received, End> {
        let mut stream = self.take_stream().ok_or(End)?;
        let received = self
            .reader
            .next(&mut stream, Expect::AuthenticateData, idle)
            .await;
        self.put_stream(stream);
        match received {
            Ok(received) => Ok(received),
            Err(fault) => {
                self.read_fault(fault);
                let _ = self.flush().await;
                Err(End)
            }
        }
    }

    async fn check_credentials(&mut self, user: &str, password: &str) -> Done {
        let outcome = self
            .service
            .authenticator
            .login_official(&LoginName::parse(user), password, self.peer.ip())
            .await;
        crate::directory::count_login("imap", &outcome);
        match outcome {
            Ok(LoginOutcome::Accepted(principal)) => match *principal {
                Principal::Official(official) => {
                    let login = official.login.clone();
                    match self.enter(official) {
                        true => {
                            tracing::info!(%login, peer = %self.peer, "IMAP login");
                            let list = reply::capabilities(true, true);
                            Done::ok_code(Code::Capability(list), reply::LOGIN_OK)
                        }
                        false => Done::no(Some(reply::code("LIMIT")), reply::TOO_MANY_SESSIONS),
                    }
                }
                Principal::Service(_) => self.failed_login(),
            },
            Ok(LoginOutcome::MustChange(official)) => {
                tracing::info!(login = %official.login, peer = %self.peer, "IMAP login with an initial password refused");
                Done::no_with(
                    Some(reply::code("EXPIRED")),
                    reply::login_must_change(&self.service.settings.portal_url),
                )
            }
            Ok(LoginOutcome::Refused(_)) => self.failed_login(),
            Err(error) => {
                tracing::error!(%error, "IMAP login could not be checked");
                Done::no(Some(reply::code("UNAVAILABLE")), reply::LOGIN_UNAVAILABLE)
            }
        }
    }

    /// One more failed login; the session closes after too many.
    fn failed_login(&mut self) -> Done {
        let done = Done::no(
            Some(reply::code("AUTHENTICATIONFAILED")),
            reply::LOGIN_FAILED,
        );
        if self.auth_failures.add() {
            return done.then_close(reply::BYE_TOO_MANY_FAILURES);
        }
        done
    }
}
