//! Directory operations on the mail domains congvu serves.

use serde_json::json;

use super::{
    name_taken, normalize_domain, required_attribute, Actor, Directory, DirectoryError, MailDomain,
    NewDomain,
};
use crate::store::UniqueKey;

impl Directory {
    /// Adds a mail domain.
    pub async fn add_domain(
        &self,
        actor: &Actor,
        new: NewDomain,
    ) -> Result<MailDomain, DirectoryError> {
        let name = normalize_domain(&new.name)?;
        if new.default_quota_bytes <= 0 || new.max_message_bytes <= 0 {
            return Err(DirectoryError::Invalid(
                "the default quota and the message size limit must be positive".into(),
            ));
        }
        let now = self.now();
        let mut domain = MailDomain {
            id: super::DomainId(0),
            name,
            is_primary: new.is_primary,
            default_quota_bytes: new.default_quota_bytes,
            max_message_bytes: new.max_message_bytes,
            address_rule: required_attribute("address rule", &new.address_rule)?,
            dkim_selector: None,
            require_tls_outbound: false,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.store.begin().await?;
        domain.id = tx.insert_domain(&domain).await.map_err(|e| {
            name_taken(
                e.into(),
                &[
                    (UniqueKey::DomainName, &domain.name),
                    (UniqueKey::PrimaryDomain, &domain.name),
                ],
            )
        })?;
        let after = json!({ "name": domain.name, "primary": domain.is_primary });
        self.commit_change(
            tx,
            actor,
            "domain.add",
            format!("domain:{}", domain.name),
            None,
            Some(after),
        )
        .await?;
        Ok(domain)
    }

    /// Every domain, primary first.
    pub async fn domains(&self) -> Result<Vec<MailDomain>, DirectoryError> {
        Ok(self.read().await?.domains().await?)
    }
}
