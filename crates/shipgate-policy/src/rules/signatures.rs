//! SG0701, SG0702: releases carry a signature by a trusted key.

use super::Context;
use crate::catalog::{SIGNATURE_MISMATCH, UNSIGNED_RELEASE};
use crate::facts::SignatureCheck;
use crate::finding::Finding;

/// SG0701: production runs signed releases only.
pub(super) fn unsigned(context: &Context<'_>, out: &mut Vec<Finding>) {
    if context.facts.release.signature.is_some() {
        return;
    }
    let Some(severity) = context.severity(&UNSIGNED_RELEASE) else { return };
    out.push(Finding::new(
        &UNSIGNED_RELEASE,
        severity,
        format!("release `{}` is not signed, and `{}` runs signed releases only", context.version(), context.env_name()),
        "`shipgate keys generate`, add the public key to `[artifact] trusted_keys`, and create the release again with `shipgate release create --sign shipgate.key`",
        context.at(&["artifact"]),
    ));
}

/// SG0702: a signature that does not verify with a trusted key.
pub(super) fn mismatch(context: &Context<'_>, out: &mut Vec<Finding>) {
    let Some(SignatureCheck::Invalid { reason }) = &context.facts.release.signature else { return };
    let Some(severity) = context.severity(&SIGNATURE_MISMATCH) else { return };
    out.push(Finding::new(
        &SIGNATURE_MISMATCH,
        severity,
        format!("the signature of release `{}` does not verify: {reason}", context.version()),
        "find out how the artifact or the key changed; create the release again from a trusted build, signed with a key in `[artifact] trusted_keys`",
        context.at(&["artifact", "trusted_keys"]),
    ));
}
