//! Compiles `proto/terminal.proto` with the pure-Rust protox (no protoc on build machines)
//! and generates prost messages plus tonic client and server stubs.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_dir = "../proto";
    let proto = "../proto/terminal.proto";
    println!("cargo:rerun-if-changed={proto}");

    let fds = protox::compile([proto], [proto_dir])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .build_transport(true)
        // Output chunks are fanned out to many subscribers: `Bytes` clones are cheap.
        .bytes(".")
        .compile_fds(fds)?;
    Ok(())
}
