//! Directory operations on service accounts: the other systems that bind to LDAP to look
//! officials up (their secrets are made in `secrets.rs`).

use serde_json::json;

use super::agency_ops::agency_in;
use super::{
    name_taken, normalize_login, not_found, optional_attribute, Actor, Directory, DirectoryError,
    NewServiceAccount, OfficialStatus, PasswordHash, ServiceAccount, ServiceAccountId,
};
use crate::model::EntityKind;
use crate::store::UniqueKey;

impl Directory {
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
}
