//! Directory entities on both backends: domains, the agency tree, officials, aliases,
//! groups, service accounts, certificates, uniqueness, and the audit log.

use congvu::clock::UnixTime;
use congvu::directory::{
    AgencyLevel, Argon2Cost, DirectoryError, EntityKind, GroupKind, GroupMember, MemberName,
    NewCertificate, NewDomain, NewGroup, NewServiceAccount, OfficialChanges, OfficialStatus,
    PasswordCost, PasswordHasher, StoredPassword,
};
use congvu::mailstore::MailboxRole;
use congvu::store::UniqueKey;
use congvu_tests::Backend;

use super::{agency, new_official, on_both_backends, Fixture, START};

on_both_backends!(
    domains_are_created_listed_and_unique,
    agency_tree_follows_the_levels_and_moves,
    official_round_trips_every_attribute,
    official_updates_and_status_are_audited,
    login_address_and_hr_id_are_unique,
    aliases_share_one_address_namespace,
    nested_groups_expand_to_each_official_once,
    service_accounts_are_created_scoped_and_removed,
    certificates_are_stored_unique_and_revocable,
    failed_changes_leave_no_audit_row_and_no_version_bump,
    passwords_are_stored_with_cost_class,
    the_snapshot_holds_every_official_once_by_login_without_credentials,
);

fn taken(e: DirectoryError) -> (UniqueKey, String) {
    match e {
        DirectoryError::Taken { what, value } => (what, value),
        other => panic!("expected Taken, got {other:?}"),
    }
}

async fn domains_are_created_listed_and_unique(backend: Backend) {
    let Some(f) = Fixture::new(backend).await else {
        return;
    };
    let mut primary = NewDomain::new("VinhPhuc.gov.vn");
    primary.is_primary = true;
    let d = f.directory.add_domain(&f.admin, primary).await.unwrap();
    assert_eq!(d.name, "vinhphuc.gov.vn");
    assert_eq!(d.default_quota_bytes, 2 << 30);
    f.directory
        .add_domain(&f.admin, NewDomain::new("stttt.vinhphuc.gov.vn"))
        .await
        .unwrap();

    let names: Vec<_> = f
        .directory
        .domains()
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.name, d.is_primary))
        .collect();
    assert_eq!(
        names,
        [
            ("vinhphuc.gov.vn".to_string(), true),
            ("stttt.vinhphuc.gov.vn".to_string(), false)
        ]
    );

    let again = f
        .directory
        .add_domain(&f.admin, NewDomain::new("vinhphuc.gov.vn"))
        .await
        .unwrap_err();
    assert_eq!(
        taken(again),
        (UniqueKey::DomainName, "vinhphuc.gov.vn".into())
    );
    let mut second_primary = NewDomain::new("hanoi.gov.vn");
    second_primary.is_primary = true;
    let err = f
        .directory
        .add_domain(&f.admin, second_primary)
        .await
        .unwrap_err();
    assert_eq!(taken(err).0, UniqueKey::PrimaryDomain);
    let err = f
        .directory
        .add_domain(&f.admin, NewDomain::new("not a domain"))
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::Invalid(m) if m.contains("is not a domain name")));
}

