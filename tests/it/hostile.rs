//! Hostile input: more than fifty distinct malformed or malicious requests — wrong wire types,
//! truncated and lying gRPC frames, invalid UTF-8, huge strings, negative and overflowing
//! amounts, future and impossible timestamps, unknown and spoofed agencies — each of which must
//! get a clear error, with nothing of any of them stored. The limits are in `limits.rs`.

use std::net::SocketAddr;

use bytes::{Buf, BufMut};
use prost::Message as _;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;
use tonic::{Code, Status};
use xiezhi::proto;
use xiezhi::proto::inbox_client::InboxClient;
use xiezhi::proto::publisher_client::PublisherClient;
use xiezhi::proto::query_client::QueryClient;
use xiezhi::proto::referrals_client::ReferralsClient;

use crate::referrals::{refer, step};
use crate::security::person;
use crate::support::{Log, TestServer, lead, org, outcome};

/// Sends bytes as they are, as the message of any method.
#[derive(Clone, Copy, Default)]
struct Raw;

impl Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;
    fn encoder(&mut self) -> Raw {
        Raw
    }
    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        let mut out = vec![0; src.remaining()];
        src.copy_to_slice(&mut out);
        Ok(Some(out))
    }
}

async fn raw_call(channel: &Channel, path: &'static str, body: Vec<u8>) -> Result<Vec<u8>, Status> {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    grpc.unary(
        tonic::Request::new(body),
        PathAndQuery::from_static(path),
        Raw,
    )
    .await
    .map(tonic::Response::into_inner)
}

/// Protobuf by hand: a field key.
fn key(field: u64, wire: u64) -> Vec<u8> {
    varint((field << 3) | wire)
}

fn varint(mut n: u64) -> Vec<u8> {
    let mut out = Vec::new();
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out
}

/// A length-delimited field.
fn field(number: u64, bytes: &[u8]) -> Vec<u8> {
    [key(number, 2), varint(bytes.len() as u64), bytes.to_vec()].concat()
}

/// One gRPC call over a fresh plaintext HTTP/2 connection, with the body framed (or not) as
/// the caller says; the grpc-status and grpc-message the server answers.
async fn h2_call(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<(), (Code, String)> {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let mut client = client.ready().await.unwrap();
    let mut request = http::Request::builder()
        .method("POST")
        .uri(format!("http://{addr}{path}"))
        .header("te", "trailers");
    if !headers.iter().any(|(name, _)| *name == "content-type") {
        request = request.header("content-type", "application/grpc");
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let (response, mut stream) = client
        .send_request(request.body(()).unwrap(), false)
        .unwrap();
    stream.send_data(bytes::Bytes::from(body), true).unwrap();
    let response = response
        .await
        .map_err(|e| (Code::Unavailable, format!("HTTP/2: {e}")))?;
    let http_status = response.status();
    let grpc = |headers: &http::HeaderMap| {
        let code = headers
            .get("grpc-status")?
            .to_str()
            .ok()?
            .parse::<i32>()
            .ok()?;
        let message = headers
            .get("grpc-message")
            .and_then(|m| m.to_str().ok())
            .unwrap_or_default()
            .replace("%20", " ");
        Some((Code::from_i32(code), message))
    };
    let answer = match grpc(response.headers()) {
        Some(answer) => answer,
        None => {
            let mut body = response.into_body();
            while let Some(chunk) = body.data().await {
                let Ok(chunk) = chunk else { break };
                let _ = body.flow_control().release_capacity(chunk.len());
            }
            match body.trailers().await {
                Ok(Some(trailers)) => {
                    grpc(&trailers).unwrap_or((Code::Unknown, format!("HTTP {http_status}")))
                }
                _ => (
                    Code::Unknown,
                    format!("HTTP {http_status} without grpc-status"),
                ),
            }
        }
    };
    match answer {
        (Code::Ok, _) => Ok(()),
        refused => Err(refused),
    }
}

/// A gRPC message frame: compressed flag, declared length, bytes.
fn frame(compressed: u8, declared: u32, bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![compressed];
    out.extend_from_slice(&declared.to_be_bytes());
    out.extend_from_slice(bytes);
    out
}

/// The cases seen and the ones that were not refused as they should have been.
#[derive(Default)]
struct Tally {
    names: std::collections::BTreeSet<String>,
    wrong: Vec<String>,
    /// Each case and its answer, printed with `--nocapture`.
    answers: Vec<String>,
}

impl Tally {
    /// Records `case`: it must fail with one of `codes` and a message that says something.
    fn check<T>(&mut self, case: &str, result: Result<T, (Code, String)>, codes: &[Code]) {
        assert!(self.names.insert(case.to_owned()), "case {case:?} twice");
        match result {
            Ok(_) => self.wrong.push(format!("{case}: accepted")),
            Err((code, message)) => {
                self.answers.push(format!("{case}: {code:?}: {message}"));
                if !codes.contains(&code) || message.trim().is_empty() {
                    self.wrong.push(format!(
                        "{case}: {code:?} {message:?}, wanted one of {codes:?}"
                    ));
                }
            }
        }
    }

    fn status<T>(&mut self, case: &str, result: Result<T, Status>, codes: &[Code]) {
        self.check(
            case,
            result.map_err(|s| (s.code(), s.message().to_owned())),
            codes,
        );
    }
}

const INVALID: &[Code] = &[Code::InvalidArgument];
const DENIED: &[Code] = &[Code::PermissionDenied];

type LeadMutation = fn(&mut proto::PublishLeadRequest);

fn lead_body(r: &mut proto::PublishLeadRequest) -> &mut proto::Lead {
    r.lead.as_mut().unwrap()
}

fn at(seconds: i64, nanos: i32) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds, nanos })
}

