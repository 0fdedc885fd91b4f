//! Sender authentication: SPF for the HELO name and the envelope sender (RFC 7208), every
//! DKIM signature up to a limit (RFC 6376, with RFC 8301's rules: rsa-sha1 is never a pass),
//! the ARC chain (RFC 8617) and DMARC with alignment against the organizational domain from
//! the public suffix list (RFC 7489), then the policy decision.
//!
//! Mail claiming one of our own domains must pass: an official's address forged from
//! outside is the classic phishing, whatever the domain's published policy says.

use std::net::IpAddr;
use std::sync::Arc;

use mail_auth::common::crypto::Algorithm;
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::dmarc::Policy;
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{
    ArcOutput, AuthenticatedMessage, AuthenticationResults, DkimOutput, DkimResult, DmarcOutput,
    DmarcResult, MessageAuthenticator, SpfOutput, SpfResult,
};

use super::{Deferral, Delivery, Refusal, Verdict};
use crate::config::{AuthenticationMode, InboundConfig, SpfFailAction};
use crate::dns::RecordCaches;
use crate::mailstore::MailboxRole;

/// What the session knows about a message's arrival.
#[derive(Debug, Clone, Copy)]
pub struct SenderFacts<'a> {
    pub ip: IpAddr,
    /// The HELO/EHLO name as given.
    pub helo: &'a str,
    /// The envelope sender; empty for `<>`.
    pub mail_from: &'a str,
}

/// Checks senders for the MX.
#[derive(Clone)]
pub struct SenderCheck {
    resolver: MessageAuthenticator,
    records: Arc<RecordCaches>,
    hostname: String,
    config: InboundConfig,
}

impl std::fmt::Debug for SenderCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SenderCheck")
            .field("hostname", &self.hostname)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Every result one message got.
struct Results<'m> {
    spf_helo: SpfOutput,
    spf_mail_from: SpfOutput,
    dkim: Vec<DkimOutput<'m>>,
    /// The ARC chain's validation (RFC 8617), recorded for mail clients and filters that
    /// trust a forwarder's earlier results; it does not override DMARC here.
    arc: ArcOutput<'m>,
    dmarc: DmarcOutput,
    /// The header `From:` domain DMARC judged, lowercase; empty when there is none.
    from_domain: String,
}

impl SenderCheck {
    pub fn new(
        resolver: MessageAuthenticator,
        records: Arc<RecordCaches>,
        hostname: &str,
        config: InboundConfig,
    ) -> Self {
        SenderCheck {
            resolver,
            records,
            hostname: hostname.to_string(),
            config,
        }
    }

    /// Whether checks run at all.
    pub fn is_on(&self) -> bool {
        self.config.authentication != AuthenticationMode::Off
    }

    /// The verdict on `message` as it arrived. `served` says whether a domain is one of ours.
    pub async fn check(
        &self,
        facts: SenderFacts<'_>,
        message: &[u8],
        served: &(dyn Fn(&str) -> bool + Sync),
    ) -> Verdict {
        if !self.is_on() {
            return Verdict::inbox();
        }
        let parsed = AuthenticatedMessage::parse(message);
        let Some(mut parsed) = parsed else {
            // Not even a header block to judge: nothing can pass, so nothing can claim us.
            return self.decide_unparsed(facts, served);
        };
        parsed
            .dkim_headers
            .truncate(self.config.max_dkim_signatures as usize);
        let results = self.verify(facts, &parsed).await;
        let header = self.header(facts, &results, &parsed);
        match self.config.authentication {
            AuthenticationMode::Enforce => decide(&self.config, facts, &results, served, header),
            _ => Verdict::Deliver(Delivery {
                folder: MailboxRole::Inbox,
                headers: header,
            }),
        }
    }

