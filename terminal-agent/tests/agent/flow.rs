//! Flow control: a subscriber that does not keep up makes the program wait instead of
//! losing output. Before, the agent read the PTY as fast as the program wrote, kept 256
//! chunks of lag, and ended a slow stream with DATA_LOSS (`seq 1 300000` finished within
//! a second and a slow reader got about 14 000 of its 300 000 lines).



use std::time::Duration;

use crate::common::*;
use terminal_agent::proto::{CloseRequest, CreateRequest, GetRequest};
use terminal_agent::{Agent, AgentConfig};
use tonic::transport::Endpoint;
use tonic::Code;

/// Lines of `seq 1 300000` on a terminal (onlcr turns "\n" into "\r\n").
const LINES: u32 = 300_000;

fn expected_output() -> Vec<u8> {
    (1..=LINES)
        .flat_map(|n| format!("{n}\r\n").into_bytes())
        .collect()
}

/// Most output a session may hold: 1 MiB behind the floor, the 256 KiB window after it,
/// a chunk of slack on each side.
const RETAINED_BOUND: u64 = 1024 * 1024 + 256 * 1024 + 2 * 16 * 1024;

/// A client whose HTTP/2 stream window is 64 KiB: a stream it does not read holds at most
/// that much on its side. (tonic's default, 2 MiB per stream, would swallow most of this
/// output before any backpressure reached the agent.) The connection window stays large:
/// unread stream data holds it too, and other calls on the connection need some.
async fn small_window_client(addr: &str) -> Client {
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .initial_stream_window_size(Some(64 * 1024))
        .connect()
        .await
        .unwrap();
    client(channel, None)
}

fn seq_config() -> AgentConfig {
    AgentConfig {
        allow_commands: vec!["seq".into(), "/bin/sh".into()],
        ..config()
    }
}

