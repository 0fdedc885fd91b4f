//! Officials' Sieve scripts through the domain layer: stored only when they compile, one
//! active, the compiled script kept until it changes, and out-of-office replies claimed once
//! per period, on both backends.

use std::sync::Arc;

use congvu::sieve::scripts::{Scripts, ScriptsError, MAX_SCRIPTS};
use congvu::sieve::{Filters, RedirectPolicy};
use congvu_tests::Backend;

use super::{on_both_backends, Fixture};

on_both_backends!(
    scripts_are_stored_checked_and_one_is_active,
    the_active_script_is_recompiled_only_when_it_changes,
    a_reply_is_claimed_once_per_period,
);

fn scripts(f: &Fixture) -> Scripts {
    let filters = Filters::new("mail.vinhphuc.gov.vn", RedirectPolicy::default());
    Scripts::new(f.store.clone(), f.clock.clone(), Arc::new(filters))
}

const SORTING: &str = "require \"fileinto\";\nif header :contains \"From\" \"vanphong\" { fileinto \"Văn phòng\"; }\n";

async fn scripts_are_stored_checked_and_one_is_active(backend: Backend) {
    let Some(f) = Fixture::with_province(backend).await else {
        return;
    };
    let an = f.official("an", "Nguyễn Văn An").await.id;
    let binh = f.official("binh", "Trần Thị Bình").await.id;
    let s = scripts(&f);
    s.put(an, "Phân loại", SORTING).await.unwrap();
    s.put(an, "roundcube", "keep;\n").await.unwrap();
    let broken = s.put(an, "hỏng", "fileinto \"A\";\n").await.unwrap_err();
    assert!(
        matches!(&broken, ScriptsError::Invalid(e) if e.line == 1),
        "{broken}"
    );
    assert!(matches!(
        s.put(an, "a/b", "keep;").await.unwrap_err(),
        ScriptsError::BadName
    ));
    let names: Vec<String> = s
        .list(an)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, vec!["Phân loại", "roundcube"]);
    assert!(
        s.list(binh).await.unwrap().is_empty(),
        "scripts are the official's own"
    );

    assert!(s.active(an).await.unwrap().is_none());
    s.activate(an, Some("Phân loại")).await.unwrap();
    s.activate(an, Some("roundcube")).await.unwrap();
    let listed = s.list(an).await.unwrap();
    let active: Vec<&str> = listed
        .iter()
        .filter(|s| s.active)
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(active, vec!["roundcube"], "one active at a time");
    assert!(matches!(
        s.activate(an, Some("không có")).await.unwrap_err(),
        ScriptsError::NoSuchScript(_)
    ));
    assert!(matches!(
        s.delete(an, "roundcube").await.unwrap_err(),
        ScriptsError::Active(_)
    ));
    assert!(matches!(
        s.rename(an, "roundcube", "Phân loại").await.unwrap_err(),
        ScriptsError::Exists(_)
    ));
    s.rename(an, "roundcube", "Thư đến").await.unwrap();
    assert_eq!(s.get(an, "Thư đến").await.unwrap().text, "keep;\n");
    assert!(
        s.get(an, "Thư đến").await.unwrap().active,
        "a rename keeps it active"
    );
    s.activate(an, None).await.unwrap();
    s.delete(an, "Thư đến").await.unwrap();
    assert_eq!(s.list(an).await.unwrap().len(), 1);

    for i in 1..MAX_SCRIPTS {
        s.put(an, &format!("s{i}"), "keep;").await.unwrap();
    }
    assert!(matches!(
        s.put(an, "one more", "keep;").await.unwrap_err(),
        ScriptsError::TooMany
    ));
    s.put(an, "s1", "discard;").await.unwrap();
}

async fn the_active_script_is_recompiled_only_when_it_changes(backend: Backend) {
    let Some(f) = Fixture::with_province(backend).await else {
        return;
    };
    let an = f.official("an", "Nguyễn Văn An").await.id;
    let s = scripts(&f);
    s.put(an, "main", "keep;").await.unwrap();
    s.activate(an, Some("main")).await.unwrap();
    let first = s.active(an).await.unwrap().unwrap();
    let again = s.active(an).await.unwrap().unwrap();
    assert!(first.same_as(&again), "the compiled script is kept");
    // A second node (another Scripts over the same database) changes it within the second.
    scripts(&f).put(an, "main", SORTING).await.unwrap();
    let changed = s.active(an).await.unwrap().unwrap();
    assert!(!changed.same_as(&first), "a change made elsewhere is seen");
    let binh = f.official("binh", "Trần Thị Bình").await.id;
    let both = s.active_of(&[an, binh]).await.unwrap();
    assert_eq!(both.len(), 1, "only an has an active script");
    assert!(
        both[&an].same_as(&changed),
        "read for many at once, from the same cache"
    );
    s.activate(an, None).await.unwrap();
    assert!(s.active(an).await.unwrap().is_none());
    assert!(s.active_of(&[an, binh]).await.unwrap().is_empty());
}

async fn a_reply_is_claimed_once_per_period(backend: Backend) {
    let Some(f) = Fixture::with_province(backend).await else {
        return;
    };
    let an = f.official("an", "Nguyễn Văn An").await.id;
    let binh = f.official("binh", "Trần Thị Bình").await.id;
    let s = scripts(&f);
    let key = "vanphong@vinhphuc.gov.vn đi công tác";
    let week = 7 * 86_400;
    assert!(s.claim_reply(an, key, week).await.unwrap());
    assert!(
        !s.claim_reply(an, key, week).await.unwrap(),
        "once per period"
    );
    assert!(
        s.claim_reply(binh, key, week).await.unwrap(),
        "per official"
    );
    f.clock.advance(week as i64 - 1);
    assert!(!s.claim_reply(an, key, week).await.unwrap());
    f.clock.advance(2);
    assert!(
        s.claim_reply(an, key, week).await.unwrap(),
        "again after the period"
    );
    assert!(!s.claim_reply(an, key, week).await.unwrap());
}
