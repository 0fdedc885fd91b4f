//! Directory operations on groups, service accounts and certificates.

use serde_json::json;
use sha2::{Digest, Sha256};

use super::official_ops::official_in;
use super::tree_ops::agency_in;
use super::{
    name_taken, normalize_login, not_found, optional_attribute, required_attribute, Actor,
    AddressOwner, Certificate, CertificateId, Directory, DirectoryError, Group, GroupId,
    GroupMember, NewCertificate, NewGroup, NewServiceAccount, Official, OfficialStatus,
    PasswordHash, ServiceAccount, ServiceAccountId,
};
use crate::model::EntityKind;
use crate::store::{Conn, UniqueKey};

/// A group member named the way administrators name them.
#[derive(Debug, Clone)]
pub enum MemberName {
    /// An official, by login.
    Official(String),
    /// A nested group, by name.
    Group(String),
}

impl Directory {
    /// Adds a group or distribution list, with its address when given.
    pub async fn add_group(&self, actor: &Actor, new: NewGroup) -> Result<Group, DirectoryError> {
        let name = normalize_login(&new.name).map_err(|_| {
            DirectoryError::Invalid(format!(
                "\"{}\" is not a group name: use letters, digits, '.', '-' or '_'",
                new.name
            ))
        })?;
        let mut tx = self.store.begin().await?;
        let agency_id = match &new.agency_code {
            Some(code) => Some(agency_in(&mut tx, code).await?.id),
            None => None,
        };
        let now = self.now();
        let mut group = Group {
            id: GroupId(0),
            uuid: Self::new_uuid(),
            name,
            display_name: required_attribute("group display name", &new.display_name)?,
            description: optional_attribute("description", new.description.as_deref())?,
            kind: new.kind,
            agency_id,
            created_at: now,
            updated_at: now,
        };
        group.id = tx
            .insert_group(&group)
            .await
            .map_err(|e| name_taken(e.into(), &[(UniqueKey::GroupName, &group.name)]))?;
        let address = match &new.address {
            Some(a) => Some(
                self.claim_address(&mut tx, a, AddressOwner::Group(group.id), false)
                    .await?,
            ),
            None => None,
        };
        let after = json!({ "name": group.name, "kind": group.kind.as_str(), "address": address });
        self.commit_change(
            tx,
            actor,
            "group.add",
            format!("group:{}", group.name),
            None,
            Some(after),
        )
        .await?;
        Ok(group)
    }

    /// The group called `name`.
    pub async fn group(&self, name: &str) -> Result<Group, DirectoryError> {
        group_in(&mut self.read().await?, name).await
    }

    /// Adds a direct member to a group; nesting a group inside itself (directly or through
    /// others) is refused.
    pub async fn add_group_member(
        &self,
        actor: &Actor,
        group: &str,
        member: &MemberName,
    ) -> Result<(), DirectoryError> {
        let mut tx = self.store.begin().await?;
        let group = group_in(&mut tx, group).await?;
        let (resolved, label) = resolve_member(&mut tx, member).await?;
        if let GroupMember::Group(inner) = resolved {
            if inner == group.id
                || tx
                    .groups_containing(GroupMember::Group(group.id))
                    .await?
                    .iter()
                    .any(|g| g.id == inner)
            {
                return Err(DirectoryError::Invalid(format!(
                    "cannot add {label} to {}: it would contain itself",
                    group.name
                )));
            }
        }
        tx.insert_group_member(group.id, resolved)
            .await
            .map_err(|e| name_taken(e.into(), &[(UniqueKey::GroupMember, &label)]))?;
        let after = json!({ "member": label });
        self.commit_change(
            tx,
            actor,
            "group.add_member",
            format!("group:{}", group.name),
            None,
            Some(after),
        )
        .await
    }

