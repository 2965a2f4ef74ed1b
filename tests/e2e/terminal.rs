//! The terminal's trust boundaries, attacked through the real binaries: the agent refuses
//! calls without its token and listens privately on a unix socket; the host keeps a
//! session to the user who created it and runs only what the manifest lists, whatever the
//! plugin does (the `termraw` fixture passes every request straight through); per-user
//! caps, input caps and ordered input hold; an agent restart leaves no hanging session.
//!
//! Output publishing is not the subject here (the Node tests follow output through the real
//! Centrifugo): the hosts point at a Centrifugo API where nothing listens.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use plughost_e2e::{agent_client, fixture_plugin, free_port, Host, PluginDir, TerminalAgent};
use serde_json::{json, Value};
use terminal_agent::proto::{CreateRequest, GetRequest, InputRequest, SubscribeRequest};
use tonic::Code;

/// The careless plugin's manifest, with `extra` appended to its `[terminal]` section.
fn termraw_manifest(extra: &str) -> String {
    format!("grants = [\"terminal\"]\nchannels = [\"terminal#session#*\"]\n[terminal]\n{extra}\n")
}

/// A host serving `termraw` (with `terminal` lines added to its manifest) against `agent`.
async fn host_for(agent: &TerminalAgent, terminal: &str, token: Option<&str>) -> (Host, PluginDir) {
    let dir = PluginDir::new();
    dir.add("termraw", &fixture_plugin("termraw")).manifest("termraw", &termraw_manifest(terminal));
    let api_url = format!("http://127.0.0.1:{}/api", free_port());
    let [(endpoint_var, endpoint), (token_var, right_token)] = agent.host_env();
    let token = token.map(String::from).unwrap_or(right_token);
    let env = [
        (endpoint_var, endpoint.as_str()),
        (token_var, token.as_str()),
        ("PLUGHOST_CENTRIFUGO_API_URL", api_url.as_str()),
        ("PLUGHOST_PROXY_SECRET", "terminal-test-secret"),
    ];
    let host = Host::start(dir.path(), &env).await.expect("host starts");
    (host, dir)
}

/// Calls `method` as `user`; returns the result, or the error's code and message.
async fn call(host: &Host, method: &str, data: Value, user: &str) -> Result<Value, (u64, String)> {
    let reply = host.rpc(method, data, user).await.expect("an RPC reply");
    match &reply["error"] {
        Value::Null => Ok(reply["result"]["data"].clone()),
        error => Err((error["code"].as_u64().unwrap_or(0), error["message"].as_str().unwrap_or("").to_string())),
    }
}

async fn create(host: &Host, user: &str, data: Value) -> Result<String, (u64, String)> {
    let result = call(host, "termraw.create", data, user).await?;
    Ok(result["session_id"].as_str().expect("a session id").to_string())
}

/// The error code of a call that must fail.
async fn code(host: &Host, method: &str, data: Value, user: &str) -> u64 {
    match call(host, method, data, user).await {
        Ok(result) => panic!("{method} as {user:?} succeeded: {result}"),
        Err((code, _)) => code,
    }
}

