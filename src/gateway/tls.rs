//! TLS with client certificates for the gRPC server, and development certificates.
//!
//! `xiezhi certs dev --out DIR` writes a development CA (`ca.pem`), a server certificate for
//! `localhost` and `127.0.0.1` (`server.pem`, `server-key.pem`), and one client certificate per
//! registered agency (`<agency>.pem`, `<agency>-key.pem`) whose SAN URI is
//! `xiezhi://agency/<agency>` — the identity the gateway reads. For production, issue agency
//! certificates from your own CA with the same SAN URI (docs/security.md).

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use std::sync::Arc;

use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::domain::Registry;

/// TLS files that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file cannot be read or written.
    #[error("TLS file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file holds no PEM block of the kind it should.
    #[error("TLS file {path} holds no PEM {wanted}")]
    NotPem {
        /// The file.
        path: PathBuf,
        /// The PEM label looked for.
        wanted: String,
    },
    /// A development set is already there; a new CA would orphan the certificates issued.
    #[error("{0} already holds a CA (ca.pem); remove it first to make a new development set")]
    Exists(PathBuf),
    /// Certificate generation failed.
    #[error("generating certificates: {0}")]
    Generate(String),
    /// The files do not make a server configuration (e.g. the key does not match the
    /// certificate).
    #[error("TLS configuration from {cert} and {key}: {reason}")]
    Config {
        /// The server certificate.
        cert: PathBuf,
        /// Its key.
        key: PathBuf,
        /// What rustls said.
        reason: String,
    },
}

/// Where the server's TLS material is.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// Server certificate chain (PEM).
    pub cert: PathBuf,
    /// Server private key (PEM).
    pub key: PathBuf,
    /// CA of agency client certificates (PEM).
    pub client_ca: PathBuf,
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Reads a PEM file and checks that it holds a block of the `wanted` kind, so that a wrong file
/// stops start-up naming it instead of failing the first handshake.
fn read_pem(path: &Path, wanted: &str) -> Result<Vec<u8>, TlsError> {
    let bytes = read(path)?;
    let found = x509_parser::pem::Pem::iter_from_buffer(&bytes)
        .filter_map(Result::ok)
        .any(|pem| pem.label.ends_with(wanted));
    if !found {
        return Err(TlsError::NotPem {
            path: path.to_owned(),
            wanted: wanted.to_owned(),
        });
    }
    Ok(bytes)
}

impl TlsFiles {
    /// The server configuration: this certificate, client certificates required from the CA,
    /// HTTP/2 by ALPN (as tonic's own). Checks that each file holds what it should.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let invalid = |reason: String| TlsError::Config {
            cert: self.cert.clone(),
            key: self.key.clone(),
            reason,
        };
        let certs = |path: &Path| -> Result<Vec<CertificateDer<'static>>, TlsError> {
            let pem = read_pem(path, "CERTIFICATE")?;
            CertificateDer::pem_slice_iter(&pem)
                .collect::<Result<_, _>>()
                .map_err(|err| invalid(format!("{}: {err}", path.display())))
        };
        // In the order the settings are documented, so the first missing file is named.
        let chain = certs(&self.cert)?;
        let key = PrivateKeyDer::from_pem_slice(&read_pem(&self.key, "PRIVATE KEY")?)
            .map_err(|err| invalid(err.to_string()))?;
        let mut roots = rustls::RootCertStore::empty();
        for ca in certs(&self.client_ca)? {
            roots.add(ca).map_err(|err| invalid(err.to_string()))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            roots.into(),
            provider.clone(),
        )
        .build()
        .map_err(|err| invalid(err.to_string()))?;
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|err| invalid(err.to_string()))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .map_err(|err| invalid(err.to_string()))?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Arc::new(config))
    }
}

fn generate(err: rcgen::Error) -> TlsError {
    TlsError::Generate(err.to_string())
}

fn write(dir: &Path, name: &str, text: &str) -> Result<(), TlsError> {
    let path = dir.join(name);
    std::fs::write(&path, text).map_err(|source| TlsError::Io { path, source })
}