async fn agency_tree_follows_the_levels_and_moves(backend: Backend) {
    let Some(f) = Fixture::with_province(backend).await else {
        return;
    };
    let add = |code: &'static str, name: &'static str, level, parent: &'static str| {
        f.directory
            .add_agency(&f.admin, agency(code, name, level, Some(parent)))
    };
    add(
        "vinhyen",
        "Thành phố Vĩnh Yên",
        AgencyLevel::District,
        "vinhphuc",
    )
    .await
    .unwrap();
    add("tamdao", "Huyện Tam Đảo", AgencyLevel::District, "vinhphuc")
        .await
        .unwrap();
    add("dongda", "Phường Đống Đa", AgencyLevel::Commune, "vinhyen")
        .await
        .unwrap();
    add(
        "tichson",
        "Phường Tích Sơn",
        AgencyLevel::Commune,
        "vinhyen",
    )
    .await
    .unwrap();
    add("ccvt", "Chi cục Văn thư", AgencyLevel::Department, "stttt")
        .await
        .unwrap();

    let root = f.directory.agency("vinhphuc").await.unwrap();
    assert_eq!((root.level, root.parent_id), (AgencyLevel::Province, None));
    let stttt = f.directory.agency("STTTT").await.unwrap();
    assert_eq!(
        stttt.name, "Sở Thông tin và Truyền thông",
        "diacritics must round-trip exactly"
    );
    assert_eq!(stttt.parent_id, Some(root.id));

    let subtree: Vec<_> = f
        .directory
        .agency_subtree("vinhyen")
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.code)
        .collect();
    assert_eq!(subtree, ["vinhyen", "dongda", "tichson"]);
    let children: Vec<_> = f
        .directory
        .agency_children("vinhphuc")
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.code)
        .collect();
    assert_eq!(children, ["stttt", "tamdao", "vinhyen"]);

    // Level rules: a commune under the province, a second root, a department under a district.
    for (code, level, parent) in [
        ("xa1", AgencyLevel::Commune, Some("vinhphuc")),
        ("tinh2", AgencyLevel::Province, Some("vinhphuc")),
        ("so2", AgencyLevel::Department, Some("vinhyen")),
        ("so3", AgencyLevel::Department, None),
    ] {
        let err = f
            .directory
            .add_agency(&f.admin, agency(code, "X", level, parent))
            .await
            .unwrap_err();
        assert!(matches!(err, DirectoryError::Invalid(_)), "{code}: {err:?}");
    }
    let err = add("dongda", "Trùng mã", AgencyLevel::Commune, "tamdao")
        .await
        .unwrap_err();
    assert_eq!(taken(err), (UniqueKey::AgencyCode, "dongda".into()));
    let err = add("xa9", "X", AgencyLevel::Commune, "khongco")
        .await
        .unwrap_err();
    assert!(
        matches!(err, DirectoryError::NotFound { kind: EntityKind::Agency, ref key } if key == "khongco")
    );

    // A ward moves to another district; the tree follows.
    let moved = f
        .directory
        .move_agency(&f.admin, "tichson", "tamdao")
        .await
        .unwrap();
    assert_eq!(
        moved.parent_id,
        Some(f.directory.agency("tamdao").await.unwrap().id)
    );
    let subtree: Vec<_> = f
        .directory
        .agency_subtree("tamdao")
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.code)
        .collect();
    assert_eq!(subtree, ["tamdao", "tichson"]);
    // A department cannot move under its own sub-department.
    let err = f
        .directory
        .move_agency(&f.admin, "stttt", "ccvt")
        .await
        .unwrap_err();
    assert!(
        matches!(err, DirectoryError::Invalid(ref m) if m.contains("own subtree")),
        "{err:?}"
    );
    let audit = f.directory.audit_log(Some("agency:tichson")).await.unwrap();
    let actions: Vec<_> = audit.iter().map(|e| e.record.action.as_str()).collect();
    assert_eq!(actions, ["agency.add", "agency.move"]);
    assert!(audit[1]
        .record
        .before
        .as_deref()
        .unwrap()
        .contains("\"parent\":\"vinhyen\""));
    assert!(audit[1]
        .record
        .after
        .as_deref()
        .unwrap()
        .contains("\"parent\":\"tamdao\""));
}

