//! Generated protobuf and tonic code for package `xiezhi.v1`, and nothing else.
//!
//! Conversions to and from domain types live in `gateway/convert.rs`; nothing outside
//! `gateway/` uses these types.
#![allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]

tonic::include_proto!("xiezhi.v1");

/// The encoded `FileDescriptorSet` of `proto/xiezhi/v1`, for gRPC reflection and JSON decoding.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("xiezhi_descriptor");
