//! The limits on a caller: publish rate per agency, streams per connection, and the per-call
//! deadline that inbox streams are exempt from.

use std::time::Duration;

use tonic::Code;
use tonic::transport::Channel;
use xiezhi::proto;
use xiezhi::proto::inbox_client::InboxClient;
use xiezhi::proto::publisher_client::PublisherClient;

use crate::support::{Log, TestServer, lead, org};

#[tokio::test]
async fn publish_calls_beyond_an_agencys_rate_are_resource_exhausted() {
    let server = TestServer::start_tls("", |config| {
        config.security.publish_rate_per_sec = 1;
        config.security.publish_burst = 3;
    })
    .await;
    let mut scjg = PublisherClient::new(server.channel_as("330106-SCJG").await);
    for n in 0..3 {
        let mut request = lead(&format!("burst-{n}"), org(n));
        request.producer.clear();
        scjg.publish_lead(request).await.expect("within the burst");
    }
    let mut request = lead("burst-3", org(3));
    request.producer.clear();
    let status = scjg.publish_lead(request).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status
            .message()
            .contains("330106-SCJG exceeds 1 publish calls per second"),
        "{}",
        status.message()
    );
    // Another agency has a bucket of its own.
    let mut other = lead("other-0", org(9));
    other.producer.clear();
    PublisherClient::new(server.channel_as("330100-STHJ").await)
        .publish_lead(other)
        .await
        .expect("another agency is not limited by this one");
    server.wait_for_events(4).await;
    assert_eq!(server.event_count(), 4, "the refused call stored nothing");
    server.stop().await;
}

#[tokio::test]
async fn streams_per_connection_are_bounded_and_streams_outlive_the_call_deadline() {
    let server = TestServer::start_with(Log::Embedded, |config| {
        config.security.max_concurrent_streams = 2;
        config.security.request_timeout_secs = 1;
    })
    .await;
    let first = crate::support::subscribe(&server.channel, "330106-SCJG", Some(0)).await;
    let second = crate::support::subscribe(&server.channel, "330106-GA", Some(0)).await;
    // A third stream on the same connection waits for one of the two to end.
    let third = tokio::time::timeout(
        Duration::from_millis(500),
        InboxClient::new(server.channel.clone()).subscribe(proto::SubscribeRequest {
            agency: "330100-SFJ".into(),
            from_cursor: Some(0),
        }),
    )
    .await;
    assert!(third.is_err(), "a third concurrent stream was opened");
    drop(second);
    let _third = tokio::time::timeout(
        Duration::from_secs(5),
        InboxClient::new(server.channel.clone()).subscribe(proto::SubscribeRequest {
            agency: "330100-SFJ".into(),
            from_cursor: Some(0),
        }),
    )
    .await
    .expect("a stream was freed")
    .unwrap()
    .into_inner();

    // The open stream is past the one-second deadline and still delivers. (Published over a
    // second connection: both streams of the first are taken.)
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let second_connection =
        Channel::from_shared(format!("http://{}", server.running().grpc_addr()))
            .unwrap()
            .connect()
            .await
            .unwrap();
    let mut publisher = PublisherClient::new(second_connection);
    publisher.publish_lead(lead("late", org(5))).await.unwrap();
    let mut first = first;
    let delivery = tokio::time::timeout(Duration::from_secs(10), first.message())
        .await
        .expect("the stream still delivers")
        .unwrap()
        .unwrap();
    assert_eq!(crate::support::event_of(&delivery).event_id, "late");
    server.stop().await;
}

