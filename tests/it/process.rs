//! The `xiezhi` binary as child processes: started with arguments, reached once healthy,
//! killed with SIGKILL on demand, and always reaped — also when a test fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use xiezhi::config::Config;

/// The `xiezhi` binary Cargo built for these tests.
pub fn xiezhi() -> Command {
    Command::new(env!("CARGO_BIN_EXE_xiezhi"))
}

/// A free port on loopback (released before the child binds it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Writes `config` as a TOML file the binary can read.
pub fn write_config(config: &Config, path: &Path) {
    std::fs::write(path, toml::to_string(config).expect("config serialises")).unwrap();
}

/// A running `xiezhi` process on a fixed port; killed and reaped when dropped.
pub struct Proc {
    child: Option<Child>,
    args: Vec<String>,
    pub port: u16,
    /// The HTTP port (`/healthz`, `/metrics`, the console).
    pub http_port: u16,
    log: PathBuf,
    /// Extra environment of the child.
    env: Vec<(String, String)>,
}

impl Proc {
    /// Starts `xiezhi ARGS --grpc-addr 127.0.0.1:PORT` (on `port`, or a free one) and waits
    /// until its health check answers. Its stderr goes to `log`.
    pub async fn start(args: &[&str], port: Option<u16>, log: &Path) -> (Self, Channel) {
        Self::start_with_env(args, &[], port, log).await
    }

    /// [`Proc::start`] with `env` set for the child (and its restarts).
    pub async fn start_with_env(
        args: &[&str],
        env: &[(&str, &str)],
        port: Option<u16>,
        log: &Path,
    ) -> (Self, Channel) {
        let mut proc = Self {
            child: None,
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            port: port.unwrap_or_else(free_port),
            http_port: free_port(),
            log: log.to_owned(),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        let channel = proc.restart().await;
        (proc, channel)
    }

    /// Starts the process again (after [`Proc::kill`]) with the same arguments and port.
    pub async fn restart(&mut self) -> Channel {
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = xiezhi()
            .args(&self.args)
            .args(["--grpc-addr", &format!("127.0.0.1:{}", self.port)])
            .args(["--http-addr", &format!("127.0.0.1:{}", self.http_port)])
            .env("RUST_LOG", "warn")
            // The tools' variables in the same shell do not stop the server (README,
            // "Configuration"): every broker these tests start has them set.
            .env("XIEZHI_ENDPOINT", "https://elsewhere.invalid:50051")
            .env("XIEZHI_TLS_CA", "/nonexistent/ca.pem")
            .env("XIEZHI_KAFKA_HOME", "/nonexistent/kafka")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn xiezhi");
        self.child = Some(child);
        match healthy_channel(&self.endpoint()).await {
            Some(channel) => channel,
            None => panic!(
                "xiezhi {} did not become healthy: {}",
                self.args.join(" "),
                std::fs::read_to_string(&self.log).unwrap_or_default()
            ),
        }
    }

    /// The HTTP address.
    pub fn http_addr(&self) -> std::net::SocketAddr {
        ([127, 0, 0, 1], self.http_port).into()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A channel that reconnects by itself, for clients that outlive restarts.
    pub fn lazy_channel(&self) -> Channel {
        Endpoint::from_shared(self.endpoint())
            .unwrap()
            .connect_timeout(Duration::from_secs(1))
            .connect_lazy()
    }

    /// The running child's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// SIGTERM (an ordered stop), then reap.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A channel to the broker at `endpoint` once its health check answers (60 s at most).
pub async fn healthy_channel(endpoint: &str) -> Option<Channel> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(channel) = Channel::from_shared(endpoint.to_owned())
            .unwrap()
            .connect()
            .await
        {
            let healthy = HealthClient::new(channel.clone())
                .check(HealthCheckRequest {
                    service: String::new(),
                })
                .await
                .is_ok();
            if healthy {
                return Some(channel);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}
