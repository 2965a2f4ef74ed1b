//! Who may reach the agent and what they may run: the token, the Unix socket, the refusal
//! of an unprotected public address, TLS, and the command allow-list. Each test is an
//! attack that succeeded before the agent had these checks.



use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::process::Stdio;
use std::time::Duration;

use crate::common::*;
use terminal_agent::proto::{
    CloseRequest, CreateRequest, GetRequest, InputRequest, SubscribeRequest,
};
use terminal_agent::{serve_on, Agent, AgentConfig, ListenAddr, Listener, TlsIdentity};
use tokio::io::AsyncBufReadExt;
use tonic::Code;

const TOKEN: &str = "s3cret-token-0123456789";

fn with_token() -> AgentConfig {
    AgentConfig {
        token: Some(TOKEN.into()),
        ..config()
    }
}

/// Before: any caller that reached the port got a shell. Now: no token and a wrong token
/// are both refused on Create and Subscribe (and every other call) with a fixed message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_without_the_right_token_are_unauthenticated() {
    let mut h = start(with_token()).await;
    // A real session, so that NOT_FOUND cannot stand in for the refusal.
    let id = create(&mut h.client, 80, 24).await;
    let wrong = "s3cret-token-0123456780";
    for token in [None, Some(wrong), Some("")] {
        let mut c = connect(&h.addr, token).await;
        let create = c
            .create(CreateRequest::default())
            .await
            .expect_err("Create without the token");
        let subscribe = c
            .subscribe(SubscribeRequest {
                session_id: id.clone(),
                after_seq: 0,
            })
            .await
            .expect_err("Subscribe without the token");
        let input = c
            .input(InputRequest {
                session_id: id.clone(),
                data: b"echo pwned\n".to_vec().into(),
            })
            .await
            .expect_err("Input without the token");
        let close = c
            .close(CloseRequest {
                session_id: id.clone(),
            })
            .await
            .expect_err("Close without the token");
        for status in [create, subscribe, input, close] {
            assert_eq!(status.code(), Code::Unauthenticated, "token {token:?}");
            assert!(
                !status.message().contains(wrong),
                "echoed the presented token"
            );
        }
    }
    // Nothing the refused calls asked for happened.
    assert_eq!(h.agent.session_count(), 1);
    let info = h
        .client
        .get(GetRequest { session_id: id })
        .await
        .unwrap()
        .into_inner();
    assert!(info.running);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_right_token_works() {
    let mut h = start(with_token()).await;
    let id = create(&mut h.client, 80, 24).await;
    let mut sub = Sub::open(&mut h.client, &id, 0).await;
    input(&mut h.client, &id, "echo \"to\"\"ken ok\"\n").await;
    sub.wait_for_text("token ok").await;
}

