//! Secrets the directory makes: an official's initial password when they are added or
//! reset, and a service account's secret. Each is generated here, hashed at the cost its
//! kind calls for, stored, and handed back once to whoever asked: it is kept nowhere but as
//! its hash. The admin CLI, the portal and the migration tools all come through here, so the
//! rules are the same whoever adds an official.

use super::{
    generate_initial_password, Actor, Directory, DirectoryError, NewOfficial, NewServiceAccount,
    Official, PasswordCost, PasswordHasher, ServiceAccount, StoredPassword,
};

/// A generated initial password, stored at the initial cost (it is random, and it opens
/// only the choice of the official's own password, which gets the full cost).
async fn initial_password(
    hasher: &PasswordHasher,
) -> Result<(String, StoredPassword), DirectoryError> {
    let initial = generate_initial_password();
    let hash = hasher
        .hash_off_thread(initial.clone(), PasswordCost::Initial)
        .await?;
    let stored = StoredPassword {
        hash,
        cost: PasswordCost::Initial,
        must_change: true,
    };
    Ok((initial, stored))
}

impl Directory {
    /// The address an official gets when none is given: their login at the primary domain;
    /// `None` while no domain is primary.
    pub async fn default_address(&self, login: &str) -> Result<Option<String>, DirectoryError> {
        let domains = self.domains().await?;
        Ok(domains
            .iter()
            .find(|d| d.is_primary)
            .map(|primary| format!("{}@{}", login.trim().to_ascii_lowercase(), primary.name)))
    }

    /// Adds an official with a generated initial password, which must be changed at the first
    /// sign-in; returns the official and the password, to be shown once. A password already in
    /// `new` is replaced.
    pub async fn onboard_official(
        &self,
        actor: &Actor,
        mut new: NewOfficial,
        hasher: &PasswordHasher,
    ) -> Result<(Official, String), DirectoryError> {
        let (initial, stored) = initial_password(hasher).await?;
        new.password = Some(stored);
        let official = self.add_official(actor, new).await?;
        Ok((official, initial))
    }

    /// Gives `login` a new generated initial password, which must be changed at the next
    /// sign-in, and returns it, to be shown once.
    pub async fn issue_initial_password(
        &self,
        actor: &Actor,
        login: &str,
        hasher: &PasswordHasher,
    ) -> Result<String, DirectoryError> {
        let (initial, stored) = initial_password(hasher).await?;
        self.set_password(actor, login, stored).await?;
        Ok(initial)
    }

    /// Adds a service account with a generated secret and returns both; the secret is shown
    /// once, to be put in the other system's LDAP settings. Two generated passwords make it:
    /// about 230 random bits, typed by no one, hashed at the full cost all the same (a
    /// service account never changes it at a first sign-in).
    pub async fn create_service_account(
        &self,
        actor: &Actor,
        new: NewServiceAccount,
        hasher: &PasswordHasher,
    ) -> Result<(ServiceAccount, String), DirectoryError> {
        let secret = format!(
            "{}{}",
            generate_initial_password(),
            generate_initial_password()
        );
        let hash = hasher
            .hash_off_thread(secret.clone(), PasswordCost::Full)
            .await?;
        let account = self.add_service_account(actor, new, hash).await?;
        Ok((account, secret))
    }
}
