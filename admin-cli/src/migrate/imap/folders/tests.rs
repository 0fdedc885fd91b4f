use super::*;

fn listed(name: &str, delimiter: &str, attributes: &[FolderAttribute]) -> ListedFolder {
    ListedFolder {
        wire: wire(name),
        delimiter: Some(delimiter.into()),
        attributes: attributes.to_vec(),
    }
}

/// A Unicode name as the source sends it.
fn wire(name: &str) -> String {
    congvu::imap::utf7::encode(name)
}

fn plan_of(folders: Vec<ListedFolder>, subscribed: &[&str]) -> FolderPlan {
    plan(&Listing {
        folders,
        subscribed: subscribed.iter().map(|s| s.to_string()).collect(),
    })
}

fn summary(plan: &FolderPlan) -> Vec<(String, String, Option<MailboxRole>)> {
    plan.folders
        .iter()
        .map(|f| (f.wire.clone(), f.name.clone(), f.role))
        .collect()
}

#[test]
fn special_use_attributes_win_and_other_names_are_kept_with_their_hierarchy() {
    let subscribed = [wire("INBOX"), wire("Công văn đến")];
    let subscribed: Vec<&str> = subscribed.iter().map(String::as_str).collect();
    let plan = plan_of(
        vec![
            listed("INBOX", ".", &[]),
            listed("Sent", ".", &[]),
            listed(
                "Thư đã gửi",
                ".",
                &[FolderAttribute::Special(MailboxRole::Sent)],
            ),
            listed("Công văn đến", ".", &[]),
            listed("Công văn đến.2023", ".", &[]),
            listed("Projects/2024", ".", &[]),
            listed("[Gmail]", ".", &[FolderAttribute::NoSelect]),
            listed("All", ".", &[FolderAttribute::Virtual]),
        ],
        &subscribed,
    );
    assert_eq!(
        summary(&plan),
        vec![
            ("INBOX".into(), "INBOX".into(), Some(MailboxRole::Inbox)),
            (wire("Thư đã gửi"), "Sent".into(), Some(MailboxRole::Sent)),
            (wire("Công văn đến"), "Công văn đến".into(), None),
            (wire("Công văn đến.2023"), "Công văn đến/2023".into(), None),
            ("Projects/2024".into(), "Projects-2024".into(), None),
            // The attribute took the role: a plain "Sent" is an ordinary folder, which
            // shares the name of the official's Sent folder.
            ("Sent".into(), "Sent".into(), None),
        ]
    );
    assert!(plan.folders[0].subscribed);
    assert!(plan.folders[2].subscribed);
    assert!(!plan.folders[3].subscribed);
    assert!(plan.problems.is_empty());
}

#[test]
fn usual_names_find_special_folders_in_both_languages_and_any_case() {
    let plan = plan_of(
        vec![
            listed("INBOX", "/", &[]),
            listed("SENT ITEMS", "/", &[]),
            listed("Thư nháp", "/", &[]),
            listed("Deleted Messages", "/", &[]),
            listed("Thư rác", "/", &[]),
            listed("Lưu trữ", "/", &[]),
            listed("Deleted Items/Old", "/", &[]),
        ],
        &[],
    );
    let roles: Vec<(String, Option<MailboxRole>)> = plan
        .folders
        .iter()
        .map(|f| (f.shown.clone(), f.role))
        .collect();
    assert!(roles.contains(&("SENT ITEMS".into(), Some(MailboxRole::Sent))));
    assert!(roles.contains(&("Thư nháp".into(), Some(MailboxRole::Drafts))));
    assert!(roles.contains(&("Deleted Messages".into(), Some(MailboxRole::Trash))));
    assert!(roles.contains(&("Thư rác".into(), Some(MailboxRole::Junk))));
    // An archive is told by its special-use mark only: "Lưu trữ" is the official's own.
    assert!(roles.contains(&("Lưu trữ".into(), None)));
    // Only a top-level name is a special folder.
    assert!(roles.contains(&("Deleted Items/Old".into(), None)));
}

