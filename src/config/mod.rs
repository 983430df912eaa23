//! Typed configuration, loaded once in layers: built-in defaults → TOML file → `XIEZHI_*`
//! environment → command-line flags → [`Config::validate`]. Unknown keys are errors that name
//! the key and where it came from. Each part of the program receives only its own section.
//!
//! Environment variables name a key by its section and field joined with a double underscore:
//! `XIEZHI_SERVER__GRPC_ADDR=0.0.0.0:50051`, `XIEZHI_VALIDATION__USCC_CHECKSUM=warn`. Values
//! are read as TOML (numbers, booleans) and otherwise as strings. Variables starting with
//! `XIEZHI_TEST_` belong to the test suite and are ignored here.

use std::path::PathBuf;

use crate::domain::rules::RulesError;

mod kafka;
mod load;
mod policy;
mod sections;
mod security;

pub use kafka::{KafkaConfig, KafkaProtocol, SaslMechanism, Secret};
pub use policy::parse_registry;
pub use sections::*;
pub use security::{SecurityConfig, fingerprint};

/// The sample registry of one city (Hangzhou: the city and three districts), built in so that
/// `xiezhi demo` and a first `xiezhi serve` work with no setup. Also at `deploy/registry.toml`.
pub const SAMPLE_REGISTRY: &str = include_str!("../../deploy/registry.toml");
/// The shipped prosecution thresholds (`rules/thresholds.toml`).
pub const BUILTIN_THRESHOLDS: &str = include_str!("../../rules/thresholds.toml");
/// The shipped inspection items and caps (`rules/inspection-items.toml`).
pub const BUILTIN_INSPECTION_ITEMS: &str = include_str!("../../rules/inspection-items.toml");
/// The shipped procedure figures (`rules/procedure.toml`).
pub const BUILTIN_PROCEDURE: &str = include_str!("../../rules/procedure.toml");
/// The shipped 首违不罚 lists (`rules/exemptions.toml`).
pub const BUILTIN_EXEMPTIONS: &str = include_str!("../../rules/exemptions.toml");
/// The shipped discretion bands (`rules/discretion.toml`).
pub const BUILTIN_DISCRETION: &str = include_str!("../../rules/discretion.toml");

/// Configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file or the environment does not match the schema (unknown key, wrong type).
    #[error("{origin}: {message}")]
    Parse {
        /// Where: a file path or "XIEZHI_* environment".
        origin: String,
        /// The parser's message, naming the key.
        message: String,
    },
    /// A value is out of range.
    #[error("config key {key}: {message}")]
    Invalid {
        /// Dotted key.
        key: &'static str,
        /// Why.
        message: String,
    },
    /// A rule file is not usable.
    #[error(transparent)]
    Rules(#[from] RulesError),
    /// The registry file is not usable.
    #[error("registry {origin}: {message}")]
    Registry {
        /// File path or "built-in sample".
        origin: String,
        /// Why.
        message: String,
    },
}