fn from_now(seconds: i64) -> Option<prost_types::Timestamp> {
    at(jiff::Timestamp::now().as_second() + seconds, 0)
}

/// Malicious leads, sent as 330106-SCJG; all INVALID_ARGUMENT unless they claim another agency.
fn lead_cases() -> Vec<(&'static str, LeadMutation, &'static [Code])> {
    vec![
        (
            "huge summary (200,000 characters)",
            |r| lead_body(r).summary = "假".repeat(200_000),
            INVALID,
        ),
        (
            "huge subject name",
            |r| lead_body(r).subject.as_mut().unwrap().name = "名".repeat(5_000),
            INVALID,
        ),
        (
            "huge event id",
            |r| r.event_id = "e".repeat(10_000),
            INVALID,
        ),
        (
            "huge fact name",
            |r| lead_body(r).facts[0].name = format!("{}_fen", "a".repeat(5_000)),
            INVALID,
        ),
        (
            "request over max_request_bytes",
            |r| lead_body(r).summary = "x".repeat(1_500_000),
            INVALID,
        ),
        (
            "request over the transport's decode guard",
            |r| lead_body(r).summary = "x".repeat(5_000_000),
            &[Code::OutOfRange, Code::ResourceExhausted],
        ),
        (
            "NUL in the event id",
            |r| r.event_id = "ev\0id".into(),
            INVALID,
        ),
        (
            "newline in the event id",
            |r| r.event_id = "ev\nid".into(),
            INVALID,
        ),
        (
            "emoji in the event id",
            |r| r.event_id = "ev-🐂".into(),
            INVALID,
        ),
        (
            "path traversal in the event id",
            |r| r.event_id = "../../etc/passwd".into(),
            INVALID,
        ),
        (
            "NUL in the summary",
            |r| lead_body(r).summary = "a\0b".into(),
            INVALID,
        ),
        (
            "escape sequence in the subject name",
            |r| lead_body(r).subject.as_mut().unwrap().name = "\u{1b}[2J公司".into(),
            INVALID,
        ),
        (
            "blank summary",
            |r| lead_body(r).summary = "   ".into(),
            INVALID,
        ),
        (
            "negative money fact",
            |r| lead_body(r).facts[0].value = -1,
            INVALID,
        ),
        (
            "overflowing money fact",
            |r| lead_body(r).facts[0].value = i64::MAX,
            INVALID,
        ),
        (
            "overflowing quantity",
            |r| {
                lead_body(r).facts.push(proto::Fact {
                    name: "waste_kg".into(),
                    value: i64::MIN,
                })
            },
            INVALID,
        ),
        (
            "fact without a unit",
            |r| lead_body(r).facts[0].name = "sales".into(),
            INVALID,
        ),
        (
            "duplicate facts",
            |r| {
                let f = lead_body(r).facts[0].clone();
                lead_body(r).facts.push(f)
            },
            INVALID,
        ),
        (
            "65 facts",
            |r| {
                lead_body(r).facts = (0..65)
                    .map(|i| proto::Fact {
                        name: format!("f{i}_count"),
                        value: 1,
                    })
                    .collect()
            },
            INVALID,
        ),
        (
            "produced a year ahead",
            |r| r.produced_at = from_now(365 * 86_400),
            INVALID,
        ),
        (
            "observed an hour ahead",
            |r| lead_body(r).observed_at = from_now(3_600),
            INVALID,
        ),
        (
            "timestamp at i64::MAX seconds",
            |r| r.produced_at = at(i64::MAX, 0),
            INVALID,
        ),
        (
            "timestamp before year 1",
            |r| r.produced_at = at(-100_000_000_000, 0),
            INVALID,
        ),
        (
            "nanos beyond a second",
            |r| r.produced_at = at(1_700_000_000, 2_000_000_000),
            INVALID,
        ),
        ("unknown domain", |r| lead_body(r).domain = 999, INVALID),
        ("negative enum", |r| lead_body(r).domain = -5, INVALID),
        ("unknown handling code", |r| r.handling = 99, INVALID),
        (
            "sensitivity unspecified",
            |r| lead_body(r).sensitivity = 0,
            INVALID,
        ),
        (
            "credit code check character",
            |r| lead_body(r).subject.as_mut().unwrap().id = "91330106MA2H0Q7W1H".into(),
            INVALID,
        ),
        (
            "identity number with an impossible birth date",
            |r| {
                let s = lead_body(r).subject.as_mut().unwrap();
                s.kind = proto::SubjectKind::Person as i32;
                s.id = "110105194902300021".into()
            },
            INVALID,
        ),
        (
            "person kind with a credit code",
            |r| lead_body(r).subject.as_mut().unwrap().kind = proto::SubjectKind::Person as i32,
            INVALID,
        ),
        (
            "division with letters",
            |r| lead_body(r).division = "33O1O6".into(),
            INVALID,
        ),
        (
            "division of 13 digits",
            |r| lead_body(r).division = "3301060010011".into(),
            INVALID,
        ),
        (
            "SQL in the offence code",
            |r| lead_body(r).offence_code = "'; DROP TABLE leads;--".into(),
            INVALID,
        ),
        (
            "unknown target agency",
            |r| lead_body(r).target_agencies = vec!["330106-NOPE".into()],
            INVALID,
        ),
        (
            "33 target agencies",
            |r| lead_body(r).target_agencies = vec!["330106-GA".into(); 33],
            INVALID,
        ),
        (
            "no onward sharing to nobody",
            |r| r.handling = proto::HandlingCode::NoOnwardSharing as i32,
            INVALID,
        ),
        (
            "spoofed producer, registered",
            |r| r.producer = "330100-STHJ".into(),
            DENIED,
        ),
        (
            "spoofed producer, unknown agency",
            |r| r.producer = "330106-XXX".into(),
            DENIED,
        ),
        (
            "spoofed producer, malformed",
            |r| r.producer = "<script>".into(),
            DENIED,
        ),
    ]
}