/// Before: only TCP, open to every local user. Now: a Unix socket of mode 0600 that
/// replaces a stale socket file, refuses to take over a live one or a non-socket, serves,
/// and is removed at shutdown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unix_socket_is_0600_serves_and_is_removed_at_shutdown() {
    let dir = TempDir::new("unix");
    // World-accessible directory: only the socket's own mode keeps others out.
    std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o777)).unwrap();
    let path = dir.0.join("agent.sock");
    // A stale socket left by an agent that was killed.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());

    let addr: ListenAddr = format!("unix:{}", path.display()).parse().unwrap();
    let listener = addr.bind(false).await.expect("stale socket replaced");
    let meta = std::fs::symlink_metadata(&path).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    // No staging directory is left behind.
    assert_eq!(std::fs::read_dir(&dir.0).unwrap().count(), 1);

    // A live socket is not taken over.
    let err = addr.bind(false).await.expect_err("live socket taken over");
    assert!(err.to_string().contains("another process"), "{err}");

    let agent = Agent::new(config());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(serve_on(agent, listener, None, async {
        let _ = stopped.await;
    }));
    let mut client = connect_unix(&path, None).await;
    let id = create(&mut client, 80, 24).await;
    let mut sub = Sub::open(&mut client, &id, 0).await;
    input(&mut client, &id, "echo \"un\"\"ix ok\"\n").await;
    sub.wait_for_text("unix ok").await;

    let _ = stop.send(());
    assert_eq!(sub.finish().await, ("closed".to_owned(), None));
    tokio::time::timeout(WAIT, served)
        .await
        .expect("serve_on did not return")
        .unwrap()
        .unwrap();
    assert!(!path.exists(), "socket file left after shutdown");

    // Something that is not a socket is never replaced.
    std::fs::write(&path, "precious").unwrap();
    let err = addr.bind(false).await.expect_err("regular file replaced");
    assert!(err.to_string().contains("not a socket"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
}

/// Runs the binary with `args` and `env` and waits for it to exit; returns whether it
/// succeeded and its stderr.
async fn run_agent(args: &[&str], env: &[(&str, &str)]) -> (std::process::ExitStatus, String) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_terminal-agent"));
    cmd.args(args)
        .env_remove("PLUGHOST_TERMINAL_TOKEN")
        .env_remove("TERMINAL_AGENT_LISTEN")
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let out = tokio::time::timeout(WAIT, cmd.output())
        .await
        .expect("the agent kept running")
        .unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Before: `--listen 0.0.0.0:50051` served a shell to the whole network. Now the binary
/// refuses to start without a token and names the fix; a weak token is refused too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_refuses_a_public_address_without_a_token() {
    let (status, stderr) = run_agent(&["--listen", "0.0.0.0:0"], &[]).await;
    assert!(!status.success(), "started on 0.0.0.0 without a token");
    assert!(stderr.contains("without a token"), "{stderr}");
    assert!(stderr.contains("--token-file"), "{stderr}");
    assert!(!stderr.contains("terminal agent listening"), "{stderr}");

    let (status, stderr) = run_agent(
        &["--listen", "0.0.0.0:0"],
        &[("PLUGHOST_TERMINAL_TOKEN", "xyzzy-tok\n")],
    )
    .await;
    assert!(!status.success(), "started with a 9-byte token");
    assert!(stderr.contains("at least 16 bytes"), "{stderr}");
    assert!(!stderr.contains("xyzzy"), "printed the token: {stderr}");

    let (status, stderr) =
        run_agent(&["--listen", "127.0.0.1:0", "--tls-cert", "x.pem"], &[]).await;
    assert!(!status.success(), "--tls-cert without --tls-key accepted");
    assert!(stderr.contains("--tls-key"), "{stderr}");
}

/// The binary end to end: token from a file (trailing newline ignored), a Unix socket,
/// `--allow-command` lists; SIGTERM removes the socket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_serves_a_unix_socket_with_a_token_file() {
    let dir = TempDir::new("bin");
    let token_file = dir.0.join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let sock = dir.0.join("agent.sock");
    let listen = format!("unix:{}", sock.display());
    let mut agent = tokio::process::Command::new(env!("CARGO_BIN_EXE_terminal-agent"))
        .args(["--listen", &listen, "--shell", "/bin/sh", "--token-file"])
        .arg(&token_file)
        .args([
            "--allow-command",
            "/bin/true,/bin/echo",
            "--allow-command",
            "/bin/cat",
        ])
        .env_remove("PLUGHOST_TERMINAL_TOKEN")
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(agent.stderr.take().unwrap()).lines();
    tokio::time::timeout(WAIT, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("terminal agent listening") {
                return;
            }
        }
        panic!("agent exited before listening");
    })
    .await
    .expect("agent did not start");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let mut anonymous = connect_unix(&sock, None).await;
    let err = anonymous
        .create(CreateRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);

    let mut client = connect_unix(&sock, Some(TOKEN)).await;
    for (command, allowed) in [
        ("/bin/echo", true),
        ("/bin/cat", true),
        ("/usr/bin/id", false),
    ] {
        let result = client
            .create(CreateRequest {
                command: command.into(),
                ..Default::default()
            })
            .await;
        match (allowed, result) {
            (true, Ok(_)) => {}
            (false, Err(e)) => assert_eq!(e.code(), Code::PermissionDenied),
            (allowed, other) => panic!("{command}: allowed={allowed}, got {other:?}"),
        }
    }

    let pid = libc::pid_t::try_from(agent.id().unwrap()).unwrap();
    // SAFETY: signalling our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = tokio::time::timeout(WAIT, agent.wait())
        .await
        .expect("agent did not exit")
        .unwrap();
    assert!(status.success(), "agent exited with {status}");
    assert!(!sock.exists(), "socket file left after SIGTERM");
}