    async fn verify<'m>(
        &'m self,
        facts: SenderFacts<'_>,
        message: &'m AuthenticatedMessage<'m>,
    ) -> Results<'m> {
        let resolver = &self.resolver;
        let records = &*self.records;
        let hostname = self.hostname.as_str();
        let spf_helo = resolver
            .verify_spf(records.around(SpfParameters::verify_ehlo(facts.ip, facts.helo, hostname)))
            .await;
        // RFC 7208 §2.4: for the null sender, the HELO identity stands for the sender.
        let mut spf_mail_from = if facts.mail_from.is_empty() {
            spf_helo.clone()
        } else {
            resolver
                .verify_spf(records.around(SpfParameters::verify_mail_from(
                    facts.ip,
                    facts.helo,
                    hostname,
                    facts.mail_from,
                )))
                .await
        };
        let dkim: Vec<DkimOutput<'m>> = resolver
            .verify_dkim(records.around(message))
            .await
            .into_iter()
            .map(without_sha1)
            .collect();
        let arc = resolver.verify_arc(records.around(message)).await;
        let mail_from_domain = domain_of(facts.mail_from).unwrap_or(facts.helo);
        if spf_mail_from.result() == SpfResult::None && self.server_failed(mail_from_domain).await {
            spf_mail_from =
                SpfOutput::new(mail_from_domain.to_string()).with_result(SpfResult::TempError);
        }
        let dmarc = resolver
            .verify_dmarc(
                records.around(
                    DmarcParameters::new(message, &dkim, mail_from_domain, &spf_mail_from)
                        .with_domain_suffix_fn(organizational_domain),
                ),
            )
            .await;
        let dmarc = failed_unless_passed(dmarc);
        let from_domain = message
            .from
            .first()
            .and_then(|a| domain_of(a))
            .unwrap_or_default()
            .to_ascii_lowercase();
        let dmarc = if dmarc.dmarc_record().is_none() && self.dmarc_unanswered(&from_domain).await {
            let error = DmarcResult::TempError(mail_auth::Error::DnsError("SERVFAIL".into()));
            dmarc.with_spf_result(error.clone()).with_dkim_result(error)
        } else {
            dmarc
        };
        Results {
            spf_helo,
            spf_mail_from,
            dkim,
            arc,
            dmarc,
            from_domain,
        }
    }

    /// Whether the TXT question for `name` got SERVFAIL (or another failure code) rather
    /// than an answer. mail-auth counts such an answer as "no record"; RFC 7208 §4.4 and
    /// RFC 7489 §6.6.3 make it a temporary error. Asked only after mail-auth found no
    /// record, so the resolver's cache usually answers.
    async fn server_failed(&self, name: &str) -> bool {
        use mail_auth::hickory_resolver::proto::op::ResponseCode;
        use mail_auth::hickory_resolver::proto::ProtoErrorKind;
        match self
            .resolver
            .resolver()
            .txt_lookup(format!("{name}."))
            .await
        {
            Ok(_) => false,
            Err(error) => match error.kind() {
                ProtoErrorKind::NoRecordsFound(no_records) => !matches!(
                    no_records.response_code,
                    ResponseCode::NXDomain | ResponseCode::NoError
                ),
                _ => true,
            },
        }
    }

    /// Whether the DMARC policy of `from_domain` (or of its organizational domain) went
    /// unanswered, so that its absence proves nothing.
    async fn dmarc_unanswered(&self, from_domain: &str) -> bool {
        if from_domain.is_empty() {
            return false;
        }
        let organizational = organizational_domain(from_domain);
        self.server_failed(&format!("_dmarc.{from_domain}")).await
            || (organizational != from_domain
                && self
                    .server_failed(&format!("_dmarc.{organizational}"))
                    .await)
    }

    /// The `Authentication-Results:` field for `results`, with the ARC chain's result.
    fn header(
        &self,
        facts: SenderFacts<'_>,
        results: &Results<'_>,
        message: &AuthenticatedMessage<'_>,
    ) -> String {
        use mail_auth::common::headers::HeaderWriter;
        let header_from = message.from.first().map_or("", String::as_str);
        let mut fields = AuthenticationResults::new(&self.hostname)
            .with_dkim_results(&results.dkim, header_from)
            .with_spf_ehlo_result(&results.spf_helo, facts.ip, facts.helo);
        if !facts.mail_from.is_empty() {
            fields = fields.with_spf_mailfrom_result(
                &results.spf_mail_from,
                facts.ip,
                facts.mail_from,
                facts.helo,
            );
        }
        fields
            .with_arc_result(&results.arc, facts.ip)
            .with_dmarc_result(&results.dmarc)
            .to_header()
    }

    fn decide_unparsed(
        &self,
        facts: SenderFacts<'_>,
        served: &(dyn Fn(&str) -> bool + Sync),
    ) -> Verdict {
        let header = format!("Authentication-Results: {}; none\r\n", self.hostname);
        if self.config.authentication == AuthenticationMode::Enforce
            && domain_of(facts.mail_from).is_some_and(|d| served(&d.to_ascii_lowercase()))
        {
            return Verdict::Refuse(Refusal::ForgedOwnDomain {
                domain: domain_of(facts.mail_from)
                    .unwrap_or_default()
                    .to_ascii_lowercase(),
            });
        }
        Verdict::Deliver(Delivery {
            folder: MailboxRole::Inbox,
            headers: header,
        })
    }
}

