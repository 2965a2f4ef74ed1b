//! End-to-end tests: an in-process agent on 127.0.0.1:0, driven through the generated
//! client, running real `/bin/sh` sessions on PTYs.



use std::collections::HashMap;
use std::time::Duration;

use crate::common::*;
use terminal_agent::proto::session_event::Event;
use terminal_agent::proto::{
    CloseRequest, CreateRequest, GetRequest, InputRequest, ResizeRequest, SubscribeRequest,
};
use terminal_agent::AgentConfig;
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_round_trip_and_get() {
    let mut h = start(config()).await;
    let id = create(&mut h.client, 0, 0).await;
    let mut sub = Sub::open(&mut h.client, &id, 0).await;
    match sub.next().await {
        Some(Event::Status(st)) => assert_eq!(st.status, "running"),
        other => panic!("expected a running status first, got {other:?}"),
    }
    // Quoting keeps the terminal's echo of the command line from matching.
    input(&mut h.client, &id, "echo \"hel\"\"lo\"\n").await;
    sub.wait_for_text("hello").await;

    let info = h
        .client
        .get(GetRequest {
            session_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.session_id, id);
    assert_eq!(info.owner, "user-1");
    assert_eq!(info.command, "/bin/sh");
    assert_eq!((info.cols, info.rows), (80, 24));
    assert!(info.running);
    assert_eq!(info.exit_code, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resize_changes_stty_size() {
    let mut h = start(config()).await;
    let id = create(&mut h.client, 80, 24).await;
    let mut sub = Sub::open(&mut h.client, &id, 0).await;
    h.client
        .resize(ResizeRequest {
            session_id: id.clone(),
            cols: 100,
            rows: 40,
        })
        .await
        .unwrap();
    input(&mut h.client, &id, "stty size\n").await;
    sub.wait_for_text("40 100").await;
    let info = h
        .client
        .get(GetRequest {
            session_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((info.cols, info.rows), (100, 40));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_sends_closed_and_reaps_child() {
    let mut h = start(config()).await;
    let id = create(&mut h.client, 80, 24).await;
    let mut sub = Sub::open(&mut h.client, &id, 0).await;
    input(&mut h.client, &id, "echo PID=$$\n").await;
    let pid = sub.wait_for_pid().await;
    assert!(pid_alive(pid));

    h.client
        .close(CloseRequest {
            session_id: id.clone(),
        })
        .await
        .unwrap();
    assert_eq!(sub.finish().await, ("closed".to_owned(), None));
    // Close returns only after the child was reaped, so not even a zombie remains.
    assert!(!pid_alive(pid), "child {pid} still exists after Close");

    let err = h
        .client
        .get(GetRequest {
            session_id: id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert_eq!(h.agent.session_count(), 0);
}

async fn start_background_job(h: &mut Harness, shell: &str) -> (String, Sub, u32) {
    let id = h
        .client
        .create(CreateRequest {
            command: shell.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .session_id;
    let mut sub = Sub::open(&mut h.client, &id, 0).await;
    // nohup: the job ignores the hangup, so only the agent's sweep can end it.
    input(
        &mut h.client,
        &id,
        "nohup sleep 1000 >/dev/null 2>&1 & echo PID=$!\n",
    )
    .await;
    let job = sub.wait_for_pid().await;
    assert!(pid_running(job));
    (id, sub, job)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_and_exit_also_end_background_jobs() {
    let mut h = start(AgentConfig {
        allow_commands: vec!["/bin/bash".into()],
        ..config()
    })
    .await;
    for shell in ["/bin/sh", "/bin/bash"] {
        if !std::path::Path::new(shell).exists() {
            continue;
        }
        let (id, mut sub, job) = start_background_job(&mut h, shell).await;
        h.client
            .close(CloseRequest { session_id: id })
            .await
            .unwrap();
        assert_eq!(sub.finish().await, ("closed".to_owned(), None));
        assert!(
            !pid_running(job),
            "{shell}: background job {job} survived Close"
        );

        let (id, mut sub, job) = start_background_job(&mut h, shell).await;
        input(&mut h.client, &id, "exit 0\n").await;
        // Interactive bash may refuse the first exit while jobs run (checkjobs); a second
        // one works. It may race the shell's exit, so its result is ignored.
        let _ = h
            .client
            .input(InputRequest {
                session_id: id,
                data: b"exit 0\n".to_vec().into(),
            })
            .await;
        assert_eq!(sub.finish().await.0, "exited");
        assert!(
            !pid_running(job),
            "{shell}: background job {job} survived the shell"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_limit_is_resource_exhausted() {
    let mut h = start(AgentConfig {
        max_sessions: 2,
        ..config()
    })
    .await;
    let first = create(&mut h.client, 80, 24).await;
    let _second = create(&mut h.client, 80, 24).await;
    let err = h
        .client
        .create(CreateRequest {
            command: "/bin/sh".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);

    // Closing one frees its slot.
    h.client
        .close(CloseRequest { session_id: first })
        .await
        .unwrap();
    create(&mut h.client, 80, 24).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shell_exit_reports_exit_code() {
    let mut h = start(config()).await;
    let id = create(&mut h.client, 80, 24).await;
    let mut sub = Sub::open(&mut h.client, &id, 0).await;
    input(&mut h.client, &id, "echo \"bye\"\"bye\"; exit 3\n").await;
    assert_eq!(sub.finish().await, ("exited".to_owned(), Some(3)));
    // Output written just before exiting arrives before the status.
    assert!(sub.text.contains("byebye"), "output lost: {:?}", sub.text);

    // Kept for the grace period so Get can report how it ended.
    let info = h
        .client
        .get(GetRequest {
            session_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!info.running);
    assert_eq!(info.exit_code, Some(3));

    let err = h
        .client
        .input(InputRequest {
            session_id: id.clone(),
            data: b"x".to_vec().into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);

    // A late subscriber gets the retained output and the final status, then the end.
    let mut late = Sub::open(&mut h.client, &id, 0).await;
    assert_eq!(late.finish().await, ("exited".to_owned(), Some(3)));
    assert!(late.text.contains("byebye"));

    // Closing an exited session just removes it.
    h.client
        .close(CloseRequest {
            session_id: id.clone(),
        })
        .await
        .unwrap();
    let err = h
        .client
        .get(GetRequest { session_id: id })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_session_is_not_found() {
    let mut h = start(config()).await;
    let id = "does-not-exist".to_owned();
    let c = &mut h.client;
    let codes = [
        c.get(GetRequest {
            session_id: id.clone(),
        })
        .await
        .unwrap_err()
        .code(),
        c.input(InputRequest {
            session_id: id.clone(),
            data: b"x".to_vec().into(),
        })
        .await
        .unwrap_err()
        .code(),
        c.resize(ResizeRequest {
            session_id: id.clone(),
            cols: 10,
            rows: 10,
        })
        .await
        .unwrap_err()
        .code(),
        c.close(CloseRequest {
            session_id: id.clone(),
        })
        .await
        .unwrap_err()
        .code(),
        c.subscribe(SubscribeRequest {
            session_id: id,
            after_seq: 0,
        })
        .await
        .unwrap_err()
        .code(),
    ];
    assert_eq!(codes, [Code::NotFound; 5]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_arguments_are_invalid() {
    let mut h = start(AgentConfig {
        allow_commands: vec!["/nonexistent/program".into()],
        ..config()
    })
    .await;
    let err = h
        .client
        .create(CreateRequest {
            command: "/bin/sh".into(),
            cols: 5000,
            rows: 24,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let err = h
        .client
        .create(CreateRequest {
            command: "/nonexistent/program".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);

    let id = create(&mut h.client, 80, 24).await;
    let err = h
        .client
        .resize(ResizeRequest {
            session_id: id.clone(),
            cols: 0,
            rows: 24,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let err = h
        .client
        .input(InputRequest {
            session_id: id,
            data: vec![b'a'; 64 * 1024 + 1].into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    // Failed creates did not use up slots.
    assert_eq!(h.agent.session_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_is_filtered_and_term_defaults() {
    let mut h = start(config()).await;
    let env = HashMap::from([
        ("LANG".to_owned(), "C.UTF-8".to_owned()),
        ("SECRET".to_owned(), "leak".to_owned()),
    ]);
    let id = h
        .client
        .create(CreateRequest {
            command: "/bin/sh".into(),
            env,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .session_id;
    let mut sub = Sub::open(&mut h.client, &id, 0).await;
    input(&mut h.client, &id, "echo \"<$LANG|$SECRET|$TERM>\"\n").await;
    sub.wait_for_text("<C.UTF-8||xterm-256color>").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_before_subscribe_is_replayed_and_resume_skips_seen() {
    let mut h = start(config()).await;
    let id = create(&mut h.client, 80, 24).await;
    input(&mut h.client, &id, "echo \"ear\"\"ly\"\n").await;
    // Whether or not the shell has answered yet, "early" arrives (replayed or live).
    let mut first = Sub::open(&mut h.client, &id, 0).await;
    first.wait_for_text("early").await;
    let seen = first.last_seq;
    assert!(seen > 0);
    drop(first);

    // Resuming after the last seen chunk replays nothing already seen.
    let mut again = Sub::open(&mut h.client, &id, seen).await;
    input(&mut h.client, &id, "echo \"la\"\"ter\"\n").await;
    loop {
        match again.next().await {
            Some(Event::Output(out)) => {
                assert!(out.seq > seen, "replayed seq {} <= {seen}", out.seq);
                if again.text.contains("later") {
                    break;
                }
            }
            Some(Event::Status(_)) => {}
            None => panic!("stream ended"),
        }
    }
    assert!(!again.text.contains("early"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sessions_are_closed_but_subscribed_ones_are_not() {
    let idle = Duration::from_millis(300);
    let mut h = start(AgentConfig {
        idle_timeout: Some(idle),
        ..config()
    })
    .await;
    let watched = create(&mut h.client, 80, 24).await;
    let mut sub = Sub::open(&mut h.client, &watched, 0).await;
    let orphan = create(&mut h.client, 80, 24).await;

    // The unsubscribed, untouched session goes away. (Polled through the agent handle:
    // any RPC on the session, Get included, would count as activity.)
    let deadline = tokio::time::Instant::now() + WAIT;
    while h.agent.session_count() > 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "idle session was not closed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let err = h
        .client
        .get(GetRequest { session_id: orphan })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    // The orphan outlived several idle periods; the subscribed one is still usable.
    input(&mut h.client, &watched, "echo \"sti\"\"ll here\"\n").await;
    sub.wait_for_text("still here").await;
    assert!(sub.statuses.iter().all(|(s, _)| s == "running"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_everything_and_refuses_new_sessions() {
    let mut h = start(config()).await;
    let id = create(&mut h.client, 80, 24).await;
    let mut sub = Sub::open(&mut h.client, &id, 0).await;
    h.agent.shutdown().await;
    assert_eq!(sub.finish().await, ("closed".to_owned(), None));
    assert_eq!(h.agent.session_count(), 0);
    let err = h
        .client
        .create(CreateRequest {
            command: "/bin/sh".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
}

/// Runs the real binary: it logs its bound address, serves, and on SIGTERM closes its
/// sessions (reaping the children) and exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_exits_cleanly_on_sigterm() {
    use tokio::io::{AsyncBufReadExt, BufReader};

    let mut agent = tokio::process::Command::new(env!("CARGO_BIN_EXE_terminal-agent"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--shell",
            "/bin/sh",
            "--max-sessions",
            "4",
        ])
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(agent.stderr.take().unwrap()).lines();
    let addr = tokio::time::timeout(WAIT, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(i) = line.find("addr=") {
                let rest = &line[i + 5..];
                return rest.split_whitespace().next().unwrap().to_owned();
            }
        }
        panic!("agent exited without logging its address");
    })
    .await
    .expect("agent did not start");
    // Keep draining logs so the agent never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let mut client = connect(&addr, None).await;
    let id = client
        .create(CreateRequest::default())
        .await
        .unwrap()
        .into_inner()
        .session_id;
    let info = client
        .get(GetRequest {
            session_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.command, "/bin/sh", "empty command runs --shell");
    let mut sub = Sub::open(&mut client, &id, 0).await;
    input(&mut client, &id, "echo PID=$$\n").await;
    let pid = sub.wait_for_pid().await;

    let agent_pid = libc::pid_t::try_from(agent.id().unwrap()).unwrap();
    // SAFETY: signalling our own child process.
    assert_eq!(unsafe { libc::kill(agent_pid, libc::SIGTERM) }, 0);
    let status = tokio::time::timeout(WAIT, agent.wait())
        .await
        .expect("agent did not exit")
        .unwrap();
    assert!(status.success(), "agent exited with {status}");
    assert_eq!(sub.finish().await, ("closed".to_owned(), None));
    assert!(!pid_alive(pid), "shell {pid} survived the agent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_output_arrives_complete_and_in_order() {
    let mut h = start(config()).await;
    let id = create(&mut h.client, 80, 24).await;
    let mut sub = Sub::open(&mut h.client, &id, 0).await;
    // The quotes keep the markers out of the terminal's echo of the command line, and the
    // start marker keeps the prompt or the echo from sharing a line with the first number.
    input(
        &mut h.client,
        &id,
        "echo \"st\"\"art\"; seq 1 5000; echo \"do\"\"ne\"\n",
    )
    .await;
    sub.wait_for_text("done").await;
    // Sub::next already asserts consecutive seqs; check the bytes are all there in order.
    let output = sub
        .text
        .rsplit_once("start\r\n")
        .map(|(_, after)| after)
        .unwrap_or_default();
    let numbers: Vec<u32> = output
        .split("\r\n")
        .filter_map(|line| line.parse().ok())
        .collect();
    assert_eq!(numbers, (1..=5000).collect::<Vec<u32>>());
}
