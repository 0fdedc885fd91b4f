//! The out-of-office page: an official turns an automatic reply on and off, with its days,
//! subject and text, without writing Sieve.
//!
//! The setting is a block of the official's active script (`sieve::vacation` writes and reads
//! it), so every rule their mail client keeps there stays as it was; an official with no
//! active script gets one of their own holding just the block. Scripts are read and written
//! through `Scripts` only, which stores a script once it compiles. Turning replies off always
//! works and reads no other field.

use axum::extract::rejection::FormRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;

use super::texts::{out_of_office_refusal, status_line, too_many_scripts};
use super::{forms, page, pages, redirect, unavailable, Answer, Portal, Saved, Visit};
use crate::directory::{OfficialId, PortalSession};
use crate::model::SieveScript;
use crate::sieve::scripts::ScriptsError;
use crate::sieve::vacation::{
    self, iso_day, OutOfOffice, OutOfOfficeError, Standing, MAX_MESSAGE_CHARS, MAX_SUBJECT_CHARS,
};

/// The name of the script made for an official who has no active one.
const OWN_SCRIPT: &str = "congvu";
/// Where the page goes once the setting is saved (it shows a notice).
const SAVED: &str = "/out-of-office?saved=out-of-office";

/// The form's fields as the page shows them.
struct Fields {
    enabled: bool,
    from: String,
    to: String,
    subject: String,
    message: String,
}

impl Fields {
    fn stored(setting: &OutOfOffice) -> Fields {
        Fields {
            enabled: setting.enabled,
            from: setting.from.map(iso_day).unwrap_or_default(),
            to: setting.to.map(iso_day).unwrap_or_default(),
            subject: setting.subject.clone(),
            message: setting.message.clone(),
        }
    }

    fn posted(form: &forms::OutOfOffice) -> Fields {
        Fields {
            enabled: form.enabled.is_some(),
            from: form.from.clone(),
            to: form.to.clone(),
            subject: form.subject.clone(),
            message: form.message.clone(),
        }
    }
}

/// One showing of the page.
struct View<'a> {
    visit: &'a Visit,
    session: &'a PortalSession,
    /// Where the stored setting stands today (not the refused form's).
    standing: Standing,
}

impl View<'_> {
    fn page(&self, status: StatusCode, fields: &Fields, error: Option<(&str, String)>) -> Response {
        let t = self.visit.texts();
        let (error_field, error) = match error {
            Some((field, why)) => (field, Some(why)),
            None => ("", None),
        };
        let saved = self.visit.saved == Some(Saved::OutOfOffice);
        let html = pages::render(&pages::OutOfOfficePage {
            t,
            csrf: &self.session.csrf_token,
            current: "out-of-office",
            notice: saved.then_some(t.out_of_office_saved),
            standing: standing_class(self.standing),
            status: &status_line(self.visit.lang, self.standing),
            enabled: fields.enabled,
            from: &fields.from,
            to: &fields.to,
            subject: &fields.subject,
            message: &fields.message,
            max_subject: MAX_SUBJECT_CHARS,
            max_message: MAX_MESSAGE_CHARS,
            error_field,
            error,
        });
        page(self.visit, status, html, &[])
    }

    /// The form again as it was sent, with why it was refused; nothing was stored.
    fn refused(&self, fields: &Fields, field: &str, why: String) -> Response {
        self.page(StatusCode::UNPROCESSABLE_ENTITY, fields, Some((field, why)))
    }
}

/// `GET /out-of-office`: the setting as stored, or the defaults (off) when there is none.
pub(super) async fn form(State(portal): State<Portal>, visit: Visit) -> Answer {
    let (session, official) = portal.account_session(&visit).await?;
    let active = active_script(&portal, &visit, official.id).await?;
    let stored = active.and_then(|script| vacation::read(&script.text));
    let view = View {
        visit: &visit,
        session: &session,
        standing: standing_of(&portal, stored.as_ref()),
    };
    let fields = Fields::stored(&stored.unwrap_or_default());
    Ok(view.page(StatusCode::OK, &fields, None))
}