/// On a publish stream each event counts against the agency's rate like a unary call: beyond
/// the burst, the event is answered RESOURCE_EXHAUSTED and the stream goes on.
#[tokio::test]
async fn stream_events_beyond_an_agencys_rate_are_refused_one_by_one() {
    use xiezhi::proto::publish_stream_request::Event;
    use xiezhi::proto::publish_stream_response::Result as Answer;

    let server = TestServer::start_tls("", |config| {
        config.security.publish_rate_per_sec = 1;
        config.security.publish_burst = 3;
    })
    .await;
    let requests: Vec<_> = (0..5)
        .map(|n| {
            let mut request = lead(&format!("sburst-{n}"), org(n));
            request.producer.clear();
            proto::PublishStreamRequest {
                event: Some(Event::Lead(request)),
            }
        })
        .collect();
    let mut answers = PublisherClient::new(server.channel_as("330106-SCJG").await)
        .publish_stream(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    let mut codes = Vec::new();
    while let Some(answer) = answers.message().await.unwrap() {
        codes.push(match answer.result {
            Some(Answer::Ack(_)) => 0,
            Some(Answer::Error(error)) => error.code,
            None => -1,
        });
    }
    let exhausted = Code::ResourceExhausted as i32;
    assert_eq!(codes, [0, 0, 0, exhausted, exhausted]);
    server.wait_for_events(3).await;
    assert_eq!(server.event_count(), 3);
    server.stop().await;
}

/// A unary call still unanswered at `security.request_timeout_secs` — here a client that sent
/// a third of its message and stalled — is answered DEADLINE_EXCEEDED (retryable, as
/// docs/api.md says), not CANCELLED.
#[tokio::test]
async fn a_call_over_the_request_timeout_is_deadline_exceeded() {
    use prost::Message as _;
    let server = TestServer::start_with(Log::Embedded, |config| {
        config.security.request_timeout_secs = 1;
    })
    .await;
    let addr = server.running().grpc_addr();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let mut client = client.ready().await.unwrap();
    let request = http::Request::builder()
        .method("POST")
        .uri(format!("http://{addr}/xiezhi.v1.Publisher/PublishLead"))
        .header("te", "trailers")
        .header("content-type", "application/grpc")
        .body(())
        .unwrap();
    let (response, mut stream) = client.send_request(request, false).unwrap();
    let message = lead("slow-1", org(1)).encode_to_vec();
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
    frame.extend_from_slice(&message);
    // A third of the frame, and the stream left open.
    stream
        .send_data(bytes::Bytes::from(frame[..frame.len() / 3].to_vec()), false)
        .unwrap();
    let started = std::time::Instant::now();
    let response = tokio::time::timeout(Duration::from_secs(10), response)
        .await
        .expect("an answer within the deadline and then some")
        .unwrap();
    let headers = response.headers();
    let code = headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .map(Code::from_i32);
    assert_eq!(code, Some(Code::DeadlineExceeded), "{headers:?}");
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(server.event_count(), 0, "nothing of it was stored");
    drop(stream);
    server.stop().await;
}

/// 300 connections from one address that send half an HTTP/2 preface and stall: those over
/// the per-address cap are closed at once, the rest at the handshake deadline, and a client
/// already connected is served throughout; afterwards new connections are accepted again.
#[tokio::test]
async fn half_preface_connections_cannot_lock_the_broker_out() {
    use tokio::io::AsyncWriteExt;
    let server = TestServer::start_with(Log::Embedded, |config| {
        config.security.handshake_timeout_secs = 1;
        config.security.max_connections_per_address = 100;
    })
    .await;
    let addr = server.running().grpc_addr();
    let mut stalled = Vec::new();
    for _ in 0..300 {
        let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
        socket.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
        stalled.push(socket);
    }
    // The connected client is served while they hang.
    server
        .publisher()
        .publish_lead(lead("during-flood", org(1)))
        .await
        .expect("served during the flood");
    // Every stalled socket is closed by the server: at once (over the cap) or at the deadline.
    let by = std::time::Instant::now() + Duration::from_secs(10);
    for mut socket in stalled {
        crate::support::closed_by_server(&mut socket, by).await;
    }
    let fresh = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .expect("new connections are accepted again");
    PublisherClient::new(fresh)
        .publish_lead(lead("after-flood", org(2)))
        .await
        .unwrap();
    server.stop().await;
}

/// CPU seconds (user + system) `pid` has used, from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command's closing parenthesis; utime and stime are the 12th and 13th.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// With its descriptors nearly all taken by stalled connections (the broker's limit lowered
/// to 128 with `prlimit`), the broker does not spin on EMFILE, and once the handshake deadline
/// closes them a new client is served.
#[tokio::test]
async fn out_of_descriptors_the_broker_backs_off_and_recovers() {
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir().unwrap();
    let mut config = crate::support::test_config(Log::Embedded, dir.path());
    config.security.insecure_dev = true;
    config.security.handshake_timeout_secs = 2;
    let path = dir.path().join("xiezhi.toml");
    crate::process::write_config(&config, &path);
    let (proc, _channel) = crate::process::Proc::start(
        &["serve", "--config", &path.display().to_string()],
        None,
        &dir.path().join("serve.log"),
    )
    .await;
    let limited = std::process::Command::new("prlimit")
        .args(["--pid", &proc.pid().to_string(), "--nofile=128:128"])
        .status()
        .expect("prlimit (util-linux) runs");
    assert!(limited.success());
    let addr = format!("127.0.0.1:{}", proc.port);
    let mut stalled = Vec::new();
    for _ in 0..300 {
        if let Ok(mut socket) = tokio::net::TcpStream::connect(&addr).await {
            let _ = socket.write_all(b"PRI * HTTP/2.0").await;
            stalled.push(socket);
        }
    }
    let before = cpu_seconds(proc.pid());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let used = cpu_seconds(proc.pid()) - before;
    assert!(
        used < 1.0,
        "the broker used {used:.2} CPU seconds in 2 s with its descriptors gone"
    );
    // The deadline frees the descriptors; the backlog is accepted and closed in turn.
    tokio::time::sleep(Duration::from_secs(5)).await;
    drop(stalled);
    let fresh = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Ok(channel) = Channel::from_shared(format!("http://{addr}"))
                .unwrap()
                .connect()
                .await
                && PublisherClient::new(channel)
                    .publish_lead(lead("after-emfile", org(3)))
                    .await
                    .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    assert!(fresh.is_ok(), "no client was served after the flood");
}

/// On the TLS listener the handshake and the HTTP/2 preface after it share the deadline: a
/// socket that sends nothing, one that stops half-way through its ClientHello, and one that
/// finishes the handshake (with a valid agency certificate) and then sends nothing are all
/// closed by it — the last used to stay open until the idle limit — while a client is served.
#[tokio::test]
async fn the_tls_handshake_and_the_preface_after_it_have_a_deadline() {
    use pki_types::pem::PemObject;
    use tokio::io::AsyncWriteExt;
    use tokio_rustls::rustls::{self, pki_types};
    let server = TestServer::start_tls("", |config| {
        config.security.handshake_timeout_secs = 1;
    })
    .await;
    let addr = server.running().grpc_addr();
    let certs = server.certs();
    let started = std::time::Instant::now();

    let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut half_hello = tokio::net::TcpStream::connect(addr).await.unwrap();
    // A TLS record header announcing a 512-byte handshake message, and a little of it.
    half_hello
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00])
        .await
        .unwrap();

    let mut roots = rustls::RootCertStore::empty();
    for ca in pki_types::CertificateDer::pem_file_iter(certs.join("ca.pem")).unwrap() {
        roots.add(ca.unwrap()).unwrap();
    }
    let chain = pki_types::CertificateDer::pem_file_iter(certs.join("330106-SCJG.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = pki_types::PrivateKeyDer::from_pem_file(certs.join("330106-SCJG-key.pem")).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .unwrap();
    client.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut handshaken = tokio_rustls::TlsConnector::from(std::sync::Arc::new(client))
        .connect(pki_types::ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("the handshake itself succeeds");

    let mut publisher = PublisherClient::new(server.channel_as("330100-STHJ").await);
    publisher
        .publish_lead(lead("while-they-stall", org(3)))
        .await
        .expect("served while they stall");

    let by = started + Duration::from_secs(5);
    crate::support::closed_by_server(&mut silent, by).await;
    crate::support::closed_by_server(&mut half_hello, by).await;
    crate::support::closed_by_server(&mut handshaken, by).await;
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "not before the deadline"
    );
    server.stop().await;
}
