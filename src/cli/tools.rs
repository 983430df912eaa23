//! Tools beside the broker: `publish` one event, `certs dev`, `audit verify`, `receipt`.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Subcommand;
use xiezhi::sim::client;

use super::{TlsArgs, read_input, tool_config};

#[derive(Subcommand)]
pub(crate) enum CertsCommand {
    /// Write a development CA, a server certificate (localhost, 127.0.0.1) and one client
    /// certificate per registered agency (SAN URI xiezhi://agency/<id>). Not for production.
    Dev {
        /// Where to write them.
        #[arg(long, default_value = "deploy/certs")]
        out: PathBuf,
        /// Configuration naming the registry [default: the built-in sample registry].
        #[arg(long)]
        config: Option<PathBuf>,
        /// More names (DNS or IP) for the server certificate.
        #[arg(long = "server-name")]
        server_names: Vec<String>,
    },
}

#[derive(Subcommand)]
pub(crate) enum AuditCommand {
    /// Walk the hash chain in a (stopped) broker's store; name the first entry that was
    /// altered, removed or reordered.
    Verify {
        /// The data directory [default: store.data_dir of the configuration, ./data].
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// TOML configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub(crate) enum ReceiptCommand {
    /// Print the broker's receipt public key (hex), for publishers to verify receipts with.
    PublicKey {
        /// The data directory [default: store.data_dir of the configuration, ./data].
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// TOML configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Check the receipt in an Ack (proto3 JSON, as `xiezhi publish` prints it).
    Verify {
        /// The Ack JSON file; `-` reads standard input.
        #[arg(long)]
        ack: PathBuf,
        /// The broker's public key, hex (from `xiezhi receipt public-key`).
        #[arg(long)]
        public_key: String,
    },
}

pub(super) async fn publish(json: PathBuf, server: String, tls: TlsArgs) -> anyhow::Result<()> {
    let text = read_input(&json)?;
    let channel = client::connect(&server, tls.client().as_ref()).await?;
    let ack = client::publish_json(channel, &json.display().to_string(), &text).await?;
    println!("{}", client::to_json("xiezhi.v1.Ack", &ack));
    Ok(())
}

pub(super) fn certs(command: CertsCommand) -> anyhow::Result<()> {
    let CertsCommand::Dev {
        out,
        config,
        server_names,
    } = command;
    let config = tool_config(config.as_deref(), None)?;
    let registry = config.load_policy()?.registry;
    let written = xiezhi::gateway::tls::generate_dev(&out, &registry, &server_names)?;
    // A receipt key to share between processes (docker-compose, Kubernetes).
    xiezhi::gateway::receipt::ReceiptSigner::load_or_create(&out.join("receipt-key.pk8"))?;
    println!(
        "wrote {} files to {}: ca.pem (+ ca-key.pem), server.pem, server-key.pem, receipt-key.pk8, and <agency>.pem, <agency>-key.pem for {} agencies",
        written.len() + 1,
        out.display(),
        registry.len()
    );
    println!("DEVELOPMENT certificates: issue production ones from your own CA (docs/security.md)");
    Ok(())
}

pub(super) fn audit(command: AuditCommand) -> anyhow::Result<()> {
    let AuditCommand::Verify { data_dir, config } = command;
    let config = tool_config(config.as_deref(), data_dir)?;
    let dir = &config.store.data_dir;
    let store = xiezhi::store::Store::open(dir).with_context(|| {
        format!(
            "opening the store in {} (stop the broker first, or verify a copy)",
            dir.display()
        )
    })?;
    match store.verify_audit()? {
        Ok(entries) => {
            println!("audit chain intact: {entries} entries in {}", dir.display());
            Ok(())
        }
        Err(broken) => anyhow::bail!("audit chain BROKEN in {}: {broken}", dir.display()),
    }
}

pub(super) fn receipt(command: ReceiptCommand) -> anyhow::Result<()> {
    use xiezhi::gateway::receipt;
    match command {
        ReceiptCommand::PublicKey { data_dir, config } => {
            let config = tool_config(config.as_deref(), data_dir)?;
            let signer = receipt::ReceiptSigner::load(&xiezhi::app::receipt_key_path(&config))?;
            println!("{}", hex::encode(signer.public_key()));
            eprintln!("key id {}", receipt::key_id(signer.public_key()));
            Ok(())
        }
        ReceiptCommand::Verify { ack, public_key } => {
            let text = read_input(&ack)?;
            let parsed: xiezhi::proto::Ack =
                client::from_json("xiezhi.v1.Ack", &ack.display().to_string(), &text)?;
            let key = hex::decode(public_key.trim()).context("--public-key is not hex")?;
            receipt::verify(&parsed, &key)?;
            let signed = parsed.receipt.unwrap_or_default();
            println!(
                "receipt valid: {} event {} accepted (key {})",
                signed.producer, parsed.event_id, signed.key_id
            );
            Ok(())
        }
    }
}