async fn official_round_trips_every_attribute(backend: Backend) {
    let Some(f) = Fixture::with_province(backend).await else {
        return;
    };
    let mut new = new_official("NhungLTH", "Lê Thị Hồng Nhung", "stttt");
    new.unit = Some("Phòng Bưu chính, Viễn thông".into());
    new.title = Some("Phó Trưởng phòng".into());
    new.phone = Some("0211 3862 555".into());
    new.hr_id = Some("VP-000123".into());
    new.primary_address = "NhungLTH@VinhPhuc.gov.vn".into();
    let added = f.directory.add_official(&f.admin, new).await.unwrap();

    let read = f.directory.official("nhunglth").await.unwrap();
    assert_eq!(read, added);
    assert_eq!(read.login, "nhunglth");
    assert_eq!(
        (
            read.name.family.as_str(),
            read.name.middle.as_str(),
            read.name.given.as_str()
        ),
        ("Lê", "Thị Hồng", "Nhung")
    );
    assert_eq!(read.display_name, "Lê Thị Hồng Nhung");
    assert_eq!(read.primary_address, "nhunglth@vinhphuc.gov.vn");
    assert_eq!(read.unit.as_deref(), Some("Phòng Bưu chính, Viễn thông"));
    assert_eq!(read.title.as_deref(), Some("Phó Trưởng phòng"));
    assert_eq!(read.phone.as_deref(), Some("0211 3862 555"));
    assert_eq!(read.status, OfficialStatus::Active);
    assert_eq!(read.quota_bytes, 2 << 30, "the domain's default quota");
    assert_eq!((read.created_at, read.updated_at), (START, START));
    assert_eq!(read.uuid.len(), 36);

    let by_hr = f
        .directory
        .official_by_hr_id("VP-000123")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_hr.id, added.id);
    let by_address = f
        .directory
        .official_by_address("NHUNGLTH@vinhphuc.gov.vn")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_address.id, added.id);
    assert!(f
        .directory
        .official_by_address("khongco@vinhphuc.gov.vn")
        .await
        .unwrap()
        .is_none());

    let mailboxes = f.mailstore.mailboxes(added.id).await.unwrap();
    let mut names: Vec<_> = mailboxes
        .iter()
        .map(|m| (m.name.as_str(), m.role, m.uidnext.0))
        .collect();
    names.sort_by_key(|n| n.0);
    assert_eq!(
        names,
        [
            ("Drafts", Some(MailboxRole::Drafts), 1),
            ("INBOX", Some(MailboxRole::Inbox), 1),
            ("Junk", Some(MailboxRole::Junk), 1),
            ("Sent", Some(MailboxRole::Sent), 1),
            ("Trash", Some(MailboxRole::Trash), 1),
        ]
    );
    let in_agency: Vec<_> = f
        .directory
        .officials_in_agency("stttt")
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.login)
        .collect();
    assert_eq!(in_agency, ["nhunglth"]);

    // Header-breaking input is refused with the attribute named.
    let mut bad = new_official("annv", "Nguyễn Văn An", "stttt");
    bad.title = Some("Chuyên viên\r\nBcc: all@vinhphuc.gov.vn".into());
    let err = f.directory.add_official(&f.admin, bad).await.unwrap_err();
    assert!(
        matches!(err, DirectoryError::Invalid(ref m) if m.starts_with("title contains the control character")),
        "{err:?}"
    );
}

