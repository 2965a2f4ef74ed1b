//! Shared test harness: an in-process agent on 127.0.0.1:0 (or a Unix socket), driven
//! through the generated client, running real sessions on PTYs.
#![allow(dead_code)] // Not every helper is used by every module.

use std::path::{Path, PathBuf};
use std::time::Duration;

use terminal_agent::proto::session_event::Event;
use terminal_agent::proto::terminal_agent_client::TerminalAgentClient;
use terminal_agent::proto::{CreateRequest, InputRequest, SessionEvent, SubscribeRequest};
use terminal_agent::{serve, Agent, AgentConfig};
use tokio::sync::oneshot;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::service::Interceptor;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Status, Streaming};

/// Generous bound for anything a shell should do "immediately" (slow CI, parallel tests).
pub const WAIT: Duration = Duration::from_secs(30);

/// Adds `authorization: Bearer <token>` to every call (or nothing).
#[derive(Clone)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

pub type Client = TerminalAgentClient<InterceptedService<Channel, Bearer>>;

/// A client on `channel` presenting `token` (if any).
pub fn client(channel: Channel, token: Option<&str>) -> Client {
    let bearer = Bearer(token.map(|t| format!("Bearer {t}").parse().expect("ASCII token")));
    TerminalAgentClient::with_interceptor(channel, bearer)
}

/// Connects to `http://{addr}` presenting `token`.
pub async fn connect(addr: &str, token: Option<&str>) -> Client {
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    client(channel, token)
}

/// Connects over the Unix socket at `path`.
pub async fn connect_unix(path: &Path, token: Option<&str>) -> Client {
    let path = path.to_owned();
    // The URI is required by the API but unused: the connector decides where to go.
    let channel = Endpoint::from_static("http://agent.invalid")
        .connect_with_connector(tower::service_fn(move |_: tonic::transport::Uri| {
            let path = path.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(path).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
            }
        }))
        .await
        .unwrap();
    client(channel, token)
}

pub struct Harness {
    pub client: Client,
    pub agent: Agent,
    pub addr: String,
    _stop: oneshot::Sender<()>,
}

pub fn config() -> AgentConfig {
    AgentConfig {
        shell: "/bin/sh".into(),
        idle_timeout: None,
        ..AgentConfig::default()
    }
}

/// Serves an agent with `config` on 127.0.0.1:0; the client presents the config's token.
pub async fn start(config: AgentConfig) -> Harness {
    let token = config.token.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let agent = Agent::new(config);
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve(agent.clone(), listener, async {
        let _ = stopped.await;
    }));
    let client = connect(&addr, token.as_deref()).await;
    Harness {
        client,
        agent,
        addr,
        _stop: stop,
    }
}

pub async fn create(client: &mut Client, cols: u32, rows: u32) -> String {
    client
        .create(CreateRequest {
            command: "/bin/sh".into(),
            cols,
            rows,
            owner: "user-1".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .session_id
}

pub async fn input(client: &mut Client, id: &str, text: &str) {
    client
        .input(InputRequest {
            session_id: id.into(),
            data: text.as_bytes().to_vec().into(),
        })
        .await
        .unwrap();
}

/// A Subscribe stream plus everything seen on it so far.
pub struct Sub {
    pub stream: Streaming<SessionEvent>,
    pub text: String,
    pub bytes: Vec<u8>,
    pub last_seq: u64,
    /// Offset the next output chunk must start at (known after the first chunk).
    pub next_offset: Option<u64>,
    pub statuses: Vec<(String, Option<i32>)>,
}

impl Sub {
    pub async fn open(client: &mut Client, id: &str, after_seq: u64) -> Sub {
        let stream = client
            .subscribe(SubscribeRequest {
                session_id: id.into(),
                after_seq,
            })
            .await
            .unwrap()
            .into_inner();
        Sub {
            stream,
            text: String::new(),
            bytes: Vec::new(),
            last_seq: 0,
            next_offset: None,
            statuses: Vec::new(),
        }
    }

    /// Next event, recorded; `None` at end of stream. Panics on timeout or error, and on
    /// a gap or reorder in seqs or offsets.
    pub async fn next(&mut self) -> Option<Event> {
        let item = tokio::time::timeout(WAIT, self.stream.message())
            .await
            .expect("timed out waiting for a session event")
            .expect("stream error");
        let event = item?.event.expect("event without payload");
        match &event {
            Event::Output(out) => {
                if self.last_seq != 0 {
                    assert_eq!(out.seq, self.last_seq + 1, "gap or reorder in output");
                }
                if let Some(expected) = self.next_offset {
                    assert_eq!(out.offset, expected, "offsets not contiguous");
                }
                self.last_seq = out.seq;
                self.next_offset = Some(out.offset + out.data.len() as u64);
                self.bytes.extend_from_slice(&out.data);
                self.text.push_str(&String::from_utf8_lossy(&out.data));
            }
            Event::Status(st) => self.statuses.push((st.status.clone(), st.exit_code)),
        }
        Some(event)
    }

    pub async fn wait_for_text(&mut self, needle: &str) {
        while !self.text.contains(needle) {
            if self.next().await.is_none() {
                panic!("stream ended before {needle:?}; got {:?}", self.text);
            }
        }
    }

    /// Waits for the answer to `echo PID=$$` and returns the pid. The terminal's echo of
    /// the command line shows "PID=$$"; the answer shows digits and a line end.
    pub async fn wait_for_pid(&mut self) -> u32 {
        loop {
            let found = self.text.match_indices("PID=").find_map(|(i, _)| {
                let rest = &self.text[i + 4..];
                let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
                let complete = rest[digits.len()..].starts_with('\r');
                digits.parse::<u32>().ok().filter(|_| complete)
            });
            if let Some(pid) = found {
                return pid;
            }
            assert!(
                self.next().await.is_some(),
                "stream ended before the pid was printed"
            );
        }
    }

    /// Reads until the stream ends; returns the final status.
    pub async fn finish(&mut self) -> (String, Option<i32>) {
        while self.next().await.is_some() {}
        self.statuses.last().cloned().expect("no status event")
    }
}

pub fn pid_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Exists and is not a zombie (orphans are reparented to init, which may not reap them).
pub fn pid_running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let after = stat.rfind(')').map(|i| &stat[i + 1..]).unwrap_or("");
            !matches!(after.split_whitespace().next(), Some("Z" | "X"))
        }
        Err(_) => false,
    }
}

/// A fresh private directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let mut raw = [0u8; 6];
        getrandom::fill(&mut raw).unwrap();
        let name: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        let dir = std::env::temp_dir().join(format!("ta-{tag}-{name}"));
        std::fs::create_dir(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
