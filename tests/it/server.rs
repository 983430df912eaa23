//! Standard gRPC surfaces: health checking and server reflection (v1 and v1alpha), so grpcurl
//! and clients in any language work without the .proto files.

use tokio_stream::StreamExt as _;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};
use tonic_reflection::pb::{v1, v1alpha};

use crate::support::{Log, TestServer};

async fn health_reports_serving_for_every_service(log: Log) {
    let server = TestServer::start(log).await;
    let mut health = HealthClient::new(server.channel.clone());
    for service in [
        "",
        "xiezhi.v1.Publisher",
        "xiezhi.v1.Inbox",
        "xiezhi.v1.Query",
    ] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service:?}");
    }
    server.stop().await;
}

async fn reflection_lists_and_describes_services_on_v1_and_v1alpha(log: Log) {
    let server = TestServer::start(log).await;

    let mut client =
        v1::server_reflection_client::ServerReflectionClient::new(server.channel.clone());
    let request = v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        )),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let Some(v1::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        responses.next().await.unwrap().unwrap().message_response
    else {
        panic!("not a service list")
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "xiezhi.v1.Publisher",
        "xiezhi.v1.Inbox",
        "xiezhi.v1.Query",
        "grpc.health.v1.Health",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }

    let mut old =
        v1alpha::server_reflection_client::ServerReflectionClient::new(server.channel.clone());
    let request = v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            v1alpha::server_reflection_request::MessageRequest::FileContainingSymbol(
                "xiezhi.v1.Publisher".into(),
            ),
        ),
    };
    let mut responses = old
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.next().await.unwrap().unwrap().message_response;
    assert!(
        matches!(response, Some(v1alpha::server_reflection_response::MessageResponse::FileDescriptorResponse(ref f)) if !f.file_descriptor_proto.is_empty()),
        "{response:?}"
    );
    server.stop().await;
}

crate::on_both_logs!(
    health_reports_serving_for_every_service,
    reflection_lists_and_describes_services_on_v1_and_v1alpha,
);
