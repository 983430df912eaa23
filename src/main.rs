//! The `xiezhi` command; everything but the allocator is in [`cli`].

mod cli;

/// sled copies and frees tree nodes on every write; glibc's allocator spent a third of the
/// apply path in malloc, free and arena locks, mimalloc far less (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    cli::run().await
}