async fn start_seq(client: &mut Client) -> String {
    client
        .create(CreateRequest {
            command: "seq".into(),
            args: vec!["1".into(), LINES.to_string()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .session_id
}

async fn running(client: &mut Client, id: &str) -> bool {
    client
        .get(GetRequest {
            session_id: id.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .running
}

/// Asserts `got` is exactly `want`, reporting where they first differ.
fn assert_same_output(got: &[u8], want: &[u8]) {
    if got != want {
        let at = got.iter().zip(want).take_while(|(a, b)| a == b).count();
        panic!(
            "output differs at byte {at} (got {} bytes, want {}): got {:?}, want {:?}",
            got.len(),
            want.len(),
            String::from_utf8_lossy(&got[at..(at + 40).min(got.len())]),
            String::from_utf8_lossy(&want[at..(at + 40).min(want.len())]),
        );
    }
}

/// Samples the session's retained output for `period`, asserting the bound each time.
async fn retained_stays_bounded(agent: &Agent, id: &str, period: Duration) -> u64 {
    let deadline = tokio::time::Instant::now() + period;
    let mut total = 0;
    while tokio::time::Instant::now() < deadline {
        let stats = agent.output_stats(id).expect("session exists");
        assert!(
            stats.retained_bytes <= RETAINED_BOUND,
            "retained {} bytes (bound {RETAINED_BOUND})",
            stats.retained_bytes
        );
        total = stats.total_bytes;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_subscriber_pauses_the_program_and_gets_every_byte() {
    let h = start(seq_config()).await;
    let mut c = small_window_client(&h.addr).await;
    let id = start_seq(&mut c).await;
    // Opened, then not read for a while.
    let mut sub = Sub::open(&mut c, &id, 0).await;

    let read_so_far = retained_stays_bounded(&h.agent, &id, Duration::from_millis(1500)).await;
    let want = expected_output();
    assert!(
        read_so_far < want.len() as u64 / 2,
        "the agent read {read_so_far} of {} bytes for a subscriber that reads nothing",
        want.len()
    );
    assert!(
        running(&mut c, &id).await,
        "seq finished: nothing held it back"
    );

    assert_eq!(sub.finish().await, ("exited".to_owned(), Some(0)));
    assert_same_output(&sub.bytes, &want);
    // Sub::next checked seqs and offsets are contiguous; the first chunk starts at 0.
    assert_eq!(sub.next_offset, Some(want.len() as u64));
    assert_eq!(sub.statuses.first().map(|s| s.0.as_str()), Some("running"));
}

/// A stream that breaks with chunks in flight, then a resubscribe with `after_seq`:
/// the chunks handed to the broken stream but never received are replayed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resubscribing_after_a_broken_stream_loses_nothing() {
    let h = start(seq_config()).await;
    let mut c = small_window_client(&h.addr).await;
    let id = start_seq(&mut c).await;

    let mut first = Sub::open(&mut c, &id, 0).await;
    while first.bytes.len() < 100 * 1024 {
        assert!(first.next().await.is_some());
    }
    // Let the agent hand this stream more than the client reads, then break it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (seen_seq, seen_bytes, next_offset) = (first.last_seq, first.bytes, first.next_offset);
    drop(first.stream);
    // With nobody attached, the agent goes on only up to a window past the broken
    // stream's position, and keeps what it had handed to it.
    let read_so_far = retained_stays_bounded(&h.agent, &id, Duration::from_millis(700)).await;
    assert!(read_so_far < expected_output().len() as u64 / 2);
    assert!(running(&mut c, &id).await);

    let mut again = Sub::open(&mut c, &id, seen_seq).await;
    again.next_offset = next_offset;
    again.last_seq = seen_seq;
    assert_eq!(again.finish().await, ("exited".to_owned(), Some(0)));
    let mut all = seen_bytes;
    all.extend_from_slice(&again.bytes);
    assert_same_output(&all, &expected_output());
}

/// Output with nobody subscribed waits for the first subscriber (from offset 0); a child
/// that exits while reading is paused is still noticed, and what it left in the PTY is
/// delivered before its exit status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_while_paused_is_noticed_and_nothing_is_lost() {
    let mut h = start(seq_config()).await;
    // 260 KiB: the agent stops reading once 256 KiB are unread, and what it has not
    // read then (less than one 4 KiB PTY read) fits in the kernel's PTY buffer, so the
    // shell finishes writing and exits while the agent is paused.
    let id = h
        .client
        .create(CreateRequest {
            command: "/bin/sh".into(),
            args: vec![
                "-c".into(),
                "head -c 266240 /dev/zero | tr '\\0' a; exit 7".into(),
            ],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .session_id;
    let deadline = tokio::time::Instant::now() + WAIT;
    while running(&mut h.client, &id).await {
        assert!(tokio::time::Instant::now() < deadline, "exit not noticed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut sub = Sub::open(&mut h.client, &id, 0).await;
    assert_eq!(sub.finish().await, ("exited".to_owned(), Some(7)));
    assert_eq!(sub.bytes, vec![b'a'; 266_240]);
    assert_eq!(sub.next_offset, Some(266_240));
}

/// Close (and the idle reaper's close) work while the program is blocked on output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_works_while_output_is_paused() {
    let mut h = start(seq_config()).await;
    let id = h
        .client
        .create(CreateRequest {
            command: "seq".into(),
            args: vec!["1".into(), "100000000".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .session_id;
    // Nobody subscribed: reading stops after the first window.
    let read = retained_stays_bounded(&h.agent, &id, Duration::from_millis(500)).await;
    assert!(
        read < 1024 * 1024,
        "read {read} bytes with nobody subscribed"
    );
    tokio::time::timeout(
        WAIT,
        h.client.close(CloseRequest {
            session_id: id.clone(),
        }),
    )
    .await
    .expect("Close hung on a paused session")
    .unwrap();
    let err = h
        .client
        .get(GetRequest { session_id: id })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
}

/// A subscriber that is paused and one that reads: the session goes at the pace of the
/// slowest, and both get everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_subscribers_both_get_everything() {
    let h = start(seq_config()).await;
    let mut fast_client = connect(&h.addr, None).await;
    let mut slow_client = small_window_client(&h.addr).await;
    let id = start_seq(&mut fast_client).await;
    let mut fast = Sub::open(&mut fast_client, &id, 0).await;
    let mut slow = Sub::open(&mut slow_client, &id, 0).await;
    // The fast one cannot get far ahead of the slow one, which reads nothing yet.
    let want = expected_output();
    let read = tokio::time::timeout(Duration::from_millis(1000), async {
        while fast.next().await.is_some() {}
    })
    .await;
    assert!(
        read.is_err(),
        "the fast subscriber got everything while the slow one slept"
    );
    assert!(
        fast.bytes.len() < want.len() / 2,
        "{} bytes",
        fast.bytes.len()
    );

    let (a, b) = tokio::join!(fast.finish(), slow.finish());
    assert_eq!(a, ("exited".to_owned(), Some(0)));
    assert_eq!(b, ("exited".to_owned(), Some(0)));
    assert_same_output(&fast.bytes, &want);
    assert_same_output(&slow.bytes, &want);
}
