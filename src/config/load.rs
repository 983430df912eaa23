//! Loading in layers — defaults, the TOML file, `XIEZHI_*` variables — and the range checks
//! that follow the last override.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{BusKind, Config, ConfigError};

/// The configuration's sections: the first word of every configuration variable.
const SECTIONS: [&str; 11] = [
    "server",
    "store",
    "bus",
    "router",
    "validation",
    "registry",
    "rules",
    "calendar",
    "alerts",
    "security",
    "log",
];

impl Config {
    /// Loads defaults, then `file` if given, then `XIEZHI_*` variables from `env`.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut table = toml::Table::new();
        let mut base_dir = PathBuf::from(".");
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?;
            table = toml::from_str(&text).map_err(|e| ConfigError::Parse {
                origin: path.display().to_string(),
                message: e.to_string(),
            })?;
            // Check the file alone first, so its mistakes are reported against it.
            Self::from_table(table.clone(), &path.display().to_string())?;
            base_dir = path.parent().map(Path::to_owned).unwrap_or(base_dir);
        }
        let mut from_env: Vec<String> = Vec::new();
        for (name, value) in env {
            let Some(key) = name.strip_prefix("XIEZHI_") else {
                continue;
            };
            // One rule: the configuration's variables are XIEZHI_<SECTION>__<KEY>. Variables
            // without the double underscore belong to the tools (`xiezhi publish`'s
            // XIEZHI_ENDPOINT and XIEZHI_TLS_*, the Kafka script's XIEZHI_KAFKA_*, the tests'
            // XIEZHI_TEST_*) and are left to them — unless they start with a section's name,
            // which is a configuration variable missing an underscore.
            if !key.contains("__") {
                let first = key
                    .split('_')
                    .next()
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                if SECTIONS.contains(&first.as_str()) {
                    return Err(ConfigError::Parse {
                        origin: format!("environment variable {name}"),
                        message: format!(
                            "configuration variables are XIEZHI_<SECTION>__<KEY>, with two underscores after the section (e.g. XIEZHI_{}__…)",
                            first.to_ascii_uppercase()
                        ),
                    });
                }
                continue;
            }
            from_env.push(name.clone());
            let path: Vec<String> = key.split("__").map(str::to_ascii_lowercase).collect();
            insert(&mut table, &path, parse_env_value(&value)).map_err(|message| {
                ConfigError::Parse {
                    origin: format!("environment variable {name}"),
                    message,
                }
            })?;
        }
        let origin = if from_env.is_empty() {
            "config".to_owned()
        } else {
            format!("environment ({})", from_env.join(", "))
        };
        let mut config = Self::from_table(table, &origin)?;
        for path in [
            &mut config.registry.file,
            &mut config.rules.thresholds,
            &mut config.rules.discretion,
            &mut config.rules.inspection_items,
            &mut config.rules.procedure,
            &mut config.rules.exemptions,
            &mut config.rules.divisions,
            &mut config.security.tls_cert,
            &mut config.security.tls_key,
            &mut config.security.client_ca,
            &mut config.security.receipt_key,
            &mut config.bus.kafka.ssl_ca,
            &mut config.bus.kafka.ssl_cert,
            &mut config.bus.kafka.ssl_key,
            &mut config.bus.kafka.sasl_password_file,
        ] {
            if !path.as_os_str().is_empty() && path.is_relative() {
                *path = base_dir.join(&*path);
            }
        }
        Ok(config)
    }

    fn from_table(table: toml::Table, origin: &str) -> Result<Self, ConfigError> {
        Self::deserialize(table).map_err(|e| ConfigError::Parse {
            origin: origin.to_owned(),
            message: e.to_string().trim().replace('\n', " "),
        })
    }

    /// Checks ranges; call after the last override.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: &str| ConfigError::Invalid {
            key,
            message: message.to_owned(),
        };
        let url = &self.server.public_url;
        if !(url.is_empty() || url.starts_with("https://") || url.starts_with("http://")) {
            return Err(invalid(
                "server.public_url",
                "must be empty or an http:// or https:// address",
            ));
        }
        if !(1024..=64 * 1024 * 1024).contains(&self.server.max_request_bytes) {
            return Err(invalid(
                "server.max_request_bytes",
                "must be between 1 KiB and 64 MiB",
            ));
        }
        if !(1..=1024).contains(&self.bus.partitions) {
            return Err(invalid("bus.partitions", "must be between 1 and 1024"));
        }
        if !(8..=65_536).contains(&self.store.cache_mb) {
            return Err(invalid(
                "store.cache_mb",
                "must be between 8 and 65536 (MiB)",
            ));
        }
        if !(1..=10_000).contains(&self.router.batch_max) {
            return Err(invalid("router.batch_max", "must be between 1 and 10000"));
        }
        if self.router.replicas && self.bus.kind != BusKind::Kafka {
            return Err(invalid(
                "router.replicas",
                "needs bus.kind = \"kafka\": replicas share the decisions topic (docs/kafka.md, \"Replicas\")",
            ));
        }
        if self.validation.max_future_skew_secs > 86_400 {
            return Err(invalid(
                "validation.max_future_skew_secs",
                "must be at most 86400 (one day)",
            ));
        }
        let kafka = &self.bus.kafka;
        if self.bus.kind == BusKind::Kafka {
            if kafka.bootstrap.trim().is_empty() {
                return Err(invalid(
                    "bus.kafka.bootstrap",
                    "must name at least one broker",
                ));
            }
            if !(1..=10_000).contains(&kafka.partitions) {
                return Err(invalid(
                    "bus.kafka.partitions",
                    "must be between 1 and 10000",
                ));
            }
            if kafka.replication == 0
                || kafka.min_insync_replicas == 0
                || kafka.min_insync_replicas > kafka.replication
            {
                return Err(invalid(
                    "bus.kafka.min_insync_replicas",
                    "replication and min_insync_replicas must be ≥ 1, and min_insync_replicas ≤ replication",
                ));
            }
            if !(1_000..=300_000).contains(&kafka.message_timeout_ms) {
                return Err(invalid(
                    "bus.kafka.message_timeout_ms",
                    "must be between 1000 and 300000",
                ));
            }
            kafka.validate_security()?;
        }
        self.security.validate()?;
        if !(10..=3_600_000).contains(&self.router.tick_ms) {
            return Err(invalid(
                "router.tick_ms",
                "must be between 10 ms and one hour",
            ));
        }
        if self.router.group.trim().is_empty() {
            return Err(invalid("router.group", "must not be empty"));
        }
        if self.store.data_dir.as_os_str().is_empty() {
            return Err(invalid("store.data_dir", "must not be empty"));
        }
        Ok(())
    }
}

