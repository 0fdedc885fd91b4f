//! Result-set limits and RFC 2696 paged results: the lower of the client's and the server's
//! size limit, client time limits, paging through ten thousand officials with `ldap3`'s
//! adapter, pages by hand with their cookies, and unknown or abandoned cookies.

use std::collections::BTreeSet;

use congvu_tests::ldap::{self, Entry};
use congvu_tests::Backend;
use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::controls::{self, Control, ControlType};
use ldap3::{Ldap, LdapResult, Scope, SearchEntry, SearchOptions};

use super::fixture::{bulk_login, person, Province, ACTIVE, MAILAPP, PEOPLE};
use super::ldap_tests;

ldap_tests!(
    paging_collects_ten_thousand_officials_exactly_once,
    pages_by_hand_end_with_an_empty_cookie,
    an_unknown_or_abandoned_cookie_is_unwilling,
    the_lower_size_limit_wins,
    a_client_time_limit_is_accepted,
);

const EVERYONE: &str = "(objectClass=inetOrgPerson)";

/// One page: its entries, its result, and the cookie of its paged results control.
async fn page(
    client: &mut Ldap,
    size: i32,
    cookie: Vec<u8>,
) -> (Vec<Entry>, LdapResult, Option<Vec<u8>>) {
    client.with_controls(controls::PagedResults { size, cookie });
    let (entries, result) = ldap::search(client, PEOPLE, Scope::OneLevel, EVERYONE, &["uid"]).await;
    let cookie = result.ctrls.iter().find_map(|c| match c {
        Control(Some(ControlType::PagedResults), raw) => {
            Some(raw.parse::<controls::PagedResults>().cookie)
        }
        _ => None,
    });
    (entries, result, cookie)
}

async fn paging_collects_ten_thousand_officials_exactly_once(backend: Backend) {
    const BULK: usize = 10_000;
    let Some(p) = Province::start_with(backend, BULK, |_| {}).await else {
        return;
    };
    let mut client = p.bound(MAILAPP).await;

    let adapters: Vec<Box<dyn Adapter<_, _>>> = vec![
        Box::new(EntriesOnly::new()),
        Box::new(PagedResults::new(500)),
    ];
    let mut stream = client
        .streaming_search_with(adapters, PEOPLE, Scope::OneLevel, EVERYONE, vec!["uid"])
        .await
        .unwrap();
    let mut dns = Vec::new();
    while let Some(entry) = stream.next().await.unwrap() {
        dns.push(SearchEntry::construct(entry).dn.to_lowercase());
    }
    let result = stream.finish().await;
    assert_eq!(result.rc, 0, "{result}");
    assert_eq!(dns.len(), BULK + ACTIVE.len(), "entries received");
    let unique: BTreeSet<String> = dns.iter().cloned().collect();
    assert_eq!(unique.len(), dns.len(), "an entry came twice");
    for i in [0, 1, 4_999, 9_999] {
        assert!(
            unique.contains(&person(&bulk_login(i))),
            "{}",
            bulk_login(i)
        );
    }
    for login in ACTIVE {
        assert!(unique.contains(&person(login)), "{login}");
    }

    // Unpaged, the server's limit (1000 by default) ends the search.
    let (entries, result) =
        ldap::search(&mut client, PEOPLE, Scope::OneLevel, EVERYONE, &["1.1"]).await;
    assert_eq!(result.rc, 4, "{result}");
    assert_eq!(entries.len(), 1000);

    // By hand, in pages as large as the server's limit: ten full pages, then the last six
    // entries with an empty cookie.
    let mut cookie = Vec::new();
    let mut pages = Vec::new();
    let mut seen = BTreeSet::new();
    loop {
        let (entries, result, next) = page(&mut client, 1000, cookie).await;
        assert_eq!(result.rc, 0, "page {}: {result}", pages.len() + 1);
        pages.push(entries.len());
        seen.extend(entries.into_iter().map(|e| e.dn.to_lowercase()));
        cookie = next.expect("every page carries the paged results control");
        if cookie.is_empty() || pages.len() > 20 {
            break;
        }
    }
    let mut expected = vec![1000; 10];
    expected.push(6);
    assert_eq!(pages, expected);
    assert_eq!(seen, unique);
}

