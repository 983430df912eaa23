//! Generated protobuf code, and nothing else: package `xiezhi.v1` (the API, with its tonic
//! services, and the log record) at the top, the store's internal records in
//! [`store::v1`].
//!
//! Conversions to and from domain types live in `codec/` (shared by the log, the store and the
//! gateway) and `gateway/convert/` (request validation, answers).
#![allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]

tonic::include_proto!("xiezhi.v1");

/// The store's records (`proto/xiezhi/store/v1`), internal to the router's store.
pub mod store {
    /// Package `xiezhi.store.v1`.
    pub mod v1 {
        tonic::include_proto!("xiezhi.store.v1");
    }
}

/// The generated store code names `xiezhi.v1` types by the path of the packages
/// (`super::super::v1::Fact`); this alias is that path.
#[doc(hidden)]
pub mod v1 {
    pub use super::*;
}

/// The encoded `FileDescriptorSet` of `proto/xiezhi/v1`, for gRPC reflection and JSON decoding.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("xiezhi_descriptor");