    /// Removes a direct member from a group.
    pub async fn remove_group_member(
        &self,
        actor: &Actor,
        group: &str,
        member: &MemberName,
    ) -> Result<(), DirectoryError> {
        let mut tx = self.store.begin().await?;
        let group = group_in(&mut tx, group).await?;
        let (resolved, label) = resolve_member(&mut tx, member).await?;
        if !tx.delete_group_member(group.id, resolved).await? {
            return Err(not_found(EntityKind::Member, &label));
        }
        let before = json!({ "member": label });
        self.commit_change(
            tx,
            actor,
            "group.remove_member",
            format!("group:{}", group.name),
            Some(before),
            None,
        )
        .await
    }

    /// The direct members of a group.
    pub async fn group_members(&self, group: &str) -> Result<Vec<GroupMember>, DirectoryError> {
        let mut conn = self.read().await?;
        let group = group_in(&mut conn, group).await?;
        Ok(conn.group_members(group.id).await?)
    }

    /// Every official in a group, through nested groups, each once.
    pub async fn expand_group(&self, group: &str) -> Result<Vec<Official>, DirectoryError> {
        let mut conn = self.read().await?;
        let group = group_in(&mut conn, group).await?;
        Ok(conn.officials_in_group(group.id).await?)
    }

    /// The names of every group `login` belongs to, directly or through nesting.
    pub async fn groups_of_official(&self, login: &str) -> Result<Vec<String>, DirectoryError> {
        let mut conn = self.read().await?;
        let official = official_in(&mut conn, login).await?;
        let groups = conn
            .groups_containing(GroupMember::Official(official.id))
            .await?;
        Ok(groups.into_iter().map(|g| g.name).collect())
    }

    /// Adds a service account with an already hashed secret.
    pub async fn add_service_account(
        &self,
        actor: &Actor,
        new: NewServiceAccount,
        secret: PasswordHash,
    ) -> Result<ServiceAccount, DirectoryError> {
        let name = normalize_login(&new.name)?;
        let mut tx = self.store.begin().await?;
        let scope = match &new.scope_agency_code {
            Some(code) => Some(agency_in(&mut tx, code).await?),
            None => None,
        };
        let now = self.now();
        let mut account = ServiceAccount {
            id: ServiceAccountId(0),
            uuid: Self::new_uuid(),
            name,
            description: optional_attribute("description", new.description.as_deref())?,
            password_hash: secret,
            scope_agency_id: scope.as_ref().map(|a| a.id),
            may_reset_passwords: new.may_reset_passwords,
            status: OfficialStatus::Active,
            created_at: now,
            updated_at: now,
        };
        account.id = tx
            .insert_service_account(&account)
            .await
            .map_err(|e| name_taken(e.into(), &[(UniqueKey::ServiceAccountName, &account.name)]))?;
        let after = json!({
            "name": account.name,
            "scope": scope.map(|a| a.code),
            "may_reset_passwords": account.may_reset_passwords,
        });
        self.commit_change(
            tx,
            actor,
            "service.add",
            format!("service:{}", account.name),
            None,
            Some(after),
        )
        .await?;
        Ok(account)
    }

    /// The service account called `name`, if any.
    pub async fn service_account(
        &self,
        name: &str,
    ) -> Result<Option<ServiceAccount>, DirectoryError> {
        Ok(self
            .read()
            .await?
            .service_account_by_name(&name.trim().to_ascii_lowercase())
            .await?)
    }

    /// Every service account.
    pub async fn service_accounts(&self) -> Result<Vec<ServiceAccount>, DirectoryError> {
        Ok(self.read().await?.service_accounts().await?)
    }

    /// Removes a service account.
    pub async fn remove_service_account(
        &self,
        actor: &Actor,
        name: &str,
    ) -> Result<(), DirectoryError> {
        let name = name.trim().to_ascii_lowercase();
        let mut tx = self.store.begin().await?;
        let account = tx
            .service_account_by_name(&name)
            .await?
            .ok_or_else(|| not_found(EntityKind::ServiceAccount, &name))?;
        tx.delete_service_account(account.id).await?;
        let before = json!({ "name": account.name });
        self.commit_change(
            tx,
            actor,
            "service.remove",
            format!("service:{}", account.name),
            Some(before),
            None,
        )
        .await
    }

