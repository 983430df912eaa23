//! `xiezhi rebuild`: a fresh store from the whole log — to recover a store, to check one, or to
//! carry a data directory of an earlier release over (its log is copied into the new directory
//! first, bytes as published, then replayed).

use std::path::Path;
use std::sync::Arc;

use tracing::info;

use super::{AppError, open_bus, open_store, router_config};
use crate::config::{BusKind, Config};
use crate::domain::Clock;
use crate::router::{RebuildStats, Router};

/// Replays the configured log from the start into a fresh store in the data directory `target`
/// and returns what it did. For the embedded log, `source` is the data directory holding the log
/// (the broker must not be running on it); a data directory written before layout 4 has its
/// log carried over into `target` first, so that `target` is then complete.
pub async fn rebuild(
    config: &Config,
    source: &Path,
    target: &Path,
    clock: Arc<dyn Clock>,
) -> Result<RebuildStats, AppError> {
    Ok(rebuild_captured(config, source, target, clock, false)
        .await?
        .0)
}

/// [`rebuild`], keeping every batch's writes when `capture` is set (the bench's raw-write
/// ceiling replays them).
pub async fn rebuild_captured(
    config: &Config,
    source: &Path,
    target: &Path,
    clock: Arc<dyn Clock>,
    capture: bool,
) -> Result<(RebuildStats, crate::store::ceiling::Captured), AppError> {
    config.validate()?;
    let policy = Arc::new(config.load_policy()?);
    let mut source = source;
    if config.bus.kind == BusKind::Embedded && crate::bus::embedded::legacy::is_legacy(source) {
        let migrated =
            crate::bus::embedded::legacy::migrate(source, target).map_err(|source_err| {
                AppError::Migrate {
                    from: source.display().to_string(),
                    into: target.display().to_string(),
                    source: source_err,
                }
            })?;
        // The receipt key goes along, so that receipts keep verifying with the published key.
        let key = source.join("receipt-key.pk8");
        if key.is_file() && !target.join("receipt-key.pk8").exists() {
            std::fs::copy(&key, target.join("receipt-key.pk8")).map_err(|e| AppError::Migrate {
                from: source.display().to_string(),
                into: target.display().to_string(),
                source: crate::bus::BusError::Unavailable(format!("copying the receipt key: {e}")),
            })?;
        }
        info!(
            records = migrated.records,
            undecodable = migrated.undecodable,
            partitions = migrated.partitions,
            from = %source.display(),
            into = %target.display(),
            "log of an earlier release carried over"
        );
        source = target;
    }
    if config.bus.kind == BusKind::Embedded && !source.join(crate::bus::embedded::LOG_DIR).is_dir()
    {
        return Err(AppError::NoLog(source.display().to_string()));
    }
    let store = open_store(target, config)?;
    if store.event_count() > 0 {
        return Err(AppError::NotEmpty(target.display().to_string()));
    }
    let bus = open_bus(config, Some(source)).await?;
    let router = Router::new(
        bus.clone(),
        store.clone(),
        policy,
        clock,
        router_config(config),
    );
    if capture {
        store.capture_writes();
    }
    let stats = if config.router.replicas {
        let Some(decisions) = bus.decisions(&config.router.group, false).await? else {
            return Err(AppError::RoleNeedsKafka(super::Role::Router));
        };
        router.materialise(decisions).await?;
        info!("replica store materialised from the decisions log");
        RebuildStats {
            records: store.event_count() as u64,
            applied: store.event_count() as u64,
            set_aside: 0,
        }
    } else {
        router.rebuild().await?
    };
    bus.close().await;
    store.flush().await.map_err(|source| AppError::Store {
        dir: target.display().to_string(),
        source,
    })?;
    Ok((stats, store.captured_writes()))
}
