//! The processes a benchmark runs against: the broker (`xiezhi serve`) or the no-op gRPC server
//! (`xiezhi bench-noop`) as children of this process, so their memory is theirs alone and the
//! load generator's work is not counted in it; and the Kafka helper script.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::BenchError;
use crate::sim::client::connect;

/// A child server on a loopback port.
pub(super) struct Server {
    child: Child,
    /// `http://127.0.0.1:port`.
    pub(super) endpoint: String,
    log: PathBuf,
}

/// A free loopback port (bound and released; the child binds it a moment later).
pub(super) fn free_port() -> Result<u16, BenchError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(BenchError::io("bind"))?;
    Ok(listener
        .local_addr()
        .map_err(BenchError::io("bind"))?
        .port())
}

impl Server {
    /// Starts this executable with `args`, logging to `log`, and waits until its gRPC port
    /// answers a health check (60 s at most).
    pub(super) async fn start(args: &[String], port: u16, log: &Path) -> Result<Self, BenchError> {
        let exe = std::env::current_exe().map_err(BenchError::io("find the xiezhi executable"))?;
        let out = std::fs::File::create(log).map_err(BenchError::io("create the server log"))?;
        let err = out
            .try_clone()
            .map_err(BenchError::io("create the server log"))?;
        let child = Command::new(exe)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(BenchError::io("start the server"))?;
        let mut server = Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            log: log.to_owned(),
        };
        server.wait_ready().await?;
        Ok(server)
    }

    async fn wait_ready(&mut self) -> Result<(), BenchError> {
        let limit = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(channel) = connect(&self.endpoint, None).await {
                let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
                let check = tonic_health::pb::HealthCheckRequest::default();
                if health.check(check).await.is_ok() {
                    return Ok(());
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(self.failed(&format!("exited during start-up ({status})")));
            }
            if Instant::now() > limit {
                return Err(self.failed("did not answer within 60 s"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn failed(&self, what: &str) -> BenchError {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(15).collect();
        BenchError::Server(format!(
            "the server {what}; the end of {}:\n{}",
            self.log.display(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        ))
    }

    /// The child's peak resident memory so far (VmHWM), bytes; `None` where /proc is missing.
    pub(super) fn peak_rss(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    }

    /// SIGKILL, then reap: a machine lost.
    pub(super) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops the child as an operator would (SIGTERM, ordered shutdown) and waits for it.
    pub(super) async fn stop(mut self) -> Result<(), BenchError> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let limit = Instant::now() + Duration::from_secs(60);
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(()),
                Ok(Some(status)) => {
                    return Err(self.failed(&format!("stopped with {status}")));
                }
                Ok(None) if Instant::now() < limit => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                _ => {
                    let _ = self.child.kill();
                    return Err(self.failed("did not stop within 60 s of SIGTERM"));
                }
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // A benchmark that failed half-way leaves no server behind.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The Kafka helper script: `XIEZHI_KAFKA_SCRIPT`, or `deploy/kafka/kafka.sh` under the
/// current directory (run the benchmark from the repository).
pub(super) fn kafka_script() -> Result<PathBuf, BenchError> {
    let path = std::env::var_os("XIEZHI_KAFKA_SCRIPT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("deploy/kafka/kafka.sh"));
    if path.is_file() {
        Ok(path)
    } else {
        Err(BenchError::Kafka(format!(
            "{} not found: run the benchmark from the repository root or set XIEZHI_KAFKA_SCRIPT",
            path.display()
        )))
    }
}

/// Runs the Kafka script with `args` (plus `--until-pid` of this process for `start`), and
/// returns its standard output.
pub(super) fn kafka(args: &[&str]) -> Result<String, BenchError> {
    let script = kafka_script()?;
    let mut command = Command::new("bash");
    command.arg(&script).args(args);
    if args.first() == Some(&"start") {
        command.args(["--until-pid", &std::process::id().to_string()]);
    }
    let output = command
        .output()
        .map_err(BenchError::io("run deploy/kafka/kafka.sh"))?;
    if !output.status.success() {
        return Err(BenchError::Kafka(format!(
            "{} {} failed (it needs Java 17+ and Maven: apt-get install -y \
             openjdk-17-jdk-headless maven):\n{}",
            script.display(),
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Bytes of disk the files under `dir` take, recursively.
pub(super) fn disk_usage(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => disk_usage(&entry.path()),
            // Blocks allocated, as `du` counts them: sled punches holes in what it frees.
            Ok(meta) => std::os::unix::fs::MetadataExt::blocks(&meta) * 512,
            Err(_) => 0,
        })
        .sum()
}
