//! Generates Centrifugo's gRPC contracts with the pure-Rust protox (no protoc needed):
//! server stubs for the proxy Centrifugo calls (`proto/centrifugo_proxy.proto`) and a
//! client for the server API the host publishes through (`proto/centrifugo_api.proto`).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_dir = "../proto";
    let proxy = "../proto/centrifugo_proxy.proto";
    let api = "../proto/centrifugo_api.proto";
    println!("cargo:rerun-if-changed={proxy}");
    println!("cargo:rerun-if-changed={api}");

    // Each package is written to its own file in OUT_DIR, so two passes do not collide.
    tonic_prost_build::configure()
        .build_client(false)
        .build_server(true)
        .compile_fds(protox::compile([proxy], [proto_dir])?)?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(false)
        .build_transport(true)
        .compile_fds(protox::compile([api], [proto_dir])?)?;
    Ok(())
}
