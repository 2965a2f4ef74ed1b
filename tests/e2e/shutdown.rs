//! What a stopping host leaves behind: SIGTERM ends the terminal sessions it opened at the
//! terminal agent, so a restart or a crash-looping host does not use up the agent's limit
//! with shells nobody can reach any more.

use std::time::{Duration, Instant};

use plughost_e2e::{example_plugin, free_port, root, Host, PluginDir, TerminalAgent};
use serde_json::{json, Value};
use terminal_agent::proto::GetRequest;
use tonic::Code;

/// How long the agent may take, after the host has exited, to have removed the session.
const REAP_WAIT: Duration = Duration::from_secs(5);

// Multi-threaded: `terminate` blocks its thread while the host shuts down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_an_open_terminal_session_leaves_no_session_at_the_agent() {
    // The agent never closes a session by itself here (no idle timeout): only the host's
    // Close can remove it.
    let agent = TerminalAgent::start(&["--shell", "/bin/sh", "--idle-timeout", "0"]).await.expect("terminal agent starts");

    let dir = PluginDir::new();
    let manifest = std::fs::read_to_string(root().join("plugins/terminal.toml")).expect("plugins/terminal.toml");
    dir.add("terminal", &example_plugin("terminal")).manifest("terminal", &manifest);
    // Nothing listens at the Centrifugo API: output publishing fails and is dropped.
    let api_url = format!("http://127.0.0.1:{}/api", free_port());
    let [(endpoint_var, endpoint), (token_var, token)] = agent.host_env();
    // A host with a terminal agent refuses to start without a proxy secret.
    let mut host = Host::start(
        dir.path(),
        &[
            (endpoint_var, endpoint.as_str()),
            (token_var, token.as_str()),
            ("PLUGHOST_CENTRIFUGO_API_URL", api_url.as_str()),
            ("PLUGHOST_PROXY_SECRET", "shutdown-test-secret"),
        ],
    )
    .await
    .expect("host starts");

    let body = json!({
        "client": "c1", "user": "alice", "transport": "websocket", "protocol": "json", "encoding": "json",
        "method": "terminal.create", "data": {"cols": 80, "rows": 24},
    });
    let (status, reply) = host.rpc_raw(body.to_string()).await.expect("terminal.create answered");
    assert_eq!(status, 200, "{reply}");
    let session_id = match &reply["result"]["data"]["session_id"] {
        Value::String(id) if !id.is_empty() => id.clone(),
        _ => panic!("terminal.create did not return a session: {reply}\n{}", host.log_text()),
    };

    let mut client = agent.client().await.expect("gRPC connection to the agent");
    let get = || GetRequest { session_id: session_id.clone() };
    let info = client.get(get()).await.expect("the session exists at the agent").into_inner();
    assert_eq!(info.owner, "alice", "{info:?}");
    assert!(info.running, "{info:?}");

    let exit = host.terminate().expect("plughost exits after SIGTERM");
    assert!(exit.success(), "plughost exited with {exit:?}\n{}", host.log_text());

    let since_exit = Instant::now();
    loop {
        match client.get(get()).await {
            Err(status) if status.code() == Code::NotFound => break,
            Err(status) => panic!("Get after the host exited: {status:?}\n{}", agent.log_text()),
            Ok(info) if since_exit.elapsed() >= REAP_WAIT => panic!(
                "session {session_id} is still at the agent {REAP_WAIT:?} after the host exited: {:?}\n\
                 --- host log ---\n{}\n--- agent log ---\n{}",
                info.into_inner(),
                host.log_text(),
                agent.log_text(),
            ),
            Ok(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}
