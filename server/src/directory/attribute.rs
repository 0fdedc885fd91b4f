//! Checks applied to every free-text attribute an administrator supplies (names, titles,
//! phones), so that nothing stored can later break a mail header or an LDIF line.

use super::DirectoryError;

/// Longest free-text attribute accepted, in characters.
pub const MAX_ATTRIBUTE_CHARS: usize = 256;

/// Trims `value` and refuses control characters (CR and LF included) and over-long text.
/// `field` names the attribute in the error so the administrator knows what to fix.
pub fn attribute_value(field: &str, value: &str) -> Result<String, DirectoryError> {
    let trimmed = value.trim();
    if let Some(c) = trimmed.chars().find(|c| c.is_control()) {
        return Err(DirectoryError::Invalid(format!(
            "{field} contains the control character U+{:04X}: remove it",
            c as u32
        )));
    }
    if trimmed.chars().count() > MAX_ATTRIBUTE_CHARS {
        return Err(DirectoryError::Invalid(format!(
            "{field} is longer than {MAX_ATTRIBUTE_CHARS} characters"
        )));
    }
    Ok(trimmed.to_string())
}

/// Like [`attribute_value`], but an empty value becomes `None`.
pub fn optional_attribute(
    field: &str,
    value: Option<&str>,
) -> Result<Option<String>, DirectoryError> {
    match value {
        None => Ok(None),
        Some(v) => {
            let checked = attribute_value(field, v)?;
            Ok((!checked.is_empty()).then_some(checked))
        }
    }
}

/// Like [`attribute_value`], but an empty value is an error.
pub fn required_attribute(field: &str, value: &str) -> Result<String, DirectoryError> {
    let checked = attribute_value(field, value)?;
    if checked.is_empty() {
        return Err(DirectoryError::Invalid(format!(
            "{field} must not be empty"
        )));
    }
    Ok(checked)
}
