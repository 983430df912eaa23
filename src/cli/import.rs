//! `xiezhi import`: an agency's ledger of past penalty decisions, published as historic
//! outcomes (`xiezhi::import`).

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use xiezhi::import::{Options, row::Mapping};
use xiezhi::sim::client;

use super::{TlsArgs, tool_config};

/// `xiezhi import` flags.
#[derive(Args)]
pub(crate) struct ImportArgs {
    /// The ledger: CSV (UTF-8, with a header row) or XLSX.
    #[arg(long)]
    file: PathBuf,
    /// The agency whose decisions they are (its certificate's, over TLS).
    #[arg(long)]
    agency: String,
    /// XLSX: the sheet [default: the first].
    #[arg(long)]
    sheet: Option<String>,
    /// A TOML file overriding the header table and mapping 违法行为 wording to offence codes
    /// (docs/import.md).
    #[arg(long)]
    mapping: Option<PathBuf>,
    /// The configuration whose registry names the agency's division and domain [default: the
    /// built-in sample registry].
    #[arg(long)]
    config: Option<PathBuf>,
    /// The broker's gRPC endpoint (`https://…` with the TLS flags).
    #[arg(
        long,
        default_value = "http://127.0.0.1:50051",
        env = "XIEZHI_ENDPOINT"
    )]
    server: String,
    #[command(flatten)]
    tls: TlsArgs,
}

pub(super) async fn import(args: ImportArgs) -> anyhow::Result<()> {
    let config = tool_config(args.config.as_deref(), None)?;
    let registry = config.load_registry()?;
    let id = xiezhi::domain::AgencyId::parse(&args.agency)
        .map_err(|e| anyhow::anyhow!("--agency {}: {e}", args.agency))?;
    let agency = registry.get(&id).with_context(|| {
        format!("agency {id} is not in the registry (pass --config with the deployment's)")
    })?;
    let mapping = match &args.mapping {
        None => Mapping::default(),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Mapping::with_overrides(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        }
    };
    let domain = agency
        .domains
        .first()
        .map_or(0, |d| xiezhi::codec::to_proto::domain_number(*d));
    let options = Options {
        file: args.file,
        sheet: args.sheet,
        agency: id.to_string(),
        division: agency.division.as_str().to_owned(),
        domain,
        mapping,
    };
    let channel = client::connect(&args.server, args.tls.client().as_ref()).await?;
    let summary = xiezhi::import::run(channel, options).await?;
    if let Some(report) = &summary.report {
        println!(
            "rows not imported and unknown columns: {}",
            report.display()
        );
    }
    println!(
        "{} rows: {} published, {} already there, {} refused",
        summary.rows, summary.published, summary.already, summary.refused
    );
    Ok(())
}