async fn official_updates_and_status_are_audited(backend: Backend) {
    let Some(f) = Fixture::with_province(backend).await else {
        return;
    };
    f.official("annv", "Nguyễn Văn An").await;
    f.clock.advance(60);
    let changes = OfficialChanges {
        title: Some(Some("Trưởng phòng".into())),
        phone: Some(Some("0912 345 678".into())),
        ..Default::default()
    };
    let updated = f
        .directory
        .update_official(&f.admin, "annv", changes)
        .await
        .unwrap();
    assert_eq!(updated.title.as_deref(), Some("Trưởng phòng"));
    assert_eq!(updated.updated_at, START.plus(60));
    let reread = f.directory.official("annv").await.unwrap();
    assert_eq!(reread, updated);

    let cleared = f
        .directory
        .update_official(
            &f.admin,
            "annv",
            OfficialChanges {
                phone: Some(None),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(cleared.phone, None);

    let disabled = f
        .directory
        .set_official_status(&f.admin, "annv", OfficialStatus::Disabled)
        .await
        .unwrap();
    assert_eq!(disabled.status, OfficialStatus::Disabled);
    assert_eq!(
        f.directory.official("annv").await.unwrap().status,
        OfficialStatus::Disabled
    );
    f.directory
        .set_official_status(&f.admin, "annv", OfficialStatus::Active)
        .await
        .unwrap();

    let audit = f.directory.audit_log(Some("official:annv")).await.unwrap();
    let actions: Vec<_> = audit.iter().map(|e| e.record.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "official.add",
            "official.update",
            "official.update",
            "official.disable",
            "official.enable"
        ]
    );
    let update = &audit[1];
    assert_eq!(update.record.actor, "admin:it-stttt");
    assert_eq!(update.at, START.plus(60));
    assert!(update
        .record
        .before
        .as_deref()
        .unwrap()
        .contains("\"title\":null"));
    assert!(update
        .record
        .after
        .as_deref()
        .unwrap()
        .contains("\"title\":\"Trưởng phòng\""));
}

async fn login_address_and_hr_id_are_unique(backend: Backend) {
    let Some(f) = Fixture::with_province(backend).await else {
        return;
    };
    let mut first = new_official("annv", "Nguyễn Văn An", "stttt");
    first.hr_id = Some("VP-1".into());
    f.directory.add_official(&f.admin, first).await.unwrap();

    let mut same_login = new_official("ANNV", "Nguyễn Văn An", "stttt");
    same_login.primary_address = "annv2@vinhphuc.gov.vn".into();
    let err = f
        .directory
        .add_official(&f.admin, same_login)
        .await
        .unwrap_err();
    assert_eq!(taken(err), (UniqueKey::Login, "annv".into()));

    let mut same_address = new_official("annv2", "Nguyễn Văn An", "stttt");
    same_address.primary_address = "AnNV@vinhphuc.gov.vn".into();
    let err = f
        .directory
        .add_official(&f.admin, same_address)
        .await
        .unwrap_err();
    assert_eq!(
        taken(err),
        (UniqueKey::Address, "annv@vinhphuc.gov.vn".into())
    );

    let mut same_hr = new_official("annv3", "Nguyễn Văn An", "stttt");
    same_hr.hr_id = Some("VP-1".into());
    let err = f
        .directory
        .add_official(&f.admin, same_hr)
        .await
        .unwrap_err();
    assert_eq!(taken(err), (UniqueKey::HrId, "VP-1".into()));

    // Officials without an HR id do not collide with each other.
    f.official("binhtt", "Trần Thị Bình").await;
    f.official("cuongld", "Lê Đức Cường").await;
    let err = f
        .directory
        .update_official(
            &f.admin,
            "binhtt",
            OfficialChanges {
                hr_id: Some(Some("VP-1".into())),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(taken(err), (UniqueKey::HrId, "VP-1".into()));
    // Nothing of the refused officials was left behind.
    assert!(f.directory.official("annv2").await.is_err());
    assert!(f.directory.official("annv3").await.is_err());
}

async fn aliases_share_one_address_namespace(backend: Backend) {
    let Some(f) = Fixture::with_province(backend).await else {
        return;
    };
    let an = f.official("annv", "Nguyễn Văn An").await;
    f.official("binhtt", "Trần Thị Bình").await;
    let alias = f
        .directory
        .add_alias(&f.admin, "annv", "An.Nguyen@vinhphuc.gov.vn")
        .await
        .unwrap();
    assert_eq!(alias, "an.nguyen@vinhphuc.gov.vn");
    assert_eq!(
        f.directory
            .official_by_address("an.nguyen@vinhphuc.gov.vn")
            .await
            .unwrap()
            .unwrap()
            .id,
        an.id
    );
    assert_eq!(
        f.directory.addresses_of_official("annv").await.unwrap(),
        ["annv@vinhphuc.gov.vn", "an.nguyen@vinhphuc.gov.vn"]
    );
    let err = f
        .directory
        .add_alias(&f.admin, "binhtt", "an.nguyen@vinhphuc.gov.vn")
        .await
        .unwrap_err();
    assert_eq!(
        taken(err),
        (UniqueKey::Address, "an.nguyen@vinhphuc.gov.vn".into())
    );
    let err = f
        .directory
        .add_alias(&f.admin, "binhtt", "binh@gmail.com")
        .await
        .unwrap_err();
    assert!(
        matches!(err, DirectoryError::Invalid(ref m) if m.contains("not a domain congvu serves")),
        "{err:?}"
    );
    // A list cannot take an official's address either.
    let list = NewGroup {
        name: "lanhdao".into(),
        display_name: "Lãnh đạo Sở".into(),
        description: None,
        kind: GroupKind::List,
        agency_code: Some("stttt".into()),
        address: Some("annv@vinhphuc.gov.vn".into()),
    };
    let err = f.directory.add_group(&f.admin, list).await.unwrap_err();
    assert_eq!(taken(err).0, UniqueKey::Address);

    let err = f
        .directory
        .remove_alias(&f.admin, "annv", "annv@vinhphuc.gov.vn")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            DirectoryError::NotFound {
                kind: EntityKind::Alias,
                ..
            }
        ),
        "primary address removed: {err:?}"
    );
    f.directory
        .remove_alias(&f.admin, "annv", "an.nguyen@vinhphuc.gov.vn")
        .await
        .unwrap();
    assert!(f
        .directory
        .official_by_address("an.nguyen@vinhphuc.gov.vn")
        .await
        .unwrap()
        .is_none());
}

async fn nested_groups_expand_to_each_official_once(backend: Backend) {
    let Some(f) = Fixture::with_province(backend).await else {
        return;
    };
    let an = f.official("annv", "Nguyễn Văn An").await;
    let binh = f.official("binhtt", "Trần Thị Bình").await;
    let cuong = f.official("cuongld", "Lê Đức Cường").await;
    let group = |name: &str, kind| NewGroup {
        name: name.into(),
        display_name: format!("Nhóm {name}"),
        description: None,
        kind,
        agency_code: Some("stttt".into()),
        address: (kind == GroupKind::List).then(|| format!("{name}@vinhphuc.gov.vn")),
    };
    let all = f
        .directory
        .add_group(&f.admin, group("toanso", GroupKind::List))
        .await
        .unwrap();
    f.directory
        .add_group(&f.admin, group("lanhdao", GroupKind::Group))
        .await
        .unwrap();
    f.directory
        .add_group(&f.admin, group("vanthu", GroupKind::Group))
        .await
        .unwrap();
    let member = |g: &'static str, m: MemberName| {
        let d = f.directory.clone();
        let a = f.admin.clone();
        async move { d.add_group_member(&a, g, &m).await }
    };
    for (group, member_name) in [
        ("lanhdao", MemberName::Official("annv".into())),
        ("lanhdao", MemberName::Official("binhtt".into())),
        ("vanthu", MemberName::Official("binhtt".into())),
        ("vanthu", MemberName::Official("cuongld".into())),
        ("toanso", MemberName::Group("lanhdao".into())),
        ("toanso", MemberName::Group("vanthu".into())),
        ("toanso", MemberName::Official("annv".into())),
    ] {
        member(group, member_name).await.unwrap();
    }

    let expanded: Vec<_> = f
        .directory
        .expand_group("toanso")
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(expanded, [an.id, binh.id, cuong.id], "each official once");
    assert_eq!(
        f.directory.groups_of_official("cuongld").await.unwrap(),
        ["toanso", "vanthu"]
    );
    assert_eq!(
        f.directory.groups_of_official("binhtt").await.unwrap(),
        ["lanhdao", "toanso", "vanthu"]
    );
    assert_eq!(f.directory.group("toanso").await.unwrap().id, all.id);
    assert_eq!(
        f.directory.group_members("lanhdao").await.unwrap(),
        [GroupMember::Official(an.id), GroupMember::Official(binh.id)]
    );

    let err = member("lanhdao", MemberName::Official("annv".into()))
        .await
        .unwrap_err();
    assert_eq!(taken(err).0, UniqueKey::GroupMember);
    let err = member("vanthu", MemberName::Group("toanso".into()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, DirectoryError::Invalid(ref m) if m.contains("contain itself")),
        "cycle accepted: {err:?}"
    );
    let err = member("vanthu", MemberName::Group("vanthu".into()))
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::Invalid(_)));

    f.directory
        .remove_group_member(&f.admin, "vanthu", &MemberName::Official("cuongld".into()))
        .await
        .unwrap();
    let expanded: Vec<_> = f
        .directory
        .expand_group("toanso")
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.login)
        .collect();
    assert_eq!(expanded, ["annv", "binhtt"]);
    let err = f
        .directory
        .remove_group_member(&f.admin, "vanthu", &MemberName::Official("cuongld".into()))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        DirectoryError::NotFound {
            kind: EntityKind::Member,
            ..
        }
    ));
}

