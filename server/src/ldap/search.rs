//! Search and Compare over the in-memory tree, with the access rules applied to every entry
//! and attribute, size and time limits, and the Simple Paged Results control (RFC 2696):
//! the first page computes every match once and later pages continue from a cookie held by
//! the connection.

use std::sync::Arc;
use std::time::Instant;

use ldap3_proto::control::LdapControl;
use ldap3_proto::proto::{
    LdapCompareRequest, LdapMsg, LdapOp, LdapPartialAttribute, LdapResult, LdapResultCode,
    LdapSearchRequest, LdapSearchResultEntry, LdapSearchScope,
};
use rand::RngCore;

use super::access::{readable, Reader, Sight};
use super::attributes::{self as at, AttributeType, Returned};
use super::dn;
use super::filter::Filter;
use super::schema;
use super::session::{result, Reply, Session, NO_SUCH_ENTRY, UNAVAILABLE};
use super::tree::{Entry, Tree};

/// Paged searches a connection may hold open at once; the oldest is dropped past it.
const MAX_OPEN_PAGED_SEARCHES: usize = 8;

/// A paged search between pages.
#[derive(Debug)]
pub struct PagedSearch {
    tree: Arc<Tree>,
    /// Matching entries not sent yet, in tree order, with what the reader sees of each.
    remaining: std::vec::IntoIter<(usize, Sight)>,
    /// Entries still allowed by the client's own size limit (`None`: no limit).
    client_budget: Option<usize>,
    opened: Instant,
}

/// Which attributes to return.
#[derive(Debug)]
struct Selection {
    all_user: bool,
    all_operational: bool,
    named: Vec<&'static AttributeType>,
}

impl Selection {
    fn from_request(attrs: &[String]) -> Selection {
        let mut selection = Selection {
            all_user: attrs.is_empty(),
            all_operational: false,
            named: Vec::new(),
        };
        for a in attrs {
            match a.as_str() {
                "*" => selection.all_user = true,
                "+" => selection.all_operational = true,
                // "1.1" alone asks for no attributes; with others it is ignored.
                "1.1" => {}
                // A type the schema defines but no entry carries selects nothing, and a name
                // it does not define is ignored (RFC 4511 §4.5.1.8): neither fails the search.
                name => selection.named.extend(at::selected_by(name)),
            }
        }
        selection
    }

    fn wants(&self, kind: &AttributeType) -> bool {
        let listed = match kind.returned {
            Returned::User => self.all_user,
            Returned::Operational => self.all_operational,
            Returned::UserOrOperational => self.all_user || self.all_operational,
        };
        listed || self.named.iter().any(|n| std::ptr::eq(*n, kind))
    }
}

