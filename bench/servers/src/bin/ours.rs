//! Our server for the benchmark.
//!
//! ```text
//! bench-ours --runtime tokio --port 0 [--ping-interval-ms N] [--ping-timeout-ms N]
//! ```

use std::net::SocketAddr;

use bench_servers::{Args, announce, ours, raise_fd_limit};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse()?;
    raise_fd_limit();
    match args.runtime.as_str() {
        "tokio" => run_tokio(&args),
        // runtime-async-std plugs in here once it lands, with the same
        // `ours::app()` and `ours::config(&args)`: start its executor,
        // `serve_io`, `bind`, `announce(port)`, `serve`.
        "async-std" | "smol" => {
            Err(format!("runtime {:?} is not wired in yet", args.runtime).into())
        }
        other => Err(format!("unknown runtime {other:?} (tokio, async-std, smol)").into()),
    }
}

fn run_tokio(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let io = ours::app();
        let driver = runtime_tokio::serve_io(&io, ours::config(args));
        let listener = runtime_tokio::bind(SocketAddr::from(([127, 0, 0, 1], args.port)))?;
        announce(listener.local_addr()?.port());
        runtime_tokio::serve(driver, listener).await;
        Ok(())
    })
}
