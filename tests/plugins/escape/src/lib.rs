//! Fixture: tries to reach what the sandbox withholds (files, environment, network, clock)
//! and reports what it saw, so the host's tests can check each door is shut.

use plughost_sdk::{Conn, RpcError};
use schemars::JsonSchema;
use serde::Serialize;

/// What the plugin could reach.
#[derive(Serialize, JsonSchema)]
struct Reach {
    /// Whether reading /etc/passwd worked
    read_file: bool,
    /// Whether listing / worked
    list_root: bool,
    /// Whether creating a file worked
    write_file: bool,
    /// How many environment variables were visible
    env_vars: usize,
    /// Whether a TCP connection to 127.0.0.1:1 could even be attempted without a refusal
    /// from the sandbox (false: the connect was denied)
    tcp_connect: bool,
    /// Seconds since the Unix epoch, as the wall clock says
    wall_clock_secs: u64,
}

/// Tries every door and reports which opened.
#[plughost_sdk::rpc("escape.try")]
fn try_all(_conn: &Conn) -> Result<Reach, RpcError> {
    let tcp_connect = match std::net::TcpStream::connect("127.0.0.1:1") {
        Ok(_) => true,
        // A refusal from the peer would mean the sandbox let the connect out.
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionRefused,
    };
    Ok(Reach {
        read_file: std::fs::read("/etc/passwd").is_ok(),
        list_root: std::fs::read_dir("/").is_ok(),
        write_file: std::fs::write("escape.txt", b"x").is_ok(),
        env_vars: std::env::vars().count(),
        tcp_connect,
        wall_clock_secs: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    })
}

/// How many sockets the plugin could open and hold at once, and whether it could resolve a name.
#[derive(Serialize, JsonSchema)]
struct Sockets {
    /// TCP sockets created (and held open), out of 10,000 tries
    tcp_created: u32,
    /// UDP sockets created (and held open), out of 10,000 tries
    udp_created: u32,
    /// Whether resolving `localhost` was allowed
    name_lookup: bool,
}

/// Tries to exhaust the host's file descriptors: creates up to 10,000 TCP and 10,000 UDP
/// sockets, holding every one open until it returns.
#[plughost_sdk::rpc("escape.sockets")]
fn sockets(_conn: &Conn) -> Result<Sockets, RpcError> {
    use wasi::sockets::network::IpAddressFamily;
    let mut held_tcp = Vec::new();
    for _ in 0..10_000 {
        match wasi::sockets::tcp_create_socket::create_tcp_socket(IpAddressFamily::Ipv4) {
            Ok(socket) => held_tcp.push(socket),
            Err(_) => break,
        }
    }
    let mut held_udp = Vec::new();
    for _ in 0..10_000 {
        match wasi::sockets::udp_create_socket::create_udp_socket(IpAddressFamily::Ipv4) {
            Ok(socket) => held_udp.push(socket),
            Err(_) => break,
        }
    }
    let network = wasi::sockets::instance_network::instance_network();
    let name_lookup = wasi::sockets::ip_name_lookup::resolve_addresses(&network, "localhost").is_ok();
    Ok(Sockets { tcp_created: held_tcp.len() as u32, udp_created: held_udp.len() as u32, name_lookup })
}

plughost_sdk::plugin!(try_all, sockets);