fn write_key(dir: &Path, name: &str, text: &str) -> Result<(), TlsError> {
    let path = dir.join(name);
    write_secret(&path, text.as_bytes()).map_err(|source| TlsError::Io { path, source })
}

/// Writes a file only its owner can read (private keys).
pub(crate) fn write_secret(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(&mut options.open(path)?, bytes)
}

/// Writes a development CA, a server certificate and one client certificate per agency into
/// `dir`; returns the files written.
/// The server certificate names `localhost`, `127.0.0.1` and `server_names`.
pub fn generate_dev(
    dir: &Path,
    registry: &Registry,
    server_names: &[String],
) -> Result<Vec<String>, TlsError> {
    std::fs::create_dir_all(dir).map_err(|source| TlsError::Io {
        path: dir.to_owned(),
        source,
    })?;
    if dir.join("ca.pem").exists() {
        return Err(TlsError::Exists(dir.to_owned()));
    }
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(generate)?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Xiezhi development CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().map_err(generate)?;
    let ca_cert = ca_params.self_signed(&ca_key).map_err(generate)?;
    // Kept so that more agencies can be issued certificates later (docs/security.md).
    write_key(dir, "ca-key.pem", &ca_key.serialize_pem())?;
    let issuer = Issuer::new(ca_params, ca_key);
    let mut written = vec!["ca.pem".to_owned(), "ca-key.pem".to_owned()];
    write(dir, "ca.pem", &ca_cert.pem())?;

    let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    names.extend(server_names.iter().cloned());
    let mut server = CertificateParams::new(names).map_err(generate)?;
    server.distinguished_name.push(DnType::CommonName, "xiezhi");
    let server_key = KeyPair::generate().map_err(generate)?;
    let server_cert = server.signed_by(&server_key, &issuer).map_err(generate)?;
    write(dir, "server.pem", &server_cert.pem())?;
    write_key(dir, "server-key.pem", &server_key.serialize_pem())?;
    written.extend(["server.pem".to_owned(), "server-key.pem".to_owned()]);

    for agency in registry.iter() {
        let id = agency.id.as_str();
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(generate)?;
        params.distinguished_name.push(DnType::CommonName, id);
        params.subject_alt_names = vec![SanType::URI(
            format!("xiezhi://agency/{id}")
                .try_into()
                .map_err(generate)?,
        )];
        let key = KeyPair::generate().map_err(generate)?;
        let cert = params.signed_by(&key, &issuer).map_err(generate)?;
        write(dir, &format!("{id}.pem"), &cert.pem())?;
        write_key(dir, &format!("{id}-key.pem"), &key.serialize_pem())?;
        written.extend([format!("{id}.pem"), format!("{id}-key.pem")]);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{SAMPLE_REGISTRY, parse_registry};

    #[test]
    fn dev_certificates_name_their_agency() {
        let dir = tempfile::tempdir().unwrap();
        let registry = parse_registry(SAMPLE_REGISTRY, "sample").unwrap();
        let written = generate_dev(dir.path(), &registry, &[]).unwrap();
        assert_eq!(written.len(), 4 + 2 * registry.len());
        let pem = std::fs::read(dir.path().join("330106-SCJG.pem")).unwrap();
        let der = x509_parser::pem::parse_x509_pem(&pem).unwrap().1.contents;
        assert_eq!(
            crate::access::agency_of_certificate(&der).as_deref(),
            Some("330106-SCJG")
        );
        let files = TlsFiles {
            cert: dir.path().join("server.pem"),
            key: dir.path().join("server-key.pem"),
            client_ca: dir.path().join("ca.pem"),
        };
        files.server_config().unwrap();
        let swapped = TlsFiles {
            key: files.cert.clone(),
            ..files.clone()
        };
        let err = swapped.server_config().unwrap_err().to_string();
        assert!(
            err.contains("server.pem") && err.contains("PRIVATE KEY"),
            "{err}"
        );
        assert!(
            matches!(
                generate_dev(dir.path(), &registry, &[]),
                Err(TlsError::Exists(_))
            ),
            "a CA is never overwritten"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("330106-SCJG-key.pem"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "private keys are the owner's alone");
        }
    }
}