/// Asks the subscribe proxy whether `user` may follow `channel`; the error code if not.
async fn subscribe(host: &Host, channel: &str, user: &str) -> Option<u64> {
    let body = json!({
        "client": "c-1", "transport": "websocket", "protocol": "json", "encoding": "json",
        "user": user, "channel": channel,
    });
    let response = host.post("/centrifugo/subscribe").body(body.to_string()).send().await.expect("subscribe reply");
    let reply: Value = response.json().await.expect("JSON subscribe reply");
    reply["error"]["code"].as_u64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_refuses_every_call_without_its_token() {
    let agent = TerminalAgent::start(&["--shell", "/bin/sh"]).await.expect("agent starts");
    let endpoint = agent.endpoint();
    for token in [None, Some("wrong-token-of-enough-length"), Some("")] {
        let mut client = agent_client(&endpoint, token).await.expect("connects");
        let create = client.create(CreateRequest { owner: "mallory".into(), ..Default::default() }).await;
        assert_eq!(create.map(drop).unwrap_err().code(), Code::Unauthenticated, "Create with {token:?}");
        let input = client.input(InputRequest { session_id: "0".repeat(32), data: b"id\n".to_vec().into() }).await;
        assert_eq!(input.map(drop).unwrap_err().code(), Code::Unauthenticated, "Input with {token:?}");
        let subscribe = client.subscribe(SubscribeRequest { session_id: "0".repeat(32), after_seq: 0 }).await;
        assert_eq!(subscribe.map(drop).unwrap_err().code(), Code::Unauthenticated, "Subscribe with {token:?}");
        let get = client.get(GetRequest { session_id: "0".repeat(32) }).await;
        let status = get.map(drop).unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "Get with {token:?}");
        if let Some(token) = token.filter(|t| !t.is_empty()) {
            assert!(!status.message().contains(token), "the refusal echoes the presented token: {status:?}");
        }
    }
    // The right token reaches the service (which does not know the session).
    let mut client = agent.client().await.expect("connects");
    let get = client.get(GetRequest { session_id: "0".repeat(32) }).await;
    assert_eq!(get.map(drop).unwrap_err().code(), Code::NotFound);
    assert!(!agent.log_text().contains(&agent.token), "the agent logged its token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_refuses_a_public_address_without_a_token() {
    let output = std::process::Command::new(plughost_e2e::terminal_agent_bin())
        .args(["--listen", &format!("0.0.0.0:{}", free_port())])
        .env_remove("PLUGHOST_TERMINAL_TOKEN")
        .output()
        .expect("terminal-agent runs");
    assert!(!output.status.success(), "the agent served a public address without a token");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("token"), "the refusal does not say what is missing: {stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_on_a_unix_socket_is_private_and_serves_the_host() {
    let agent = TerminalAgent::start_unix(&["--shell", "/bin/sh"]).await.expect("agent starts on a unix socket");
    let mode = std::fs::metadata(&agent.addr).expect("the socket exists").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "socket mode {:o}", mode & 0o777);
    let (host, _dir) = host_for(&agent, "", None).await;
    let id = create(&host, "alice", json!({})).await.expect("a session over the unix socket");
    let typed = call(&host, "termraw.input", json!({"session_id": id, "text": "true\n"}), "alice").await;
    assert!(typed.is_ok(), "{typed:?}\n{}", host.log_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_with_the_wrong_token_gets_no_session_and_tells_the_client_nothing_more() {
    let agent = TerminalAgent::start(&["--shell", "/bin/sh"]).await.expect("agent starts");
    let (host, _dir) = host_for(&agent, "", Some("not-the-agent-token-at-all")).await;
    let (code, message) = create(&host, "alice", json!({})).await.expect_err("a session without the token");
    assert_eq!(code, 1008, "{message}");
    assert!(!message.to_lowercase().contains("token") && !message.contains("nauthenticated"), "{message}");
    assert!(host.log_text().contains("terminal_token"), "the operator's log does not name the fix");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_keeps_other_users_out_of_a_session_whatever_the_plugin_does() {
    let agent = TerminalAgent::start(&["--shell", "/bin/sh"]).await.expect("agent starts");
    let (host, _dir) = host_for(&agent, "", None).await;
    let id = create(&host, "alice", json!({})).await.expect("alice's session");
    let channel = format!("terminal#session#{id}");

    for (method, user) in [("termraw.input", "bob"), ("termraw.resize", "bob"), ("termraw.close", "bob"), ("termraw.input", "")] {
        let refused = code(&host, method, json!({"session_id": id, "text": "echo pwned\n"}), user).await;
        assert_eq!(refused, 1003, "{method} as {user:?}");
    }
    assert_eq!(subscribe(&host, &channel, "bob").await, Some(103), "bob followed alice's output");
    assert_eq!(subscribe(&host, &channel, "").await, Some(103), "an anonymous client followed alice's output");
    assert_eq!(subscribe(&host, "terminal#session#0123456789abcdef", "bob").await, Some(103), "an unknown session");
    assert_eq!(subscribe(&host, &channel, "alice").await, None, "alice cannot follow her own session");

    // Claiming another owner at creation does not hand the session to them.
    assert_eq!(code(&host, "termraw.create", json!({"owner": "bob"}), "alice").await, 1003);
    // Still alice's, still usable by her.
    let typed = call(&host, "termraw.input", json!({"session_id": id, "text": "true\n"}), "alice").await;
    assert!(typed.is_ok(), "{typed:?}");
    // Session ids are never logged in full at info level.
    for (who, log) in [("host", host.log_text()), ("agent", agent.log_text())] {
        let leaks: Vec<&str> = log.lines().filter(|l| l.contains(&id)).collect();
        assert!(leaks.is_empty(), "the {who} logged a full session id:\n{}", leaks.join("\n"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_commands_both_the_manifest_and_the_agent_allow_run() {
    let strict = TerminalAgent::start(&["--shell", "/bin/sh"]).await.expect("agent starts");
    let (host, _dir) = host_for(&strict, "", None).await;
    // Default manifest: only the agent's default shell, no arguments, no anonymous callers.
    assert_eq!(code(&host, "termraw.create", json!({"command": "/bin/sh"}), "alice").await, 1003);
    assert_eq!(code(&host, "termraw.create", json!({"args": ["-c", "id"]}), "alice").await, 1003);
    assert_eq!(code(&host, "termraw.create", json!({}), "").await, 1003);
    assert!(create(&host, "alice", json!({})).await.is_ok());
    drop(host);

    // The manifest lists /bin/sh but the agent does not: its own list is the second wall.
    let (host, _dir) = host_for(&strict, "commands = [\"/bin/sh\"]", None).await;
    assert_eq!(code(&host, "termraw.create", json!({"command": "/bin/sh", "args": ["-c", "id"]}), "alice").await, 1003);
    drop(host);

    let permissive = TerminalAgent::start(&["--shell", "/bin/sh", "--allow-command", "/bin/sh"]).await.expect("agent starts");
    let (host, _dir) = host_for(&permissive, "commands = [\"/bin/sh\"]\nallow_anonymous = true", None).await;
    let id = create(&host, "alice", json!({"command": "/bin/sh", "args": ["-c", "sleep 5"]})).await;
    assert!(id.is_ok(), "{id:?}\n{}", host.log_text());
    assert!(create(&host, "", json!({})).await.is_ok(), "allow_anonymous lets an anonymous caller open a session");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_user_holds_at_most_max_sessions_per_user() {
    let agent = TerminalAgent::start(&["--shell", "/bin/sh"]).await.expect("agent starts");
    let (host, _dir) = host_for(&agent, "max_sessions_per_user = 2", None).await;
    let first = create(&host, "alice", json!({})).await.expect("1st");
    create(&host, "alice", json!({})).await.expect("2nd");
    assert_eq!(code(&host, "termraw.create", json!({}), "alice").await, 1009, "alice's 3rd session");
    assert!(create(&host, "bob", json!({})).await.is_ok(), "bob is not held back by alice");
    call(&host, "termraw.close", json!({"session_id": first}), "alice").await.expect("closes");
    assert!(create(&host, "alice", json!({})).await.is_ok(), "a closed session frees its slot");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_is_capped_in_size_and_rate() {
    let agent = TerminalAgent::start(&["--shell", "/bin/sh"]).await.expect("agent starts");
    let (host, _dir) = host_for(&agent, "max_input = \"1KiB\"\ninput_rate = \"4KiB\"", None).await;
    let id = create(&host, "alice", json!({})).await.expect("a session");
    let text = |n: usize| format!("#{}\n", "x".repeat(n - 2));
    assert_eq!(code(&host, "termraw.input", json!({"session_id": id, "text": text(2000)}), "alice").await, 1007);
    let mut codes = Vec::new();
    for _ in 0..6 {
        codes.push(match call(&host, "termraw.input", json!({"session_id": id, "text": text(1000)}), "alice").await {
            Ok(_) => 0,
            Err((code, _)) => code,
        });
    }
    assert_eq!(&codes[..4], &[0, 0, 0, 0], "4 KiB per second: the first four fit");
    assert!(codes[4..].contains(&1009), "the rate cap never answered 1009: {codes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbered_input_sent_out_of_order_is_written_in_order() {
    let agent = TerminalAgent::start(&["--shell", "/bin/sh"]).await.expect("agent starts");
    let (host, _dir) = host_for(&agent, "", None).await;
    let id = create(&host, "alice", json!({})).await.expect("a session");
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("typed");
    let input = |seq: u64, text: String| json!({"session_id": id, "seq": seq, "text": text});
    call(&host, "termraw.input", input(1, format!("stty -echo; cat > '{}'\n", file.display())), "alice").await.expect("seq 1");
    // 2..=41, one character each, sent at once in reverse order. (A waiting input holds a
    // plugin instance: with more in flight than `max_instances`, the missing ones could not
    // run before the waiting ones give up. Keystrokes in flight are far fewer.)
    let letters: Vec<char> = (0..40).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    let calls = (0..40u64).rev().map(|i| {
        let host = &host;
        let data = input(i + 2, letters[i as usize].to_string());
        async move { call(host, "termraw.input", data, "alice").await }
    });
    for (i, result) in futures_util::future::join_all(calls).await.into_iter().enumerate() {
        assert!(result.is_ok(), "input {i}: {result:?}");
    }
    call(&host, "termraw.input", input(42, "\n\u{4}".into()), "alice").await.expect("the end");
    assert_eq!(
        code(&host, "termraw.input", input(5, "x".into()), "alice").await,
        1007,
        "a number already written is refused"
    );
    let want: String = letters.iter().collect::<String>() + "\n";
    let started = Instant::now();
    loop {
        let got = std::fs::read_to_string(&file).unwrap_or_default();
        if got == want {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "typed {got:?}, expected {want:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_restart_ends_its_sessions_without_a_hang() {
    let mut agent = TerminalAgent::start(&["--shell", "/bin/sh"]).await.expect("agent starts");
    let (host, _dir) = host_for(&agent, "", None).await;
    let id = create(&host, "alice", json!({})).await.expect("a session");
    agent.restart().await.expect("agent restarts");
    let started = Instant::now();
    let refused = code(&host, "termraw.input", json!({"session_id": id, "text": "true\n"}), "alice").await;
    assert_eq!(refused, 1004, "input to a session the restarted agent does not know");
    assert!(started.elapsed() < Duration::from_secs(5), "the call took {:?}", started.elapsed());
    // And a new session works at once.
    assert!(create(&host, "alice", json!({})).await.is_ok());
}