    /// Attaches a certificate to `login`; the same certificate cannot be held twice.
    pub async fn add_certificate(
        &self,
        actor: &Actor,
        login: &str,
        new: NewCertificate,
    ) -> Result<Certificate, DirectoryError> {
        if new.not_after <= new.not_before {
            return Err(DirectoryError::Invalid(
                "the certificate's validity ends before it starts".into(),
            ));
        }
        let mut tx = self.store.begin().await?;
        let official = official_in(&mut tx, login).await?;
        let mut cert = Certificate {
            id: CertificateId(0),
            official_id: official.id,
            fingerprint_sha256: hex::encode(Sha256::digest(&new.der)),
            der: new.der,
            serial: new.serial,
            issuer: new.issuer,
            subject: new.subject,
            not_before: new.not_before,
            not_after: new.not_after,
            key_usage: new.key_usage,
            revoked_at: None,
            created_at: self.now(),
        };
        cert.id = tx.insert_certificate(&cert).await.map_err(|e| {
            name_taken(
                e.into(),
                &[(UniqueKey::CertificateFingerprint, &cert.fingerprint_sha256)],
            )
        })?;
        let after = json!({ "serial": cert.serial, "fingerprint": cert.fingerprint_sha256, "not_after": cert.not_after.0 });
        self.commit_change(
            tx,
            actor,
            "certificate.add",
            format!("official:{}", official.login),
            None,
            Some(after),
        )
        .await?;
        Ok(cert)
    }

    /// The certificates held by `login`, newest validity first.
    pub async fn certificates_of(&self, login: &str) -> Result<Vec<Certificate>, DirectoryError> {
        let mut conn = self.read().await?;
        let official = official_in(&mut conn, login).await?;
        Ok(conn.certificates_of(official.id).await?)
    }

    /// Marks one of `login`'s certificates revoked.
    pub async fn revoke_certificate(
        &self,
        actor: &Actor,
        login: &str,
        fingerprint: &str,
    ) -> Result<(), DirectoryError> {
        let fingerprint = fingerprint.trim().to_ascii_lowercase();
        let mut tx = self.store.begin().await?;
        let official = official_in(&mut tx, login).await?;
        let cert = tx
            .certificates_of(official.id)
            .await?
            .into_iter()
            .find(|c| c.fingerprint_sha256 == fingerprint && c.revoked_at.is_none())
            .ok_or_else(|| not_found(EntityKind::Certificate, &fingerprint))?;
        self.commit_revocation(tx, actor, &official.login, &cert)
            .await
    }

    /// Revokes `cert`, held by `login`, in `tx`, and commits it with its audit row.
    pub(super) async fn commit_revocation(
        &self,
        mut tx: Conn,
        actor: &Actor,
        login: &str,
        cert: &Certificate,
    ) -> Result<(), DirectoryError> {
        tx.revoke_certificate(cert.id, self.now()).await?;
        let after = json!({ "revoked": cert.fingerprint_sha256 });
        self.commit_change(
            tx,
            actor,
            "certificate.revoke",
            format!("official:{login}"),
            None,
            Some(after),
        )
        .await
    }
}

async fn group_in(conn: &mut Conn, name: &str) -> Result<Group, DirectoryError> {
    let name = name.trim().to_ascii_lowercase();
    conn.group_by_name(&name)
        .await?
        .ok_or_else(|| not_found(EntityKind::Group, &name))
}

async fn resolve_member(
    conn: &mut Conn,
    member: &MemberName,
) -> Result<(GroupMember, String), DirectoryError> {
    Ok(match member {
        MemberName::Official(login) => {
            let o = official_in(conn, login).await?;
            (GroupMember::Official(o.id), format!("official:{}", o.login))
        }
        MemberName::Group(name) => {
            let g = group_in(conn, name).await?;
            (GroupMember::Group(g.id), format!("group:{}", g.name))
        }
    })
}