/// Answers a search request.
pub async fn search(
    session: &mut Session<'_>,
    msgid: i32,
    request: LdapSearchRequest,
    controls: &[LdapControl],
) -> Reply {
    let done = |res: LdapResult, ctrl: Vec<LdapControl>| LdapMsg {
        msgid,
        op: LdapOp::SearchResultDone(res),
        ctrl,
    };
    let settings = &session.service.settings;
    let selection = Selection::from_request(&request.attrs);
    let paging = controls.iter().find_map(|c| match c {
        LdapControl::SimplePagedResults { size, cookie } => Some((*size, cookie.clone())),
        _ => None,
    });

    // The root DSE and the schema: readable by anyone, outside the tree.
    if request.scope == LdapSearchScope::Base {
        let special = match dn::normalize(&request.base).as_deref() {
            Some("") => Some(schema::root_dse(&settings.base_dn)),
            Some("cn=subschema") => Some(schema::subschema()),
            _ => None,
        };
        if let Some(entry) = special {
            let mut messages = Vec::new();
            match Filter::compile(&request.filter, settings.max_filter_depth) {
                Ok(filter) if filter.matches(&entry, &|_| true) => {
                    messages.push(entry_message(
                        msgid,
                        &entry,
                        Sight::Public,
                        &selection,
                        request.typesonly,
                    ));
                }
                Ok(_) => {}
                Err(_) => return Reply::one(done(filter_too_deep(), Vec::new())),
            }
            messages.push(done(result(LdapResultCode::Success, ""), Vec::new()));
            return Reply {
                messages,
                next: super::session::Next::Continue,
            };
        }
    }

    // A later page of a paged search.
    if let Some((size, cookie)) = &paging {
        if !cookie.is_empty() {
            let Some(mut paged) = session.pages.remove(cookie) else {
                return Reply::one(done(
                    result(
                        LdapResultCode::UnwillingToPerform,
                        "paged results cookie is invalid or expired",
                    ),
                    Vec::new(),
                ));
            };
            if *size <= 0 {
                // A page size of zero abandons the paged search.
                return Reply::one(done(
                    result(LdapResultCode::Success, ""),
                    paged_control(Vec::new()),
                ));
            }
            return next_page(
                session,
                msgid,
                &mut paged,
                *size,
                &selection,
                request.typesonly,
                cookie.clone(),
            );
        }
    }

    let filter = match Filter::compile(&request.filter, settings.max_filter_depth) {
        Ok(f) => f,
        Err(_) => return Reply::one(done(filter_too_deep(), Vec::new())),
    };
    let tree = match session.service.tree.current().await {
        Ok(tree) => tree,
        Err(e) => {
            tracing::error!(error = %e, "LDAP tree unavailable");
            return Reply::one(done(
                result(LdapResultCode::Unavailable, UNAVAILABLE),
                Vec::new(),
            ));
        }
    };
    let reader = Reader::new(&session.identity, settings.allow_anonymous_read, &tree);
    let Some(base) = dn::normalize(&request.base) else {
        return Reply::one(done(
            result(
                LdapResultCode::InvalidDNSyntax,
                "the search base is not a DN",
            ),
            Vec::new(),
        ));
    };
    // An empty base with one-level or subtree scope searches the whole naming context.
    let base = if base.is_empty() {
        tree.base.clone()
    } else {
        base
    };
    let visible_base = tree
        .get(&base)
        .is_some_and(|(_, e)| reader.sight(e) != Sight::Hidden);
    if !visible_base {
        let mut res = result(LdapResultCode::NoSuchObject, NO_SUCH_ENTRY);
        res.matcheddn = matched_dn(&tree, &reader, &base);
        return Reply::one(done(res, Vec::new()));
    }

    let started = Instant::now();
    let time_limit = match request.timelimit {
        t if t > 0 => settings
            .time_limit
            .min(std::time::Duration::from_secs(t as u64)),
        _ => settings.time_limit,
    };
    let client_limit = usize::try_from(request.sizelimit).ok().filter(|&n| n > 0);
    let candidates: Box<dyn Iterator<Item = usize>> = match filter.candidates(&tree) {
        Some(list) => Box::new(list.into_iter()),
        None => Box::new(0..tree.entries.len()),
    };
    // Non-paged searches stop one past the limit: enough to know it was exceeded.
    let stop_after = match paging {
        Some(_) => usize::MAX,
        None => client_limit
            .unwrap_or(usize::MAX)
            .min(settings.size_limit)
            .saturating_add(1),
    };
    let mut matches: Vec<(usize, Sight)> = Vec::new();
    for (n, i) in candidates.enumerate() {
        if n % 512 == 511 && started.elapsed() > time_limit {
            return Reply::one(done(
                result(LdapResultCode::TimeLimitExceeded, "time limit exceeded"),
                Vec::new(),
            ));
        }
        let entry = &tree.entries[i];
        if !in_scope(&entry.key, &base, &request.scope) {
            continue;
        }
        let sight = reader.sight(entry);
        if sight == Sight::Hidden || !filter.matches(entry, &|a| readable(a, sight)) {
            continue;
        }
        matches.push((i, sight));
        if matches.len() >= stop_after {
            break;
        }
    }

    match paging {
        Some((size, _)) => {
            let mut paged = PagedSearch {
                tree: Arc::clone(&tree),
                remaining: matches.into_iter(),
                client_budget: client_limit,
                opened: Instant::now(),
            };
            let cookie = new_cookie();
            next_page(
                session,
                msgid,
                &mut paged,
                size,
                &selection,
                request.typesonly,
                cookie,
            )
        }
        None => {
            let limit = client_limit.unwrap_or(usize::MAX).min(settings.size_limit);
            let exceeded = matches.len() > limit;
            let mut messages: Vec<LdapMsg> = matches
                .iter()
                .take(limit)
                .map(|&(i, sight)| {
                    entry_message(
                        msgid,
                        &tree.entries[i],
                        sight,
                        &selection,
                        request.typesonly,
                    )
                })
                .collect();
            let res = if exceeded {
                result(LdapResultCode::SizeLimitExceeded, "size limit exceeded")
            } else {
                result(LdapResultCode::Success, "")
            };
            messages.push(done(res, Vec::new()));
            Reply {
                messages,
                next: super::session::Next::Continue,
            }
        }
    }
}

