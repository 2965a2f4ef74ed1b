//! Generates a client of Centrifugo's proxy service (`proto/centrifugo_proxy.proto`), so the
//! e2e tests can call the host's gRPC front end the way Centrifugo does.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "../proto/centrifugo_proxy.proto";
    println!("cargo:rerun-if-changed={proto}");
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(false)
        // No `connect` constructor: it would clash with the proxy's own `Connect` rpc.
        .build_transport(false)
        .compile_fds(protox::compile([proto], ["../proto"])?)?;
    Ok(())
}
