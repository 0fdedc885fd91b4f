//! Search and Compare over the in-memory tree, with the access rules applied to every entry
//! and attribute, size and time limits, and the Simple Paged Results control (RFC 2696):
//! the first page computes every match once and later pages continue from a cookie held by
//! the connection.

use std::sync::Arc;
use std::time::Instant;

use ldap3_proto::control::LdapControl;
use ldap3_proto::proto::{
    LdapCompareRequest, LdapMsg, LdapOp, LdapResult, LdapResultCode, LdapSearchRequest,
    LdapSearchScope,
};
use rand::RngCore;

use super::access::{readable, Reader, Sight};
use super::attributes::{self as at, AttributeType, Returned};
use super::ber;
use super::dn;
use super::filter::Filter;
use super::reply::{self, NO_SUCH_ENTRY, UNAVAILABLE};
use super::schema;
use super::session::{result, Entries, Reply, Session};
use super::tree::{Entry, Tree};
use super::LdapSettings;

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
    let selection = Selection::from_request(&request.attrs);
    let paging = controls.iter().find_map(|c| match c {
        LdapControl::SimplePagedResults { size, cookie } => Some((*size, cookie.clone())),
        _ => None,
    });
    if let Some(reply) = special_entry(session, msgid, &request, &selection) {
        return reply;
    }
    if let Some((size, cookie)) = paging.as_ref().filter(|(_, c)| !c.is_empty()) {
        let Some(mut paged) = session.pages.remove(cookie) else {
            return done(
                msgid,
                result(LdapResultCode::UnwillingToPerform, reply::BAD_COOKIE),
                Vec::new(),
            );
        };
        if *size <= 0 {
            // A page size of zero abandons the paged search.
            return done(
                msgid,
                result(LdapResultCode::Success, ""),
                paged_control(Vec::new()),
            );
        }
        let page = Page {
            msgid,
            size: *size,
            selection: &selection,
            types_only: request.typesonly,
        };
        return next_page(session, &page, &mut paged, cookie.clone());
    }
    let scope = match resolve(session, &request).await {
        Ok(scope) => scope,
        Err(res) => return done(msgid, res, Vec::new()),
    };
    let client_limit = usize::try_from(request.sizelimit).ok().filter(|&n| n > 0);
    let server_limit = session.service.settings.size_limit;
    // Non-paged searches stop one past the limit: enough to know it was exceeded.
    let stop_after = match paging {
        Some(_) => usize::MAX,
        None => client_limit
            .unwrap_or(usize::MAX)
            .min(server_limit)
            .saturating_add(1),
    };
    let matches = match scope.matches(&session.service.settings, &request, stop_after) {
        Ok(matches) => matches,
        Err(res) => return done(msgid, res, Vec::new()),
    };
    let page = Page {
        msgid,
        size: paging.as_ref().map_or(0, |(size, _)| *size),
        selection: &selection,
        types_only: request.typesonly,
    };
    if paging.is_some() {
        let mut paged = PagedSearch {
            tree: scope.tree,
            remaining: matches.into_iter(),
            client_budget: client_limit,
            opened: Instant::now(),
        };
        return next_page(session, &page, &mut paged, new_cookie());
    }
    let limit = client_limit.unwrap_or(usize::MAX).min(server_limit);
    all_at_once(&scope.tree, &matches, limit, &page)
}

/// Every match up to `limit` in one answer, ending in sizeLimitExceeded when there were more.
fn all_at_once(tree: &Tree, matches: &[(usize, Sight)], limit: usize, page: &Page<'_>) -> Reply {
    let mut entries = Entries::default();
    for &(i, sight) in matches.iter().take(limit) {
        write_entry(&mut entries, page, &tree.entries[i], sight);
    }
    let res = if matches.len() > limit {
        result(LdapResultCode::SizeLimitExceeded, reply::SIZE_LIMIT)
    } else {
        result(LdapResultCode::Success, "")
    };
    Reply {
        entries,
        ..done(page.msgid, res, Vec::new())
    }
}

/// The reply that ends a search: its result and controls.
fn done(msgid: i32, res: LdapResult, ctrl: Vec<LdapControl>) -> Reply {
    Reply::one(LdapMsg {
        msgid,
        op: LdapOp::SearchResultDone(res),
        ctrl,
    })
}

/// A base search of the root DSE or the schema: readable by anyone, outside the tree.
fn special_entry(
    session: &Session<'_>,
    msgid: i32,
    request: &LdapSearchRequest,
    selection: &Selection,
) -> Option<Reply> {
    if request.scope != LdapSearchScope::Base {
        return None;
    }
    let settings = &session.service.settings;
    let entry = match dn::normalize(&request.base).as_deref() {
        Some("") => schema::root_dse(&settings.base_dn),
        Some("cn=subschema") => schema::subschema(),
        _ => return None,
    };
    let Ok(filter) = Filter::compile(&request.filter, settings.max_filter_depth) else {
        return Some(done(msgid, filter_too_deep(), Vec::new()));
    };
    let mut entries = Entries::default();
    if filter.matches(&entry, &|_| true) {
        // One entry, never paged: only what to return of it matters.
        let page = Page {
            msgid,
            size: 0,
            selection,
            types_only: request.typesonly,
        };
        write_entry(&mut entries, &page, &entry, Sight::Public);
    }
    Some(Reply {
        entries,
        ..done(msgid, result(LdapResultCode::Success, ""), Vec::new())
    })
}

/// What a search looks through: its filter, the tree as of now, the base entry and what
/// the reader sees of each entry (the base is visible to it).
struct Scope<'s> {
    filter: Filter,
    tree: Arc<Tree>,
    base: String,
    reader: Reader<'s>,
}

