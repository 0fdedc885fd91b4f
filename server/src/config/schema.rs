//! Which sections and keys exist. The lists are read from the structs' derived
//! `Deserialize`, so the "valid keys" in messages can never drift from the structs.
//! Checking names here, before deserializing, gives one message form for the file and
//! the environment alike.

use serde::de::{DeserializeOwned, Visitor};

use super::document::Locator;
use super::{
    AuthConfig, BackupConfig, CertificatesConfig, Config, ConfigError, DatabaseConfig, DnsConfig,
    FilterConfig, HttpConfig, ImapConfig, InboundConfig, LdapConfig, LimitsConfig, QueueConfig,
    ServerConfig, SmtpConfig, TlsConfig,
};

/// The section names, in the order `Config` declares them.
pub(super) fn sections() -> &'static [&'static str] {
    field_names::<Config>()
}

/// The keys of one section, or `None` if there is no such section.
pub(super) fn section_keys(section: &str) -> Option<&'static [&'static str]> {
    Some(match section {
        "server" => field_names::<ServerConfig>(),
        "database" => field_names::<DatabaseConfig>(),
        "tls" => field_names::<TlsConfig>(),
        "smtp" => field_names::<SmtpConfig>(),
        "imap" => field_names::<ImapConfig>(),
        "ldap" => field_names::<LdapConfig>(),
        "http" => field_names::<HttpConfig>(),
        "limits" => field_names::<LimitsConfig>(),
        "auth" => field_names::<AuthConfig>(),
        "queue" => field_names::<QueueConfig>(),
        "certificates" => field_names::<CertificatesConfig>(),
        "inbound" => field_names::<InboundConfig>(),
        "dns" => field_names::<DnsConfig>(),
        "filter" => field_names::<FilterConfig>(),
        "filter.rspamd" => field_names::<super::RspamdSettings>(),
        "filter.clamav" => field_names::<super::ClamavSettings>(),
        "backup" => field_names::<BackupConfig>(),
        "sieve" => field_names::<super::SieveConfig>(),
        _ => return None,
    })
}

/// Rejects the first unknown section or key, saying which names are valid.
pub(super) fn check_known_keys(locator: &Locator<'_>) -> Result<(), ConfigError> {
    for placed in locator.placed() {
        let message = match placed.path.rsplit_once('.') {
            None => unknown_section(&placed.path, placed.is_table),
            Some((section, key)) => unknown_key(section, key),
        };
        if let Some(message) = message {
            return Err(ConfigError {
                location: locator.of(placed),
                message,
            });
        }
    }
    Ok(())
}

fn unknown_section(name: &str, is_table: bool) -> Option<String> {
    if section_keys(name).is_some() {
        return None;
    }
    let valid = sections().join(", ");
    Some(if is_table {
        format!("unknown section [{name}]; valid sections: {valid}")
    } else {
        format!("unknown key `{name}` outside any section; keys belong in a section: {valid}")
    })
}

fn unknown_key(section: &str, key: &str) -> Option<String> {
    // An unknown section has been reported already, on its own line.
    let keys = section_keys(section)?;
    (!keys.contains(&key)).then(|| {
        format!(
            "unknown key `{key}` in [{section}]; valid keys: {}",
            keys.join(", ")
        )
    })
}

/// The field names serde's derive hands to `deserialize_struct`.
fn field_names<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    // The probe always fails, on purpose: all it wants is what `deserialize_struct` was told.
    let _ = T::deserialize(FieldProbe(&mut fields));
    fields
}

/// A deserializer that records a struct's field names instead of producing a value.
struct FieldProbe<'a>(&'a mut &'static [&'static str]);

impl<'de> serde::Deserializer<'de> for FieldProbe<'_> {
    type Error = serde::de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(serde::de::Error::custom("not a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = fields;
        Err(serde::de::Error::custom("field names recorded"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
        identifier ignored_any
    }
}