async fn service_accounts_are_created_scoped_and_removed(backend: Backend) {
    let Some(f) = Fixture::with_province(backend).await else {
        return;
    };
    let hasher = PasswordHasher::new(Argon2Cost::INITIAL);
    let secret = hasher
        .hash("service-secret-0123456789", PasswordCost::Full)
        .unwrap();
    let new = NewServiceAccount {
        name: "qlvb".into(),
        description: Some("Hệ thống quản lý văn bản".into()),
        scope_agency_code: Some("stttt".into()),
        may_reset_passwords: true,
    };
    let added = f
        .directory
        .add_service_account(&f.admin, new.clone(), secret.clone())
        .await
        .unwrap();
    let read = f.directory.service_account("QLVB").await.unwrap().unwrap();
    assert_eq!(read, added);
    assert_eq!(
        read.scope_agency_id,
        Some(f.directory.agency("stttt").await.unwrap().id)
    );
    assert_eq!(
        read.description.as_deref(),
        Some("Hệ thống quản lý văn bản")
    );
    assert!(hasher.verify("service-secret-0123456789", &read.password_hash));
    assert!(read.may_reset_passwords);

    let whole = NewServiceAccount {
        name: "keycloak".into(),
        description: None,
        scope_agency_code: None,
        may_reset_passwords: false,
    };
    f.directory
        .add_service_account(&f.admin, whole, secret.clone())
        .await
        .unwrap();
    let names: Vec<_> = f
        .directory
        .service_accounts()
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.name, s.scope_agency_id.is_none()))
        .collect();
    assert_eq!(
        names,
        [("keycloak".to_string(), true), ("qlvb".to_string(), false)]
    );

    let err = f
        .directory
        .add_service_account(&f.admin, new, secret)
        .await
        .unwrap_err();
    assert_eq!(taken(err), (UniqueKey::ServiceAccountName, "qlvb".into()));
    f.directory
        .remove_service_account(&f.admin, "qlvb")
        .await
        .unwrap();
    assert!(f.directory.service_account("qlvb").await.unwrap().is_none());
    let actions: Vec<_> = f
        .directory
        .audit_log(Some("service:qlvb"))
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.record.action)
        .collect();
    assert_eq!(actions, ["service.add", "service.remove"]);
}