#[test]
fn nfd_and_nfc_spellings_become_one_folder() {
    // "Thư đã gửi" written with combining marks (NFD), as some clients create it.
    let nfd = "Thu\u{31b} đa\u{303} gu\u{31b}\u{309}i/Cu\u{303}";
    let nfc = "Thư đã gửi/Cũ";
    assert_ne!(wire(nfd), wire(nfc));
    let plan = plan_of(vec![listed(nfd, "/", &[]), listed(nfc, "/", &[])], &[]);
    assert_eq!(plan.folders.len(), 2, "two source folders");
    assert_eq!(plan.folders[0].name, "Thư đã gửi/Cũ");
    assert_eq!(plan.folders[1].name, "Thư đã gửi/Cũ");
}

#[test]
fn a_courier_namespace_prefix_is_not_a_level() {
    let plan = plan_of(
        vec![
            listed("INBOX", ".", &[]),
            listed("INBOX.Sent", ".", &[]),
            listed("INBOX.Hồ sơ", ".", &[]),
            listed("INBOX.Hồ sơ.2024", ".", &[]),
        ],
        &[],
    );
    assert_eq!(
        summary(&plan),
        vec![
            ("INBOX".into(), "INBOX".into(), Some(MailboxRole::Inbox)),
            ("INBOX.Sent".into(), "Sent".into(), Some(MailboxRole::Sent)),
            (wire("INBOX.Hồ sơ"), "Hồ sơ".into(), None),
            (wire("INBOX.Hồ sơ.2024"), "Hồ sơ/2024".into(), None),
        ]
    );
}

#[test]
fn repeated_and_looping_listings_are_bounded() {
    let mut folders = vec![listed("INBOX", "/", &[])];
    // The same name listed again and again.
    for _ in 0..100 {
        folders.push(listed("Loop", "/", &[]));
    }
    // A symlink loop: a/a/a/… deeper and deeper.
    let mut deep = String::from("a");
    for _ in 0..40 {
        deep.push_str("/a");
        folders.push(listed(&deep, "/", &[]));
    }
    let plan = plan_of(folders, &[]);
    let loops = plan.folders.iter().filter(|f| f.name == "Loop").count();
    assert_eq!(loops, 1);
    let deepest = plan
        .folders
        .iter()
        .map(|f| f.name.split('/').count())
        .max()
        .unwrap();
    assert_eq!(deepest, MAX_DEPTH);
    assert_eq!(plan.problems.len(), 41 - MAX_DEPTH);
    assert!(
        plan.problems[0].contains("levels deep"),
        "{:?}",
        plan.problems
    );

    let many: Vec<ListedFolder> = (0..MAX_FOLDERS + 5)
        .map(|i| listed(&format!("f{i}"), "/", &[]))
        .collect();
    let plan = plan_of(many, &[]);
    assert_eq!(plan.folders.len(), MAX_FOLDERS);
    assert_eq!(
        plan.problems,
        vec![format!(
            "the source lists {} folders; only the first {MAX_FOLDERS} were copied",
            MAX_FOLDERS + 5
        )]
    );
}

#[test]
fn names_congvu_cannot_hold_are_mended_or_reported() {
    let plan = plan_of(
        vec![
            listed("A*B%C", ".", &[]),
            listed("..", ".", &[]),
            ListedFolder {
                wire: "bad\r\nname".into(),
                delimiter: Some(".".into()),
                attributes: Vec::new(),
            },
        ],
        &[],
    );
    assert_eq!(plan.folders.len(), 1);
    assert_eq!(plan.folders[0].name, "A_B_C");
    assert_eq!(plan.problems.len(), 2, "{:?}", plan.problems);
}

#[test]
fn of_two_usual_names_congvus_own_wins_then_the_first_listed() {
    let plan = plan_of(
        vec![
            listed("Sent Items", "/", &[]),
            listed("Sent", "/", &[]),
            listed("Thùng rác", "/", &[]),
            listed("Deleted Items", "/", &[]),
        ],
        &[],
    );
    let roles: Vec<(String, String, Option<MailboxRole>)> = plan
        .folders
        .iter()
        .map(|f| (f.shown.clone(), f.name.clone(), f.role))
        .collect();
    assert_eq!(
        roles,
        vec![
            ("Sent".into(), "Sent".into(), Some(MailboxRole::Sent)),
            ("Thùng rác".into(), "Trash".into(), Some(MailboxRole::Trash)),
            ("Deleted Items".into(), "Deleted Items".into(), None),
            ("Sent Items".into(), "Sent Items".into(), None),
        ]
    );
}