/// Sends the next page of `paged` and keeps it under `cookie` when more remain.
fn next_page(
    session: &mut Session<'_>,
    msgid: i32,
    paged: &mut PagedSearch,
    size: i64,
    selection: &Selection,
    types_only: bool,
    cookie: Vec<u8>,
) -> Reply {
    let server_limit = session.service.settings.size_limit;
    let page = usize::try_from(size)
        .ok()
        .filter(|&n| n > 0)
        .unwrap_or(server_limit)
        .min(server_limit);
    let take = paged.client_budget.map_or(page, |budget| budget.min(page));
    let mut messages: Vec<LdapMsg> = paged
        .remaining
        .by_ref()
        .take(take)
        .map(|(i, sight)| {
            entry_message(msgid, &paged.tree.entries[i], sight, selection, types_only)
        })
        .collect();
    if let Some(budget) = paged.client_budget.as_mut() {
        *budget -= messages.len();
    }
    let more = paged.remaining.len() > 0;
    let budget_spent = paged.client_budget == Some(0);
    let (res, cookie) = if more && budget_spent {
        (
            result(LdapResultCode::SizeLimitExceeded, "size limit exceeded"),
            Vec::new(),
        )
    } else if more {
        (result(LdapResultCode::Success, ""), cookie)
    } else {
        (result(LdapResultCode::Success, ""), Vec::new())
    };
    messages.push(LdapMsg {
        msgid,
        op: LdapOp::SearchResultDone(res),
        ctrl: paged_control(cookie.clone()),
    });
    if !cookie.is_empty() {
        let taken = PagedSearch {
            tree: Arc::clone(&paged.tree),
            remaining: std::mem::take(&mut paged.remaining),
            client_budget: paged.client_budget,
            opened: paged.opened,
        };
        if session.pages.len() >= MAX_OPEN_PAGED_SEARCHES {
            if let Some(oldest) = session
                .pages
                .iter()
                .min_by_key(|(_, p)| p.opened)
                .map(|(c, _)| c.clone())
            {
                session.pages.remove(&oldest);
            }
        }
        session.pages.insert(cookie, taken);
    }
    Reply {
        messages,
        next: super::session::Next::Continue,
    }
}

fn paged_control(cookie: Vec<u8>) -> Vec<LdapControl> {
    vec![LdapControl::SimplePagedResults { size: 0, cookie }]
}

fn new_cookie() -> Vec<u8> {
    let mut cookie = vec![0u8; 16];
    rand::rng().fill_bytes(&mut cookie);
    cookie
}

fn filter_too_deep() -> LdapResult {
    result(
        LdapResultCode::AdminLimitExceeded,
        "the filter is nested too deeply",
    )
}

fn in_scope(key: &str, base: &str, scope: &LdapSearchScope) -> bool {
    match scope {
        LdapSearchScope::Base => key == base,
        LdapSearchScope::OneLevel => key != base && dn::parent(key) == base,
        _ => dn::is_within(key, base),
    }
}

/// The nearest visible ancestor of a missing `base`, for `matchedDN`.
fn matched_dn(tree: &Tree, reader: &Reader<'_>, base: &str) -> String {
    let mut at = dn::parent(base);
    while !at.is_empty() {
        if let Some((_, e)) = tree.get(at) {
            if reader.sight(e) != Sight::Hidden {
                return e.dn.clone();
            }
        }
        at = dn::parent(at);
    }
    String::new()
}

/// One entry as sent: the selected attributes the reader may read.
fn entry_message(
    msgid: i32,
    entry: &Entry,
    sight: Sight,
    selection: &Selection,
    types_only: bool,
) -> LdapMsg {
    let attributes = entry
        .attributes
        .iter()
        .filter(|a| selection.wants(a.kind) && readable(a, sight))
        .map(|a| LdapPartialAttribute {
            atype: a.kind.name.to_string(),
            vals: if types_only {
                Vec::new()
            } else {
                a.values.clone()
            },
        })
        .collect();
    LdapMsg {
        msgid,
        op: LdapOp::SearchResultEntry(LdapSearchResultEntry {
            dn: entry.dn.clone(),
            attributes,
        }),
        ctrl: Vec::new(),
    }
}

/// Answers a compare request.
pub async fn compare(session: &mut Session<'_>, msgid: i32, request: LdapCompareRequest) -> Reply {
    let answer = |code: LdapResultCode, message: &str| {
        Reply::one(LdapMsg {
            msgid,
            op: LdapOp::CompareResult(result(code, message)),
            ctrl: Vec::new(),
        })
    };
    let tree = match session.service.tree.current().await {
        Ok(tree) => tree,
        Err(_) => return answer(LdapResultCode::Unavailable, UNAVAILABLE),
    };
    let reader = Reader::new(
        &session.identity,
        session.service.settings.allow_anonymous_read,
        &tree,
    );
    let entry = dn::normalize(&request.dn)
        .and_then(|key| tree.get(&key).map(|(_, e)| e))
        .filter(|e| reader.sight(e) != Sight::Hidden);
    let Some(entry) = entry else {
        return answer(LdapResultCode::NoSuchObject, NO_SUCH_ENTRY);
    };
    let sight = reader.sight(entry);
    let Some(kind) = at::lookup(&request.atype) else {
        return answer(
            LdapResultCode::UndefinedAttributeType,
            "no such attribute type",
        );
    };
    if std::ptr::eq(kind, &at::USER_PASSWORD) {
        return answer(
            LdapResultCode::InsufficentAccessRights,
            "passwords cannot be compared",
        );
    }
    let value = at::normalize(kind.matching, &request.val);
    let attribute = entry.attribute(kind).filter(|a| readable(a, sight));
    match attribute {
        Some(a) if a.normalized.contains(&value) => answer(LdapResultCode::CompareTrue, ""),
        Some(_) => answer(LdapResultCode::CompareFalse, ""),
        None => answer(
            LdapResultCode::NoSuchAttribute,
            "the entry has no such attribute",
        ),
    }
}
