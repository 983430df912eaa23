//! Compiles `proto/xiezhi/v1/*.proto` (the API and the log record) and
//! `proto/xiezhi/store/v1/*.proto` (the store's records) with protox, a pure-Rust protobuf
//! compiler, so a fresh machine needs no system `protoc`. Writes the generated code and the
//! encoded descriptor set of the public package (served by gRPC reflection and used to read JSON
//! events) into `OUT_DIR`.

use std::{env, fs, path::PathBuf};

use prost::Message as _;

fn protos(dir: &str) -> Result<Vec<PathBuf>, Box<dyn std::error::Error>> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "proto"))
        .collect();
    files.sort();
    Ok(files)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut files = protos("proto/xiezhi/v1")?;
    files.extend(protos("proto/xiezhi/store/v1")?);
    println!("cargo:rerun-if-changed=proto");
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }

    let fds = protox::compile(&files, ["proto"])?;
    let out = PathBuf::from(env::var("OUT_DIR")?);
    // Reflection serves the API, not the store's internal records.
    let mut public = fds.clone();
    public
        .file
        .retain(|file| file.package() != "xiezhi.store.v1");
    fs::write(out.join("xiezhi_descriptor.bin"), public.encode_to_vec())?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .emit_rerun_if_changed(false)
        // Malformed requests are the caller's error (INVALID_ARGUMENT), not INTERNAL.
        .codec_path("crate::gateway::codec::StrictCodec")
        .compile_fds(fds)?;
    Ok(())
}