fn parse_env_value(raw: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}

fn insert(table: &mut toml::Table, path: &[String], value: toml::Value) -> Result<(), String> {
    match path {
        [] => Err("empty key".to_owned()),
        [key] => {
            table.insert(key.clone(), value);
            Ok(())
        }
        [section, rest @ ..] => {
            let entry = table
                .entry(section.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            match entry {
                toml::Value::Table(inner) => insert(inner, rest, value),
                _ => Err(format!("{section} is not a section")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ChecksumPolicy;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_sane() {
        let mut config = Config::load(None, env(&[])).unwrap();
        let err = config.validate().unwrap_err().to_string();
        assert!(
            err.contains("security.tls_cert"),
            "certificates by default: {err}"
        );
        config.security.insecure_dev = true;
        config.validate().unwrap();
        assert_eq!(config.server.grpc_addr.to_string(), "127.0.0.1:50051");
        assert_eq!(config.server.max_request_bytes, 1 << 20);
        assert_eq!(config.store.data_dir, PathBuf::from("./data"));
        assert!(config.load_registry().unwrap().len() >= 12);
    }

    #[test]
    fn the_example_config_equals_the_defaults_and_loads_its_registry() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/xiezhi.toml");
        let config = Config::load(Some(&path), env(&[])).unwrap();
        config.validate().unwrap();
        let mut expected = Config::default();
        let dir = path.parent().unwrap();
        expected.registry.file = dir.join("registry.toml");
        expected.security.tls_cert = dir.join("certs/server.pem");
        expected.security.tls_key = dir.join("certs/server-key.pem");
        expected.security.client_ca = dir.join("certs/ca.pem");
        assert_eq!(
            config, expected,
            "deploy/xiezhi.toml documents the defaults"
        );
        assert_eq!(config.load_registry().unwrap().len(), 15);
    }

    #[test]
    fn replicas_need_kafka() {
        let config = Config::load(None, env(&[("XIEZHI_ROUTER__REPLICAS", "true")])).unwrap();
        match config.validate() {
            Err(ConfigError::Invalid { key, message }) => {
                assert_eq!(key, "router.replicas");
                assert!(message.contains("kafka"), "{message}");
            }
            other => panic!("replicas on the embedded log accepted: {other:?}"),
        }
        let kafka = Config::load(
            None,
            env(&[
                ("XIEZHI_ROUTER__REPLICAS", "true"),
                ("XIEZHI_BUS__KIND", "kafka"),
                ("XIEZHI_SECURITY__INSECURE_DEV", "true"),
            ]),
        )
        .unwrap();
        assert!(kafka.router.replicas);
        kafka.validate().unwrap();
    }

    #[test]
    fn the_kafka_example_config_selects_kafka() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/xiezhi-kafka.toml");
        let config = Config::load(Some(&path), env(&[])).unwrap();
        config.validate().unwrap();
        assert_eq!(config.bus.kind, BusKind::Kafka);
        assert_eq!(config.bus.kafka.bootstrap, "127.0.0.1:9092");
        assert_eq!(config.load_registry().unwrap().len(), 15);
    }

    #[test]
    fn kafka_settings_are_checked() {
        let config = Config::load(
            None,
            env(&[
                ("XIEZHI_BUS__KIND", "kafka"),
                ("XIEZHI_BUS__KAFKA__REPLICATION", "1"),
                ("XIEZHI_BUS__KAFKA__MIN_INSYNC_REPLICAS", "2"),
            ]),
        )
        .unwrap();
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("bus.kafka.min_insync_replicas"), "{err}");
    }

    #[test]
    fn file_then_env_override_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("xiezhi.toml");
        std::fs::write(
            &path,
            "[server]\ngrpc_addr = \"127.0.0.1:6000\"\n[bus]\npartitions = 4\n[registry]\nfile = \"agencies.toml\"\n",
        )
        .unwrap();
        let config = Config::load(
            Some(&path),
            env(&[
                ("XIEZHI_BUS__PARTITIONS", "16"),
                ("XIEZHI_VALIDATION__USCC_CHECKSUM", "warn"),
                ("XIEZHI_TEST_KAFKA", "ignored"),
                ("HOME", "/root"),
            ]),
        )
        .unwrap();
        assert_eq!(config.server.grpc_addr.port(), 6000);
        assert_eq!(config.bus.partitions, 16);
        assert_eq!(config.validation.uscc_checksum, ChecksumPolicy::Warn);
        assert_eq!(config.registry.file, dir.path().join("agencies.toml"));
    }

    #[test]
    fn unknown_keys_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("xiezhi.toml");
        std::fs::write(&path, "[server]\ngrpc_adr = \"127.0.0.1:6000\"\n").unwrap();
        let err = Config::load(Some(&path), env(&[])).unwrap_err().to_string();
        assert!(
            err.contains("grpc_adr") && err.contains("xiezhi.toml"),
            "{err}"
        );

        let err = Config::load(None, env(&[("XIEZHI_SERVER__PORT", "1")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("port") && err.contains("environment"), "{err}");
        let err = Config::load(None, env(&[("XIEZHI_NOPE__X", "1")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("nope"), "{err}");
        // A section's variable missing an underscore is named, not ignored.
        let err = Config::load(None, env(&[("XIEZHI_SERVER_GRPC_ADDR", "127.0.0.1:1")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("XIEZHI_SERVER__"), "{err}");
    }

    #[test]
    fn the_sections_list_is_the_configs() {
        let table = toml::Table::try_from(Config::default()).unwrap();
        let mut sections: Vec<&str> = table.keys().map(String::as_str).collect();
        let mut listed = SECTIONS.to_vec();
        sections.sort_unstable();
        listed.sort_unstable();
        assert_eq!(sections, listed);
    }

    #[test]
    fn the_tools_variables_are_left_to_the_tools() {
        let config = Config::load(
            None,
            env(&[
                ("XIEZHI_ENDPOINT", "https://broker:50051"),
                ("XIEZHI_TLS_CA", "/etc/ca.pem"),
                ("XIEZHI_TLS_CERT", "/etc/a.pem"),
                ("XIEZHI_TLS_KEY", "/etc/a-key.pem"),
                ("XIEZHI_KAFKA_HOME", "/opt/kafka"),
                ("XIEZHI_KAFKA_SCRIPT", "/opt/kafka.sh"),
                ("XIEZHI_TEST_KAFKA", "127.0.0.1:9092"),
            ]),
        )
        .expect("tool variables do not stop the broker");
        assert_eq!(config, Config::default());
    }

    #[test]
    fn out_of_range_values_name_the_key() {
        let config = Config::load(None, env(&[("XIEZHI_BUS__PARTITIONS", "0")])).unwrap();
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("bus.partitions"), "{err}");
        let config = Config::load(None, env(&[("XIEZHI_STORE__CACHE_MB", "4")])).unwrap();
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("store.cache_mb"), "{err}");
    }
}