async fn pages_by_hand_end_with_an_empty_cookie(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut client = p.bound(MAILAPP).await;
    let (first, result, cookie) = page(&mut client, 4, Vec::new()).await;
    assert_eq!(result.rc, 0, "{result}");
    assert_eq!(first.len(), 4, "{first:?}");
    let cookie = cookie.expect("the first page carries the paged results control");
    assert!(
        !cookie.is_empty(),
        "more entries follow, so the cookie is not empty"
    );

    let (second, result, cookie) = page(&mut client, 4, cookie).await;
    assert_eq!(result.rc, 0, "{result}");
    assert_eq!(second.len(), 2, "{second:?}");
    assert_eq!(
        cookie.expect("the last page carries the paged results control"),
        Vec::<u8>::new(),
        "RFC 2696 §3: the last page has an empty cookie"
    );
    let all: BTreeSet<String> = first
        .iter()
        .chain(&second)
        .map(|e| e.single("uid"))
        .collect();
    assert_eq!(all.len(), 6, "no entry twice: {all:?}");
    assert_eq!(all, ACTIVE.iter().map(|s| s.to_string()).collect());

    // A page as large as the result set is the only page.
    let (entries, result, cookie) = page(&mut client, 6, Vec::new()).await;
    assert_eq!((entries.len(), result.rc), (6, 0));
    assert_eq!(cookie, Some(Vec::new()));
}

async fn an_unknown_or_abandoned_cookie_is_unwilling(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut client = p.bound(MAILAPP).await;
    let (entries, result, _) = page(&mut client, 2, b"not-a-cookie".to_vec()).await;
    assert_eq!(result.rc, 53, "{result}");
    assert!(entries.is_empty());

    let (entries, _, cookie) = page(&mut client, 2, Vec::new()).await;
    assert_eq!(entries.len(), 2);
    let cookie = cookie.unwrap();
    assert!(!cookie.is_empty());
    // A cookie is not a position anyone can forge: change one byte.
    let mut forged = cookie.clone();
    let last = forged.len() - 1;
    forged[last] ^= 0x01;
    let (_, result, _) = page(&mut client, 2, forged).await;
    assert_eq!(result.rc, 53, "{result}");

    // The real cookie still works after the forged one was refused.
    let (entries, result, _) = page(&mut client, 2, cookie.clone()).await;
    assert_eq!((entries.len(), result.rc), (2, 0), "{result}");

    // RFC 2696 §3: size 0 with a cookie abandons the paged search; the cookie is dead.
    let (entries, _, cookie) = page(&mut client, 2, Vec::new()).await;
    assert_eq!(entries.len(), 2);
    let cookie = cookie.unwrap();
    let (entries, result, _) = page(&mut client, 0, cookie.clone()).await;
    assert_eq!(result.rc, 0, "{result}");
    assert!(entries.is_empty(), "{entries:?}");
    let (entries, result, _) = page(&mut client, 2, cookie).await;
    assert_eq!(result.rc, 53, "{result}");
    assert!(entries.is_empty());
}

async fn the_lower_size_limit_wins(backend: Backend) {
    let Some(p) = Province::start_with(backend, 0, |c| c.ldap.size_limit = 3).await else {
        return;
    };
    let mut client = p.bound(MAILAPP).await;
    let three = "(|(uid=annv)(uid=anhdd)(uid=hadtt))";
    let four = "(|(uid=annv)(uid=anhdd)(uid=hadtt)(uid=vanlt))";
    for (client_limit, filter, expected) in [
        (0, EVERYONE, (3, 4)),
        (0, four, (3, 4)),
        // Exactly at the limit is not over it.
        (0, three, (3, 0)),
        (2, EVERYONE, (2, 4)),
        (2, three, (2, 4)),
        (3, three, (3, 0)),
        (10, EVERYONE, (3, 4)),
        (10, three, (3, 0)),
    ] {
        client.with_search_options(SearchOptions::new().sizelimit(client_limit));
        let (entries, result) =
            ldap::search(&mut client, PEOPLE, Scope::OneLevel, filter, &["uid"]).await;
        assert_eq!(
            (entries.len(), result.rc),
            expected,
            "client limit {client_limit}, {filter}: {result}"
        );
        let unique: BTreeSet<String> = entries.iter().map(|e| e.dn.clone()).collect();
        assert_eq!(unique.len(), entries.len());
    }

    // Paged, the limit is per page: pages of 2 walk all six officials.
    let mut cookie = Vec::new();
    let mut seen = BTreeSet::new();
    for _ in 0..10 {
        let (entries, result, next) = page(&mut client, 2, cookie).await;
        assert_eq!(result.rc, 0, "{result}");
        seen.extend(entries.iter().map(|e| e.single("uid")));
        cookie = next.unwrap();
        if cookie.is_empty() {
            break;
        }
    }
    assert_eq!(seen, ACTIVE.iter().map(|s| s.to_string()).collect());
}

async fn a_client_time_limit_is_accepted(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut client = p.bound(MAILAPP).await;
    for seconds in [1, 5, 3600] {
        client.with_search_options(SearchOptions::new().timelimit(seconds));
        let (entries, result) =
            ldap::search(&mut client, PEOPLE, Scope::Subtree, EVERYONE, &["uid"]).await;
        assert_eq!(result.rc, 0, "time limit {seconds}: {result}");
        assert_eq!(entries.len(), ACTIVE.len());
    }
}