/// `POST /out-of-office`: checks the form and stores the setting in the official's script.
pub(super) async fn save(
    State(portal): State<Portal>,
    visit: Visit,
    posted: Result<Form<forms::OutOfOffice>, FormRejection>,
) -> Answer {
    let posted = forms::read(&visit, posted)?;
    let (session, official) = portal.account_session(&visit).await?;
    visit.check_csrf(&session.csrf_token, posted.csrf.as_deref())?;
    let active = active_script(&portal, &visit, official.id).await?;
    let view = View {
        visit: &visit,
        session: &session,
        standing: standing_of(
            &portal,
            active
                .as_ref()
                .and_then(|s| vacation::read(&s.text))
                .as_ref(),
        ),
    };
    let fields = Fields::posted(&posted);
    let setting = match OutOfOffice::from_form(
        fields.enabled,
        &posted.from,
        &posted.to,
        &posted.subject,
        &posted.message,
    ) {
        Ok(setting) => setting,
        Err(why) => {
            let text = out_of_office_refusal(visit.lang, &why);
            return Ok(view.refused(&fields, field_of(why), text));
        }
    };
    match store(&portal, official.id, active, &setting).await {
        Ok(()) => {
            tracing::info!(login = %official.login, enabled = setting.enabled,
                "out-of-office reply saved in the portal");
            Ok(redirect(SAVED, &[]))
        }
        Err(ScriptsError::TooMany) => {
            Ok(view.refused(&fields, "form", too_many_scripts(visit.lang)))
        }
        Err(ScriptsError::Invalid(error)) => {
            tracing::warn!(login = %official.login, %error,
                "the active Sieve script cannot take the out-of-office block");
            let why = visit.texts().script_broken.to_owned();
            Ok(view.refused(&fields, "form", why))
        }
        Err(e) => Err(unavailable(&visit, &e)),
    }
}

/// Where `stored` stands today in Vietnam.
fn standing_of(portal: &Portal, stored: Option<&OutOfOffice>) -> Standing {
    let today = portal.directory().now().in_vietnam().date();
    stored.map_or(Standing::Off, |setting| setting.standing(today))
}

/// The status line's class, which colours it.
fn standing_class(standing: Standing) -> &'static str {
    match standing {
        Standing::On => "on",
        Standing::Off => "off",
        Standing::Starts(_) => "starts",
        Standing::Ended(_) => "ended",
    }
}

/// The field a refusal is shown next to.
fn field_of(why: OutOfOfficeError) -> &'static str {
    match why {
        OutOfOfficeError::BadFrom => "from",
        OutOfOfficeError::BadTo | OutOfOfficeError::EndsBeforeStart => "to",
        OutOfOfficeError::SubjectTooLong => "subject",
        OutOfOfficeError::MessageTooLong | OutOfOfficeError::NoMessage => "message",
    }
}

/// The official's active script, if they have one.
async fn active_script(
    portal: &Portal,
    visit: &Visit,
    official: OfficialId,
) -> Result<Option<SieveScript>, Response> {
    let scripts = portal
        .state
        .scripts
        .list(official)
        .await
        .map_err(|e| unavailable(visit, &e))?;
    Ok(scripts.into_iter().find(|s| s.active))
}

/// Puts the setting into the active script; with none, into a script of the official's own,
/// made active. Nothing is written when nothing changes.
async fn store(
    portal: &Portal,
    official: OfficialId,
    active: Option<SieveScript>,
    setting: &OutOfOffice,
) -> Result<(), ScriptsError> {
    let scripts = &portal.state.scripts;
    if let Some(script) = active {
        let merged = vacation::merge(&script.text, setting);
        if merged != script.text {
            scripts.put(official, &script.name, &merged).await?;
        }
        return Ok(());
    }
    if !setting.enabled {
        return Ok(());
    }
    let name = own_script_name(&scripts.list(official).await?);
    scripts
        .put(official, &name, &vacation::merge("", setting))
        .await?;
    scripts.activate(official, Some(&name)).await
}

/// `congvu`, unless the official keeps a script of that name with rules of their own in it;
/// then the first free `congvu-2`, `congvu-3`…
fn own_script_name(scripts: &[SieveScript]) -> String {
    let taken = |name: &str| {
        scripts.iter().any(|s| {
            s.name == name
                && !vacation::merge(&s.text, &OutOfOffice::default())
                    .trim()
                    .is_empty()
        })
    };
    std::iter::once(OWN_SCRIPT.to_owned())
        .chain((2..).map(|n| format!("{OWN_SCRIPT}-{n}")))
        .find(|name| !taken(name))
        .unwrap_or_else(|| OWN_SCRIPT.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::UnixTime;

    fn script(name: &str, text: &str) -> SieveScript {
        SieveScript {
            name: name.into(),
            text: text.into(),
            active: false,
            updated_at: UnixTime(0),
        }
    }

    #[test]
    fn the_own_script_never_overwrites_rules_of_the_official() {
        assert_eq!(own_script_name(&[]), "congvu");
        let block = vacation::merge("", &OutOfOffice::from_form(true, "", "", "", "x").unwrap());
        assert_eq!(own_script_name(&[script("congvu", &block)]), "congvu");
        assert_eq!(own_script_name(&[script("congvu", "")]), "congvu");
        let rules = [
            script("congvu", "keep;\n"),
            script("congvu-2", "discard;\n"),
        ];
        assert_eq!(own_script_name(&rules), "congvu-3");
    }
}
