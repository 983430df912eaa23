//! Who may read what: handling codes and jurisdiction ([`rules`]), masking of personal data in
//! what is shown ([`mask`]), the read audit ([`Shown`]), and who a client certificate names
//! ([`certified_agency`]) — one module below the gateway and the console, so that both doors
//! apply the same rules.
//!
//! - A **party** to an event — its producer or an agency it was delivered to — reads it in full.
//! - Police and the procuratorate read a **referral** and the events of its case in full when
//!   they are parties to it or it lies in their division subtree.
//! - A **coordinator** reads within its division subtree, masked, unless the handling code keeps
//!   an item to its parties.
//! - Everyone else reads nothing of it.

mod audit;
mod certificate;
pub mod mask;
pub mod rules;

pub use audit::{Shown, unaudited};
pub use certificate::{CertificateRefusal, agency_of_certificate, certified_agency};
pub use rules::{
    Access, Item, access, event_access, is_personal, mask_name, mask_resident_id, may_survey,
    referral_access,
};
