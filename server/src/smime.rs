//! S/MIME signature classification of submitted mail: whether a message is signed, and if so
//! whether the signature verifies with one of the sender's directory certificates. Pure
//! functions of the message bytes and the certificates' DER: which certificates are valid
//! (time, revocation) is the caller's decision, and where the class is kept is SMTP's.
//!
//! `form` finds the S/MIME shape (RFC 8551 §3.5), `ber` turns streamed BER into the DER the
//! `cms` decoder reads, `certificate` reads the directory certificates, `verify` checks the
//! SignedData (RFC 5652 §5).

pub(crate) mod ber;
pub(crate) mod certificate;
mod form;
pub(crate) mod verify;

#[cfg(test)]
mod tests;

pub use crate::mailstore::message::Signing;

use certificate::SignerCertificate;
use form::Form;
use verify::Outcome;

/// Classifies `message` (the RFC 5322 bytes as submitted, CRLF line ends) against
/// `certificates`: the DER of the sender's directory certificates that are valid now.
///
/// `Verified` when an S/MIME signature at the top level of the message (multipart/signed or
/// application/pkcs7-mime signed-data) verifies with one of `certificates`, named by the
/// signature itself; `Unverified` when the message is S/MIME-signed but no signature
/// verifies, the content was altered, the signer is not among `certificates`, or the
/// signature cannot be read; `Unsigned` otherwise (including encrypted-only and PGP/MIME
/// mail). Never panics on hostile input.
pub fn classify(message: &[u8], certificates: &[&[u8]]) -> Signing {
    let (cms, detached, declared) = match form::form(message) {
        Form::Unsigned => return Signing::Unsigned,
        Form::Unreadable => return Signing::Unverified,
        Form::Detached { content, signature } => (signature, Some(content), true),
        Form::Opaque { cms, declared } => (cms, None, declared),
    };
    let Some(der) = ber::content_info_der(&cms) else {
        return if declared {
            Signing::Unverified
        } else {
            // An application/pkcs7-mime without smime-type whose body is not even BER:
            // nothing says it was meant as a signature.
            Signing::Unsigned
        };
    };
    let signers: Vec<SignerCertificate> = certificates
        .iter()
        .filter_map(|der| SignerCertificate::read(der))
        .collect();
    match verify::verify(&der, detached, &signers) {
        Outcome::Verified => Signing::Verified,
        Outcome::Failed => Signing::Unverified,
        Outcome::NotSigned if declared => Signing::Unverified,
        Outcome::NotSigned => Signing::Unsigned,
    }
}