/// Before: Create ran any program with any arguments. Now an unlisted program, and
/// arguments to the (unlisted) default shell, are PERMISSION_DENIED; listed ones run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_command_refuses_unlisted_commands_and_shell_arguments() {
    let mut h = start(AgentConfig {
        allow_commands: vec!["/bin/echo".into()],
        ..config()
    })
    .await;
    let refused = [
        ("/usr/bin/id", vec![]),
        // Not an exact match of a listed program.
        ("echo", vec![]),
        ("/bin/echo/", vec![]),
        // `sh -c` would run anything, so the default shell gets no arguments.
        ("", vec!["-c", "id"]),
        ("/bin/sh", vec!["-c", "id"]),
    ];
    for (command, args) in refused {
        let err = h
            .client
            .create(CreateRequest {
                command: command.into(),
                args: args.iter().map(|a| a.to_string()).collect(),
                ..Default::default()
            })
            .await
            .expect_err("refused");
        assert_eq!(err.code(), Code::PermissionDenied, "{command:?} {args:?}");
    }
    assert_eq!(h.agent.session_count(), 0);

    // A listed program runs, with arguments.
    let id = h
        .client
        .create(CreateRequest {
            command: "/bin/echo".into(),
            args: vec!["listed".into(), "ok".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .session_id;
    let mut sub = Sub::open(&mut h.client, &id, 0).await;
    assert_eq!(sub.finish().await, ("exited".to_owned(), Some(0)));
    assert!(sub.text.contains("listed ok"), "{:?}", sub.text);
    // The default shell itself still runs without arguments.
    create(&mut h.client, 80, 24).await;

    // Listing the shell allows its arguments.
    let mut h = start(AgentConfig {
        allow_commands: vec!["/bin/sh".into()],
        ..config()
    })
    .await;
    let id = h
        .client
        .create(CreateRequest {
            command: "".into(),
            args: vec!["-c".into(), "echo \"sh\"\"ell ok\"".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .session_id;
    let mut sub = Sub::open(&mut h.client, &id, 0).await;
    sub.finish().await;
    assert!(sub.text.contains("shell ok"), "{:?}", sub.text);
}

/// Writes a self-signed certificate for `localhost` with openssl; `None` if openssl is
/// not installed.
fn self_signed(dir: &std::path::Path) -> Option<(Vec<u8>, Vec<u8>)> {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()?;
    status
        .success()
        .then(|| (std::fs::read(&cert).unwrap(), std::fs::read(&key).unwrap()))
}

/// TLS for an agent on another machine: a client trusting the certificate gets through
/// (with the token); a plaintext client does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_listener_serves_clients_that_trust_its_certificate() {
    let dir = TempDir::new("tls");
    let Some((cert, key)) = self_signed(&dir.0) else {
        panic!("cannot make a test certificate: the openssl command is missing or failed (make system-deps installs it)");
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let agent = Agent::new(with_token());
    let tls = TlsIdentity::from_pem(cert.clone(), key);
    tokio::spawn(serve_on(
        agent,
        Listener::Tcp(listener),
        Some(tls),
        std::future::pending(),
    ));

    let tls_client = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(&cert))
        .domain_name("localhost");
    let channel = tonic::transport::Endpoint::from_shared(format!("https://localhost:{port}"))
        .unwrap()
        .tls_config(tls_client)
        .unwrap()
        .connect()
        .await
        .expect("TLS connection");
    let mut c = client(channel, Some(TOKEN));
    let id = create(&mut c, 80, 24).await;
    let mut sub = Sub::open(&mut c, &id, 0).await;
    input(&mut c, &id, "echo \"tl\"\"s ok\"\n").await;
    sub.wait_for_text("tls ok").await;

    // Plaintext HTTP/2 to the TLS port gets nowhere.
    let plain = tokio::time::timeout(
        Duration::from_secs(5),
        connect_plain_and_create(&format!("127.0.0.1:{port}")),
    )
    .await;
    assert!(!matches!(plain, Ok(Ok(()))), "plaintext call succeeded");
}

async fn connect_plain_and_create(addr: &str) -> Result<(), tonic::Status> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let mut c = client(channel, Some(TOKEN));
    c.create(CreateRequest::default()).await.map(|_| ())
}