async fn certificates_are_stored_unique_and_revocable(backend: Backend) {
    let Some(f) = Fixture::with_province(backend).await else {
        return;
    };
    let an = f.official("annv", "Nguyễn Văn An").await;
    f.official("binhtt", "Trần Thị Bình").await;
    let der = include_bytes!("../../fixtures/leaf-annv.der").to_vec();
    let new = NewCertificate {
        der: der.clone(),
        serial: "54:03:01:2a".into(),
        issuer: "CN=Vietnam Government Public Key Infrastructure Test".into(),
        subject: "CN=Nguyễn Văn An,O=Sở Thông tin và Truyền thông".into(),
        not_before: START,
        not_after: START.plus(3 * 365 * 86400),
        key_usage: Some("digitalSignature,nonRepudiation".into()),
    };
    let cert = f
        .directory
        .add_certificate(&f.admin, "annv", new.clone())
        .await
        .unwrap();
    assert_eq!(cert.official_id, an.id);
    assert_eq!(cert.fingerprint_sha256.len(), 64);
    let held = f.directory.certificates_of("annv").await.unwrap();
    assert_eq!(held, std::slice::from_ref(&cert));
    assert_eq!(held[0].der, der, "DER bytes stored exactly");

    let err = f
        .directory
        .add_certificate(&f.admin, "binhtt", new.clone())
        .await
        .unwrap_err();
    assert_eq!(
        taken(err),
        (
            UniqueKey::CertificateFingerprint,
            cert.fingerprint_sha256.clone()
        )
    );
    let mut backwards = new;
    backwards.der = vec![1, 2, 3];
    backwards.not_after = UnixTime(0);
    assert!(matches!(
        f.directory
            .add_certificate(&f.admin, "annv", backwards)
            .await,
        Err(DirectoryError::Invalid(_))
    ));

    f.clock.advance(10);
    f.directory
        .revoke_certificate(&f.admin, "annv", &cert.fingerprint_sha256)
        .await
        .unwrap();
    assert_eq!(
        f.directory.certificates_of("annv").await.unwrap()[0].revoked_at,
        Some(START.plus(10))
    );
    let again = f
        .directory
        .revoke_certificate(&f.admin, "annv", &cert.fingerprint_sha256)
        .await
        .unwrap_err();
    assert!(matches!(
        again,
        DirectoryError::NotFound {
            kind: EntityKind::Certificate,
            ..
        }
    ));
}

async fn failed_changes_leave_no_audit_row_and_no_version_bump(backend: Backend) {
    let Some(f) = Fixture::with_province(backend).await else {
        return;
    };
    let before_version = f.directory.version().await.unwrap();
    let before_rows = f.directory.audit_log(None).await.unwrap().len();
    assert_eq!(
        before_rows as i64, before_version,
        "one version per audited change"
    );

    f.official("annv", "Nguyễn Văn An").await;
    assert_eq!(f.directory.version().await.unwrap(), before_version + 1);
    assert_eq!(
        f.directory.audit_log(None).await.unwrap().len(),
        before_rows + 1
    );

    // The official row is inserted, then the address collides: all of it rolls back.
    let mut collides = new_official("annv2", "Nguyễn Văn An", "stttt");
    collides.primary_address = "annv@vinhphuc.gov.vn".into();
    f.directory
        .add_official(&f.admin, collides)
        .await
        .unwrap_err();
    assert_eq!(f.directory.version().await.unwrap(), before_version + 1);
    assert_eq!(
        f.directory.audit_log(None).await.unwrap().len(),
        before_rows + 1
    );
    assert!(f.directory.official("annv2").await.is_err());

    // A transaction dropped before commit leaves neither the change nor its audit row.
    {
        let mut tx = f.store.begin().await.unwrap();
        let record = congvu::directory::AuditRecord {
            actor: "test".into(),
            action: "domain.add".into(),
            target: "domain:uncommitted.gov.vn".into(),
            before: None,
            after: None,
        };
        tx.record_change(&record, START).await.unwrap();
    }
    assert_eq!(f.directory.version().await.unwrap(), before_version + 1);
    assert!(f
        .directory
        .audit_log(Some("domain:uncommitted.gov.vn"))
        .await
        .unwrap()
        .is_empty());
}