/// The enforcing decision, from the results alone.
fn decide(
    config: &InboundConfig,
    facts: SenderFacts<'_>,
    results: &Results<'_>,
    served: &(dyn Fn(&str) -> bool + Sync),
    headers: String,
) -> Verdict {
    let deliver = |folder| {
        Verdict::Deliver(Delivery {
            folder,
            headers: headers.clone(),
        })
    };
    let dmarc = &results.dmarc;
    let dmarc_pass = is_pass(dmarc.spf_result()) || is_pass(dmarc.dkim_result());
    let temporary = is_temporary(dmarc.spf_result())
        || is_temporary(dmarc.dkim_result())
        || results.spf_mail_from.result() == SpfResult::TempError;
    let mail_from_domain = domain_of(facts.mail_from).map(str::to_ascii_lowercase);
    let claims_us = (!results.from_domain.is_empty() && served(&results.from_domain))
        || mail_from_domain.as_deref().is_some_and(served);
    if claims_us {
        let spf_ok = mail_from_domain.is_none()
            || results.spf_mail_from.result() == SpfResult::Pass
            || dmarc_pass;
        let from_ok = results.from_domain.is_empty() || dmarc_pass;
        if spf_ok && from_ok {
            return deliver(MailboxRole::Inbox);
        }
        if temporary {
            return Verdict::Defer(Deferral::Dns);
        }
        let domain = if from_ok {
            mail_from_domain.unwrap_or_default()
        } else {
            results.from_domain.clone()
        };
        return Verdict::Refuse(Refusal::ForgedOwnDomain { domain });
    }
    if dmarc_pass {
        return deliver(MailboxRole::Inbox);
    }
    // An unanswered DMARC or SPF question may hide a `p=reject`: the sender retries rather
    // than the message being filed on a guess (RFC 7489 §11.2 and RFC 7208 §8.6:
    // temperror).
    if temporary {
        return Verdict::Defer(Deferral::Dns);
    }
    let policy = dmarc.policy();
    if dmarc.dmarc_record().is_some() && policy != Policy::Unspecified {
        if !sampled(dmarc) {
            return deliver(MailboxRole::Inbox);
        }
        return match policy {
            Policy::Reject => Verdict::Refuse(Refusal::DmarcReject {
                domain: dmarc.domain().to_string(),
            }),
            Policy::Quarantine => deliver(MailboxRole::Junk),
            Policy::None | Policy::Unspecified => deliver(MailboxRole::Inbox),
        };
    }
    match results.spf_mail_from.result() {
        SpfResult::Fail => match config.spf_fail {
            SpfFailAction::Inbox => deliver(MailboxRole::Inbox),
            SpfFailAction::Junk => deliver(MailboxRole::Junk),
            SpfFailAction::Reject => Verdict::Refuse(Refusal::SpfFail {
                domain: results.spf_mail_from.domain().to_string(),
            }),
        },
        _ => deliver(MailboxRole::Inbox),
    }
}

/// Whether the DMARC policy applies to this message, given the record's `pct`.
fn sampled(dmarc: &DmarcOutput) -> bool {
    let pct = dmarc.dmarc_record().map_or(100, |r| r.pct());
    pct >= 100 || rand::random::<u8>() % 100 < pct
}

/// mail-auth leaves both DMARC results at `none` when neither SPF nor DKIM passed; with a
/// record published that is a DMARC `fail` (RFC 7489 §11.2: no aligned identifier passed),
/// and the `Authentication-Results:` field must say so.
fn failed_unless_passed(dmarc: DmarcOutput) -> DmarcOutput {
    let neither =
        *dmarc.spf_result() == DmarcResult::None && *dmarc.dkim_result() == DmarcResult::None;
    if dmarc.dmarc_record().is_some() && neither {
        return dmarc.with_spf_result(DmarcResult::Fail(mail_auth::Error::NotAligned));
    }
    dmarc
}

fn is_pass(result: &DmarcResult) -> bool {
    matches!(result, DmarcResult::Pass)
}

fn is_temporary(result: &DmarcResult) -> bool {
    matches!(result, DmarcResult::TempError(_))
}

/// RFC 8301 §3.1: a signature with rsa-sha1 is never valid; it counts as no signature.
fn without_sha1(output: DkimOutput<'_>) -> DkimOutput<'_> {
    let sha1 = output
        .signature()
        .is_some_and(|s| s.a == Algorithm::RsaSha1);
    if sha1 && *output.result() == DkimResult::Pass {
        return DkimOutput::neutral(mail_auth::Error::UnsupportedAlgorithm);
    }
    output
}

/// The registrable domain of `domain` by the public suffix list: `hanoi.gov.vn` for
/// `mail.hanoi.gov.vn`, since `gov.vn` is a public suffix.
fn organizational_domain(domain: &str) -> &str {
    psl::domain_str(domain).unwrap_or(domain)
}

fn domain_of(address: &str) -> Option<&str> {
    address
        .rsplit_once('@')
        .map(|(_, d)| d.trim_end_matches('>'))
        .filter(|d| !d.is_empty())
}
