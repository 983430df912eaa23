//! Limits of the accepted connections: caps, deadlines, the idle limit, TLS.

use super::*;

fn hygiene(total: usize, per: usize) -> Hygiene {
    Hygiene {
        preface_deadline: Duration::from_secs(10),
        idle_limit: Duration::from_secs(60),
        max_connections: total,
        max_per_address: per,
    }
}

#[test]
fn caps_hold_in_total_and_per_address() {
    let counts = Mutex::new(Counts::default());
    let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
    let h = hygiene(3, 2);
    assert!(admit(&counts, a, &h));
    assert!(admit(&counts, a, &h));
    assert!(!admit(&counts, a, &h), "third from one address");
    assert!(admit(&counts, b, &h));
    assert!(!admit(&counts, b, &h), "fourth in total");
}

#[test]
fn out_of_descriptors_is_told_apart() {
    assert!(out_of_descriptors(&io::Error::from_raw_os_error(24)));
    assert!(out_of_descriptors(&io::Error::from_raw_os_error(23)));
    assert!(!out_of_descriptors(&io::Error::from_raw_os_error(104)));
}

#[tokio::test]
async fn accepted_connections_send_without_waiting_for_acks() {
    use futures_util::StreamExt;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut accepted = Box::pin(incoming(listener, hygiene(10, 10)));
    let _client = TcpStream::connect(addr).await.unwrap();
    let server = accepted.next().await.unwrap().unwrap();
    assert!(server.inner.nodelay().unwrap(), "Nagle's algorithm is on");
}

#[tokio::test]
async fn a_connection_that_keeps_sending_outlives_the_idle_limit_and_a_silent_one_does_not() {
    use futures_util::StreamExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let h = Hygiene {
        preface_deadline: Duration::from_millis(150),
        idle_limit: Duration::from_millis(300),
        ..hygiene(10, 10)
    };
    let mut accepted = Box::pin(incoming(listener, h));
    let mut client = TcpStream::connect(addr).await.unwrap();
    let mut server = accepted.next().await.unwrap().unwrap();
    let mut buf = [0u8; 64];
    let started = std::time::Instant::now();
    // Past both limits in total, but never quiet for the idle limit.
    for _ in 0..8 {
        client
            .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            .await
            .unwrap();
        assert!(server.read(&mut buf).await.unwrap() > 0);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(started.elapsed() > Duration::from_millis(700));
    // Then silence: closed after the idle limit, not before.
    let quiet = std::time::Instant::now();
    let err = server.read(&mut buf).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    assert!(
        quiet.elapsed() >= Duration::from_millis(150),
        "{:?}",
        quiet.elapsed()
    );
    assert!(
        quiet.elapsed() < Duration::from_secs(2),
        "{:?}",
        quiet.elapsed()
    );
}

#[tokio::test]
async fn a_half_preface_is_closed_at_the_deadline_and_its_place_freed() {
    use futures_util::StreamExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let h = Hygiene {
        preface_deadline: Duration::from_millis(200),
        ..hygiene(10, 10)
    };
    let mut accepted = Box::pin(incoming(listener, h));
    let mut client = TcpStream::connect(addr).await.unwrap();
    client.write_all(b"PRI * HTTP/2.0").await.unwrap();
    let mut server = accepted.next().await.unwrap().unwrap();
    let mut buf = [0u8; 64];
    let n = server.read(&mut buf).await.unwrap();
    assert_eq!(n, 14);
    let started = std::time::Instant::now();
    let err = server.read(&mut buf).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(server.place.counts.lock().unwrap().total, 1);
    let counts = server.place.counts.clone();
    drop(server);
    assert_eq!(counts.lock().unwrap().total, 0, "its place is freed");
}