/// The filter compiled, the tree and the base found; or the result that ends the search.
async fn resolve<'s>(
    session: &'s Session<'_>,
    request: &LdapSearchRequest,
) -> Result<Scope<'s>, LdapResult> {
    let settings = &session.service.settings;
    let filter = Filter::compile(&request.filter, settings.max_filter_depth)
        .map_err(|_| filter_too_deep())?;
    let tree = session.service.tree.current().await.map_err(|e| {
        tracing::error!(error = %e, "LDAP tree unavailable");
        result(LdapResultCode::Unavailable, UNAVAILABLE)
    })?;
    let reader = Reader::new(&session.identity, settings.allow_anonymous_read, &tree);
    let base = dn::normalize(&request.base)
        .ok_or_else(|| result(LdapResultCode::InvalidDNSyntax, reply::BASE_NOT_A_DN))?;
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
        return Err(res);
    }
    Ok(Scope {
        filter,
        tree,
        base,
        reader,
    })
}

impl Scope<'_> {
    /// The entries in scope that match and that the reader sees, in tree order, up to
    /// `stop_after`; or the time limit exceeded.
    fn matches(
        &self,
        settings: &LdapSettings,
        request: &LdapSearchRequest,
        stop_after: usize,
    ) -> Result<Vec<(usize, Sight)>, LdapResult> {
        let started = Instant::now();
        let time_limit = match request.timelimit {
            t if t > 0 => settings
                .time_limit
                .min(std::time::Duration::from_secs(t as u64)),
            _ => settings.time_limit,
        };
        let candidates: Box<dyn Iterator<Item = usize>> = match self.filter.candidates(&self.tree) {
            Some(list) => Box::new(list.into_iter()),
            None => Box::new(0..self.tree.entries.len()),
        };
        let mut matches = Vec::new();
        for (n, i) in candidates.enumerate() {
            if n % 512 == 511 && started.elapsed() > time_limit {
                return Err(result(LdapResultCode::TimeLimitExceeded, reply::TIME_LIMIT));
            }
            let entry = &self.tree.entries[i];
            if !in_scope(entry.key(), &self.base, &request.scope) {
                continue;
            }
            let sight = self.reader.sight(entry);
            if sight == Sight::Hidden || !self.filter.matches(entry, &|a| readable(a, sight)) {
                continue;
            }
            matches.push((i, sight));
            if matches.len() >= stop_after {
                break;
            }
        }
        Ok(matches)
    }
}

/// How a page is sent: the request's message id, the page size asked for and what to
/// return of each entry.
struct Page<'a> {
    msgid: i32,
    size: i64,
    selection: &'a Selection,
    types_only: bool,
}

/// Sends the next page of `paged` and keeps it under `cookie` when more remain.
fn next_page(
    session: &mut Session<'_>,
    page: &Page<'_>,
    paged: &mut PagedSearch,
    cookie: Vec<u8>,
) -> Reply {
    let server_limit = session.service.settings.size_limit;
    let wanted = usize::try_from(page.size)
        .ok()
        .filter(|&n| n > 0)
        .unwrap_or(server_limit)
        .min(server_limit);
    let take = paged
        .client_budget
        .map_or(wanted, |budget| budget.min(wanted));
    let msgid = page.msgid;
    let mut entries = Entries::default();
    for (i, sight) in paged.remaining.by_ref().take(take) {
        write_entry(&mut entries, page, &paged.tree.entries[i], sight);
    }
    if let Some(budget) = paged.client_budget.as_mut() {
        *budget -= entries.count;
    }
    let more = paged.remaining.len() > 0;
    let budget_spent = paged.client_budget == Some(0);
    let (res, cookie) = if more && budget_spent {
        (
            result(LdapResultCode::SizeLimitExceeded, reply::SIZE_LIMIT),
            Vec::new(),
        )
    } else if more {
        (result(LdapResultCode::Success, ""), cookie)
    } else {
        (result(LdapResultCode::Success, ""), Vec::new())
    };
    let end = done(msgid, res, paged_control(cookie.clone()));
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
    Reply { entries, ..end }
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
    result(LdapResultCode::AdminLimitExceeded, reply::FILTER_TOO_DEEP)
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
                return e.dn().to_string();
            }
        }
        at = dn::parent(at);
    }
    String::new()
}

/// Writes one entry as sent: the selected attributes the reader may read, their values
/// unless only types were asked for.
fn write_entry(out: &mut Entries, page: &Page<'_>, entry: &Entry, sight: Sight) {
    let values_sent = if page.types_only { 0 } else { usize::MAX };
    let attributes = entry
        .attributes()
        .filter(|a| page.selection.wants(a.kind) && readable(a, sight))
        .map(|a| (a.kind.name, a.values().take(values_sent)));
    ber::write_search_entry(&mut out.encoded, page.msgid, entry.dn(), attributes);
    out.count += 1;
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
            reply::NO_SUCH_ATTRIBUTE_TYPE,
        );
    };
    if std::ptr::eq(kind, &at::USER_PASSWORD) {
        return answer(
            LdapResultCode::InsufficentAccessRights,
            reply::NO_PASSWORD_COMPARE,
        );
    }
    let value = at::normalize(kind.matching, &request.val);
    let attribute = entry.attribute(kind).filter(|a| readable(a, sight));
    match attribute {
        Some(a) if a.normalized().any(|v| v == value) => answer(LdapResultCode::CompareTrue, ""),
        Some(_) => answer(LdapResultCode::CompareFalse, ""),
        None => answer(LdapResultCode::NoSuchAttribute, reply::NO_SUCH_ATTRIBUTE),
    }
}
