//! What to do next after a failure: the directory says what went wrong in domain terms,
//! and this module adds the command that helps, in one place for every command.

use congvu::directory::{DirectoryError, EntityKind};
use congvu::queue::QueueError;
use congvu::store::UniqueKey;

/// The advice to print after `error`, if there is one.
pub fn next_step(error: &anyhow::Error) -> Option<String> {
    if let Some(QueueError::NotFound(_)) = error.downcast_ref::<QueueError>() {
        return Some("see the entries with `congvu-admin queue list`".to_string());
    }
    let advice = match error.downcast_ref::<DirectoryError>()? {
        DirectoryError::NotFound { kind, .. } => match kind {
            EntityKind::Official => "check the login with `congvu-admin user list`",
            EntityKind::Agency => "check the code with `congvu-admin agency list`",
            EntityKind::Group => "check the name with `congvu-admin group list`",
            EntityKind::ServiceAccount => "check the name with `congvu-admin service list`",
            EntityKind::Domain => "check the name with `congvu-admin domain list`",
            EntityKind::Alias => "see the official's addresses with `congvu-admin user show LOGIN`",
            EntityKind::Member => "see the members with `congvu-admin group members NAME`",
            EntityKind::Certificate => "see the certificates with `congvu-admin cert list`",
        },
        DirectoryError::Taken { what, .. } => match what {
            UniqueKey::Login => {
                "choose another login; `congvu-admin user show LOGIN` shows who holds it"
            }
            UniqueKey::Address | UniqueKey::OfficialPrimaryAddress => {
                "choose another address: an official, a group or an agency already receives mail there"
            }
            UniqueKey::HrId => {
                "each employee id belongs to one official: find them with `congvu-admin user list --json`"
            }
            UniqueKey::AgencyCode => "choose another code, or see it with `congvu-admin agency show CODE`",
            UniqueKey::GroupName => "choose another name, or see it with `congvu-admin group members NAME`",
            UniqueKey::GroupMember => "nothing to do: it is already a member",
            UniqueKey::CertificateFingerprint => {
                "nothing to do: it is already in the directory; `congvu-admin cert list` shows who holds it"
            }
            UniqueKey::ServiceAccountName => "choose another name, or see `congvu-admin service list`",
            UniqueKey::DomainName | UniqueKey::PrimaryDomain => {
                "see the domains with `congvu-admin domain list`"
            }
            _ => return None,
        },
        DirectoryError::Internal(_) => {
            "this is a fault in congvu, not in your input: run the command again, and if it \
             fails the same way, report it with the message above"
        }
        _ => return None,
    };
    Some(advice.to_string())
}