#[tokio::test]
async fn more_than_fifty_hostile_requests_each_get_a_clear_error_and_nothing_is_stored() {
    let server = TestServer::start_tls("", |_| {}).await;
    let channel = server.channel_as("330106-SCJG").await;
    let mut tally = Tally::default();

    let mut publisher = PublisherClient::new(channel.clone());
    for (case, mutate, codes) in lead_cases() {
        let mut request = lead("hostile", org(1));
        request.producer.clear();
        mutate(&mut request);
        tally.status(case, publisher.publish_lead(request).await, codes);
    }

    // Outcomes, referrals, steps, inboxes, queries.
    let mut negative = outcome("o-neg", "", org(1), None);
    negative.outcome.as_mut().unwrap().fine_fen = -100;
    tally.status(
        "negative fine",
        publisher.publish_outcome(negative).await,
        INVALID,
    );
    let mut huge = outcome("o-huge", "", org(1), None);
    huge.outcome.as_mut().unwrap().confiscated_fen = i64::MAX;
    tally.status(
        "overflowing confiscation",
        publisher.publish_outcome(huge).await,
        INVALID,
    );
    let mut future = outcome("o-future", "", org(1), None);
    future.outcome.as_mut().unwrap().decided_at = from_now(86_400);
    tally.status(
        "decided tomorrow",
        publisher.publish_outcome(future).await,
        INVALID,
    );
    let mut bad_ref = outcome("o-ref", "", org(1), Some(("not an agency", "x")));
    bad_ref.outcome.as_mut().unwrap().case_number.clear();
    tally.status(
        "outcome naming a malformed lead, no case number",
        publisher.publish_outcome(bad_ref).await,
        INVALID,
    );

    let now = jiff::Timestamp::now();
    let mut referrals = ReferralsClient::new(channel.clone());
    let mut police = refer("r-police", "R-1", "案1", now);
    police.referral.as_mut().unwrap().police = "330102-GA".into();
    tally.status(
        "referral to another division's police",
        referrals.refer(police).await,
        INVALID,
    );
    let mut digest = refer("r-digest", "R-2", "案2", now);
    digest.referral.as_mut().unwrap().documents[0].sha256 = "not-hex".into();
    tally.status(
        "document digest not hex",
        referrals.refer(digest).await,
        INVALID,
    );
    let mut bare = refer("r-bare", "R-3", "案3", now);
    bare.referral.as_mut().unwrap().documents.clear();
    tally.status(
        "referral without its transfer package",
        referrals.refer(bare).await,
        INVALID,
    );
    let mut person_ref = refer("r-spoof", "R-4", "案4", now);
    person_ref.producer = "330106-RSJ".into();
    person_ref.referral.as_mut().unwrap().subject = Some(person());
    tally.status(
        "referral claiming another referring agency",
        referrals.refer(person_ref).await,
        DENIED,
    );
    let unknown = step(
        "s-1",
        "330106-SCJG",
        "R-NONE",
        proto::ReferralAction::Approve,
        "",
        now,
    );
    tally.status(
        "step on an unknown referral",
        referrals.update(unknown).await,
        &[Code::NotFound],
    );
    let spoofed = step(
        "s-2",
        "330106-GA",
        "R-NONE",
        proto::ReferralAction::Receive,
        "",
        now,
    );
    tally.status(
        "step claiming the police's part",
        referrals.update(spoofed).await,
        DENIED,
    );
    let get = proto::GetReferralRequest {
        agency: "330106-SCJG".into(),
        referral_id: "../x".into(),
    };
    tally.status("malformed referral id", referrals.get(get).await, INVALID);

    let mut inbox = InboxClient::new(channel.clone());
    let ack = proto::AcknowledgeRequest {
        agency: "330100-SFJ".into(),
        cursor: 0,
    };
    tally.status(
        "acknowledging another agency's inbox",
        inbox.acknowledge(ack).await,
        DENIED,
    );
    let ahead = proto::AcknowledgeRequest {
        agency: String::new(),
        cursor: u64::MAX,
    };
    tally.status(
        "acknowledging past the last delivery",
        inbox.acknowledge(ahead).await,
        &[Code::OutOfRange],
    );
    let subscribe = proto::SubscribeRequest {
        agency: "330106-GA".into(),
        from_cursor: None,
    };
    tally.status(
        "subscribing to another agency's inbox",
        inbox.subscribe(subscribe).await,
        DENIED,
    );

    let mut query = QueryClient::new(channel.clone());
    let page = proto::ListLeadsRequest {
        page_size: 1_000_000,
        ..Default::default()
    };
    tally.status("page of a million", query.list_leads(page).await, INVALID);
    let token = proto::ListLeadsRequest {
        page_token: "\u{0}garbage".into(),
        ..Default::default()
    };
    tally.status("forged page token", query.list_leads(token).await, INVALID);
    let prefix = proto::ListLeadsRequest {
        division_prefix: "33%".into(),
        ..Default::default()
    };
    tally.status(
        "wildcard in a division prefix",
        query.list_leads(prefix).await,
        INVALID,
    );
    let timeline = proto::SubjectTimelineRequest {
        kind: 1,
        id: "*".into(),
        ..Default::default()
    };
    tally.status(
        "timeline of a wildcard",
        query.subject_timeline(timeline).await,
        INVALID,
    );

    // Bytes that are not the method's message at all.
    let publish = "/xiezhi.v1.Publisher/PublishLead";
    let utf8 = |bytes: &[u8]| field(4, &field(1, &field(3, bytes)));
    let raw_cases: Vec<(&str, &'static str, Vec<u8>, &[Code])> = vec![
        ("random bytes", publish, vec![0xff; 32], INVALID),
        (
            "event id as a varint",
            publish,
            [key(1, 0), vec![1]].concat(),
            INVALID,
        ),
        (
            "producer as fixed64",
            publish,
            [key(2, 1), vec![0; 8]].concat(),
            INVALID,
        ),
        (
            "invalid UTF-8 in the event id",
            publish,
            field(1, &[0xff, 0xfe]),
            INVALID,
        ),
        (
            "invalid UTF-8 in the producer",
            publish,
            field(2, &[0xc3, 0x28]),
            INVALID,
        ),
        (
            "invalid UTF-8 in a nested subject name",
            publish,
            utf8(&[0xe2, 0x28, 0xa1]),
            INVALID,
        ),
        (
            "length beyond the buffer",
            publish,
            [key(1, 2), varint(1_000), b"abc".to_vec()].concat(),
            INVALID,
        ),
        (
            "nested length beyond its parent",
            publish,
            field(4, &[key(1, 2), varint(50), b"x".to_vec()].concat()),
            INVALID,
        ),
        (
            "64-bit length",
            publish,
            [key(1, 2), varint(u64::MAX)].concat(),
            INVALID,
        ),
        ("field number 0", publish, vec![0x00, 0x01], INVALID),
        ("unterminated group", publish, key(9, 3), INVALID),
        (
            "groups nested 200 deep",
            publish,
            [key(15, 3).repeat(200), key(15, 4).repeat(200)].concat(),
            INVALID,
        ),
        ("empty message", publish, Vec::new(), INVALID),
        (
            "a SubscribeRequest sent to PublishLead",
            publish,
            proto::SubscribeRequest {
                agency: "x".into(),
                from_cursor: Some(5),
            }
            .encode_to_vec(),
            INVALID,
        ),
        (
            "cursor sent as a string",
            "/xiezhi.v1.Inbox/Acknowledge",
            [field(1, b"330106-SCJG"), field(2, b"1")].concat(),
            INVALID,
        ),
        (
            "invalid UTF-8 in a step's actor",
            "/xiezhi.v1.Referrals/Update",
            field(2, &[0x80]),
            INVALID,
        ),
        (
            "health check that does not decode",
            "/grpc.health.v1.Health/Check",
            field(1, &[0x80]),
            INVALID,
        ),
        (
            "health watch that does not decode",
            "/grpc.health.v1.Health/Watch",
            field(1, &[0xff, 0xfe]),
            INVALID,
        ),
        (
            "reflection request that does not decode",
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            field(1, &[0x80]),
            INVALID,
        ),
        (
            "v1alpha reflection request that does not decode",
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
            field(3, &[0xc0]),
            INVALID,
        ),
        (
            "unknown method",
            "/xiezhi.v1.Publisher/DeleteEverything",
            Vec::new(),
            &[Code::Unimplemented],
        ),
        (
            "unknown service",
            "/xiezhi.v9.Admin/Shutdown",
            Vec::new(),
            &[Code::Unimplemented],
        ),
    ];
    for (case, path, body, codes) in raw_cases {
        tally.status(case, raw_call(&channel, path, body).await, codes);
    }

    // Lying gRPC frames, over a plaintext development server (the framing is the same).
    let plain = TestServer::start(Log::Embedded).await;
    let addr = plain.running().grpc_addr();
    let valid = lead("frame", org(2)).encode_to_vec();
    let len = valid.len() as u32;
    let frame_cases: Vec<FrameCase> = vec![
        (
            "frame declares more than it carries",
            vec![],
            frame(0, len + 100, &valid),
            INVALID,
        ),
        ("frame header cut short", vec![], vec![0, 0, 0], INVALID),
        ("no message at all", vec![], Vec::new(), INVALID),
        (
            "compressed flag without an encoding",
            vec![],
            frame(1, len, &valid),
            INVALID,
        ),
        (
            "unsupported compression",
            vec![("grpc-encoding", "br")],
            frame(1, len, &valid),
            &[Code::Unimplemented],
        ),
        (
            "declared length of 100 MiB",
            vec![],
            frame(0, 100 << 20, &valid),
            &[Code::OutOfRange, Code::ResourceExhausted],
        ),
        (
            "not gRPC at all",
            vec![("content-type", "application/json")],
            b"{\"eventId\": 1}".to_vec(),
            INVALID,
        ),
    ];
    for (case, headers, body, codes) in frame_cases {
        tally.check(
            case,
            h2_call(addr, "/xiezhi.v1.Publisher/PublishLead", &headers, body).await,
            codes,
        );
    }

    assert!(
        tally.wrong.is_empty(),
        "not refused as they should be:\n{}",
        tally.wrong.join("\n")
    );
    assert!(tally.names.len() >= 50, "only {} cases", tally.names.len());
    assert_eq!(server.log_records().await, 0, "nothing reached the log");
    assert_eq!(server.event_count(), 0, "nothing reached the store");
    assert_eq!(plain.log_records().await, 0, "nothing reached the log");
    println!(
        "{} hostile requests refused:\n{}",
        tally.names.len(),
        tally.answers.join("\n")
    );
    plain.stop().await;
    server.stop().await;
}

/// A raw HTTP/2 case: its name, extra headers, the body sent and the codes that count as refusal.
type FrameCase = (
    &'static str,
    Vec<(&'static str, &'static str)>,
    Vec<u8>,
    &'static [Code],
);