async fn passwords_are_stored_with_cost_class(backend: Backend) {
    let Some(f) = Fixture::with_province(backend).await else {
        return;
    };
    f.official("annv", "Nguyễn Văn An").await;
    assert_eq!(f.directory.official("annv").await.unwrap().password, None);
    let hasher = PasswordHasher::new(Argon2Cost::INITIAL);
    let initial = congvu::directory::generate_initial_password();
    let stored = StoredPassword {
        hash: hasher.hash(&initial, PasswordCost::Initial).unwrap(),
        cost: PasswordCost::Initial,
        must_change: true,
    };
    f.directory
        .set_password(&f.admin, "annv", stored.clone())
        .await
        .unwrap();
    let read = f
        .directory
        .official("annv")
        .await
        .unwrap()
        .password
        .unwrap();
    assert_eq!(read, stored);
    assert!(hasher.verify(&initial, &read.hash));
    assert!(!hasher.verify("wrong", &read.hash));
    let audit = f.directory.audit_log(Some("official:annv")).await.unwrap();
    let last = audit.last().unwrap();
    assert_eq!(last.record.action, "official.password");
    assert_eq!(
        last.record.after.as_deref(),
        Some(r#"{"cost":"initial","must_change":true}"#)
    );
    assert!(
        !last.record.after.as_deref().unwrap().contains("argon2"),
        "hash leaked into the audit log"
    );
}

async fn the_snapshot_holds_every_official_once_by_login_without_credentials(backend: Backend) {
    let Some(f) = Fixture::with_province(backend).await else {
        return;
    };
    for (login, name) in [
        ("thuptm", "Phạm Thị Minh Thu"),
        ("annv", "Nguyễn Văn An"),
        ("binhtt", "Trần Thị Bình"),
    ] {
        f.official(login, name).await;
    }
    f.directory
        .add_alias(&f.admin, "annv", "an.nguyen@vinhphuc.gov.vn")
        .await
        .unwrap();
    f.directory
        .set_official_status(&f.admin, "binhtt", OfficialStatus::Disabled)
        .await
        .unwrap();
    let hasher = PasswordHasher::new(Argon2Cost::INITIAL);
    let stored = StoredPassword {
        hash: hasher
            .hash("Mat-khau-2026!", PasswordCost::Initial)
            .unwrap(),
        cost: PasswordCost::Initial,
        must_change: true,
    };
    f.directory
        .set_password(&f.admin, "thuptm", stored)
        .await
        .unwrap();
    assert!(f
        .directory
        .official("thuptm")
        .await
        .unwrap()
        .password
        .is_some());

    let snapshot = f.directory.snapshot().await.unwrap();
    let logins: Vec<&str> = snapshot
        .officials
        .iter()
        .map(|c| c.official.login.as_str())
        .collect();
    assert_eq!(logins, ["annv", "binhtt", "thuptm"], "each once, by login");
    let an = &snapshot.officials[0];
    assert_eq!(an.aliases, ["an.nguyen@vinhphuc.gov.vn"]);
    assert_eq!(an.official.primary_address, "annv@vinhphuc.gov.vn");
    assert_eq!(
        snapshot.officials[1].official.status,
        OfficialStatus::Disabled
    );
    assert!(
        snapshot
            .officials
            .iter()
            .all(|c| c.official.password.is_none()),
        "no view reads credentials, so the snapshot holds none"
    );
    assert_eq!(snapshot.local_changes, f.directory.local_changes());
    assert_eq!(snapshot.version, f.directory.version().await.unwrap());
}
