//! Harness for the end-to-end tests: finds the built binaries and plugins, starts real
//! processes on free loopback ports, and stops them when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// The release `plughost` binary (`make test` builds it before the tests run).
pub fn plughost_bin() -> PathBuf {
    std::env::var_os("PLUGHOST_BIN").map(PathBuf::from).unwrap_or_else(|| root().join("target/release/plughost"))
}

/// The release `terminal-agent` binary (`cargo build --release --workspace --bins` builds it).
pub fn terminal_agent_bin() -> PathBuf {
    std::env::var_os("TERMINAL_AGENT_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/release/terminal-agent"))
}

/// The Centrifugo binary (`make centrifugo` installs it into `.tools/bin`; `CENTRIFUGO_BIN`
/// overrides it, as in the Node tests). Panics when it is missing: a test that needs the real
/// server must not pass without it.
pub fn centrifugo_bin() -> PathBuf {
    let bin = std::env::var_os("CENTRIFUGO_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".tools/bin/centrifugo"));
    assert!(bin.is_file(), "no Centrifugo binary at {}: run `make centrifugo` or set CENTRIFUGO_BIN", bin.display());
    bin
}

/// A built example plugin, `plugins/<name>.wasm`.
pub fn example_plugin(name: &str) -> PathBuf {
    root().join("plugins").join(format!("{name}.wasm"))
}

/// A built test fixture plugin, `tests/plugins/<name>.wasm`.
pub fn fixture_plugin(name: &str) -> PathBuf {
    root().join("tests/plugins").join(format!("{name}.wasm"))
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A temporary plugins folder the test fills with the plugins it needs.
pub struct PluginDir {
    dir: tempfile::TempDir,
}

impl PluginDir {
    /// An empty folder.
    pub fn new() -> Self {
        Self { dir: tempfile::tempdir().expect("a temporary folder") }
    }

    /// The folder's path.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Copies `wasm` in as `<name>.wasm`.
    pub fn add(&self, name: &str, wasm: &Path) -> &Self {
        assert!(wasm.exists(), "{} is not built: run `make plugins test-plugins`", wasm.display());
        std::fs::copy(wasm, self.path().join(format!("{name}.wasm"))).expect("copy plugin");
        self
    }

    /// Writes the manifest `<name>.toml`.
    pub fn manifest(&self, name: &str, toml: &str) -> &Self {
        std::fs::write(self.path().join(format!("{name}.toml")), toml).expect("write manifest");
        self
    }
}

impl Default for PluginDir {
    fn default() -> Self {
        Self::new()
    }
}

/// A running `plughost serve`, killed on drop. Its log is kept in a file.
pub struct Host {
    child: Child,
    /// `127.0.0.1:port` of its HTTP endpoint.
    pub addr: String,
    log: tempfile::NamedTempFile,
    /// The proxy secret it was started with (`PLUGHOST_PROXY_SECRET` in its environment).
    secret: Option<String>,
}

impl Host {
    /// Starts `plughost serve` on a free port with `plugins` and extra `env` variables.
    pub async fn start(plugins: &Path, env: &[(&str, &str)]) -> Result<Self> {
        Self::start_with_args(plugins, env, &[]).await
    }

    /// Like [`Host::start`], with extra arguments to `serve`.
    pub async fn start_with_args(plugins: &Path, env: &[(&str, &str)], args: &[&str]) -> Result<Self> {
        let addr = format!("127.0.0.1:{}", free_port());
        let log = tempfile::NamedTempFile::new()?;
        let mut command = Command::new(plughost_bin());
        command
            .arg("serve")
            .arg("--plugins")
            .arg(plugins)
            .arg("--listen")
            .arg(&addr)
            .args(args)
            .env("RUST_LOG", "info")
            .env_remove("PLUGHOST_CONFIG")
            .stdout(Stdio::null())
            .stderr(log.reopen()?);
        for (k, v) in env {
            command.env(k, v);
        }
        let child = command.spawn().with_context(|| format!("starting {}", plughost_bin().display()))?;
        let secret = env.iter().find(|(k, _)| *k == "PLUGHOST_PROXY_SECRET").map(|(_, v)| v.to_string());
        let mut host = Self { child, addr, log, secret };
        host.wait_ready().await?;
        Ok(host)
    }

    async fn wait_ready(&mut self) -> Result<()> {
        let started = Instant::now();
        let url = format!("http://{}/healthz", self.addr);
        while started.elapsed() < Duration::from_secs(60) {
            if let Some(status) = self.child.try_wait()? {
                bail!("plughost exited with {status} during startup:\n{}", self.log_text());
            }
            if reqwest::get(&url).await.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("plughost did not become ready:\n{}", self.log_text())
    }

    /// Everything the host logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// The host's process id (to read its memory from `/proc`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `http://addr{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A POST to `path` the way Centrifugo sends one: `Content-Type: application/json`, and
    /// the proxy secret when the host was started with one.
    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        let request = client().post(self.url(path)).header("Content-Type", "application/json");
        match &self.secret {
            Some(secret) => request.header("X-Plughost-Secret", secret),
            None => request,
        }
    }

    /// The HTTP status of a POST to `path` (a JSON body, with the host's proxy secret when it
    /// has one) declaring twice `limit` bytes and sending the first `limit + 1`: enough for
    /// the server to refuse it, and all of what it reads, so it closes the connection with a
    /// FIN after its reply. A client writing the whole body would race that close (a broken
    /// pipe, or a reset that discards the reply).
    pub async fn status_of_body_over(&self, path: &str, limit: usize) -> Result<u16> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(self.addr.as_str()).await?;
        let secret = self.secret.as_deref().map(|s| format!("X-Plughost-Secret: {s}\r\n")).unwrap_or_default();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n{secret}Content-Length: {}\r\n\r\n",
            self.addr,
            2 * limit
        );
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(&vec![b'x'; limit + 1]).await?;
        let mut reply = Vec::new();
        let mut buf = [0u8; 1024];
        while !reply.windows(2).any(|w| w == b"\r\n") {
            let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await??;
            if n == 0 {
                bail!("connection closed without a status line");
            }
            reply.extend_from_slice(&buf[..n]);
        }
        let line = String::from_utf8_lossy(&reply);
        let status = line.split_whitespace().nth(1).context("no status code")?;
        Ok(status.parse()?)
    }

    /// POSTs `body` to `/centrifugo/rpc` and returns HTTP status and JSON reply.
    pub async fn rpc_raw(&self, body: impl Into<reqwest::Body>) -> Result<(u16, serde_json::Value)> {
        let response = self.post("/centrifugo/rpc").body(body).send().await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
        Ok((status, json))
    }

    /// Calls `method` with `data` as `user` in Centrifugo's JSON format; returns the reply.
    pub async fn rpc(&self, method: &str, data: serde_json::Value, user: &str) -> Result<serde_json::Value> {
        let body = serde_json::json!({
            "client": "c-1", "transport": "websocket", "protocol": "json", "encoding": "json",
            "user": user, "method": method, "data": data,
        });
        let (status, json) = self.rpc_raw(body.to_string()).await?;
        if status != 200 {
            bail!("HTTP {status}: {json}");
        }
        Ok(json)
    }

    /// `GET /plugins`.
    pub async fn plugins(&self) -> Result<serde_json::Value> {
        Ok(client().get(self.url("/plugins")).send().await?.json().await?)
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> Result<std::process::ExitStatus> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status()?;
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if started.elapsed() > Duration::from_secs(20) {
                bail!("plughost did not exit after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `terminal-agent` on a free loopback port, killed on drop. Its log is kept in a file.
pub struct TerminalAgent {
    /// The running process (none only while it is being restarted).
    child: Option<Child>,
    /// `127.0.0.1:port` of its gRPC endpoint, or the path of its unix socket.
    pub addr: String,
    /// The token it requires (also in `dir/token`).
    pub token: String,
    unix: bool,
    args: Vec<String>,
    dir: tempfile::TempDir,
    log: tempfile::NamedTempFile,
}

/// A client of the agent at `endpoint` (`http://...`) whose calls carry `token`, if any.
pub type AgentClient = terminal_agent::proto::terminal_agent_client::TerminalAgentClient<
    tonic::service::interceptor::InterceptedService<tonic::transport::Channel, BearerToken>,
>;

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Clone)]
pub struct BearerToken(Option<String>);

impl tonic::service::Interceptor for BearerToken {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(token) = &self.0 {
            let value = format!("Bearer {token}").parse().map_err(|_| tonic::Status::internal("token not ASCII"))?;
            request.metadata_mut().insert("authorization", value);
        }
        Ok(request)
    }
}

/// Connects to an agent over TCP, presenting `token` (none: no credentials at all).
pub async fn agent_client(endpoint: &str, token: Option<&str>) -> Result<AgentClient> {
    let channel = tonic::transport::Endpoint::from_shared(endpoint.to_string())?.connect().await?;
    Ok(terminal_agent::proto::terminal_agent_client::TerminalAgentClient::with_interceptor(
        channel,
        BearerToken(token.map(String::from)),
    ))
}

impl TerminalAgent {
    /// Starts `terminal-agent` on loopback TCP with a fresh token and extra `args`, and waits
    /// until it accepts connections.
    pub async fn start(args: &[&str]) -> Result<Self> {
        Self::launch(false, args).await
    }

    /// Like [`TerminalAgent::start`], listening on a unix socket in a private folder.
    pub async fn start_unix(args: &[&str]) -> Result<Self> {
        Self::launch(true, args).await
    }

    async fn launch(unix: bool, args: &[&str]) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let token = format!("agent-token-{}-{}", std::process::id(), free_port());
        std::fs::write(dir.path().join("token"), format!("{token}\n"))?;
        let addr = if unix {
            dir.path().join("agent.sock").display().to_string()
        } else {
            format!("127.0.0.1:{}", free_port())
        };
        let log = tempfile::NamedTempFile::new()?;
        let args = args.iter().map(|a| a.to_string()).collect();
        let mut agent = Self { child: None, addr, token, unix, args, dir, log };
        agent.spawn().await?;
        Ok(agent)
    }

    /// Starts the process (again) on the same address, token and arguments.
    async fn spawn(&mut self) -> Result<()> {
        let listen = if self.unix { format!("unix:{}", self.addr) } else { self.addr.clone() };
        self.child = Some(Command::new(terminal_agent_bin())
            .arg("--listen")
            .arg(&listen)
            .arg("--token-file")
            .arg(self.dir.path().join("token"))
            .args(&self.args)
            .env("RUST_LOG", "info")
            .env_remove("PLUGHOST_TERMINAL_TOKEN")
            .stdout(Stdio::null())
            .stderr(self.log.reopen()?)
            .spawn()
            .with_context(|| format!("starting {}", terminal_agent_bin().display()))?);
        let started = Instant::now();
        loop {
            let exited = match self.child.as_mut() {
                Some(child) => child.try_wait()?,
                None => None,
            };
            if let Some(status) = exited {
                bail!("terminal-agent exited with {status} during startup:\n{}", self.log_text());
            }
            let ready = if self.unix {
                tokio::net::UnixStream::connect(&self.addr).await.is_ok()
            } else {
                tokio::net::TcpStream::connect(&self.addr).await.is_ok()
            };
            if ready {
                return Ok(());
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!("terminal-agent did not start listening:\n{}", self.log_text());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Kills the agent (its sessions die with it) and starts it again on the same address.
    pub async fn restart(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.spawn().await
    }

    /// The value of the host's `terminal_endpoint`: `http://addr` or `unix:/path`.
    pub fn endpoint(&self) -> String {
        if self.unix {
            format!("unix:{}", self.addr)
        } else {
            format!("http://{}", self.addr)
        }
    }

    /// The host's environment to reach this agent (endpoint and token).
    pub fn host_env(&self) -> [(&'static str, String); 2] {
        [("PLUGHOST_TERMINAL_ENDPOINT", self.endpoint()), ("PLUGHOST_TERMINAL_TOKEN", self.token.clone())]
    }

    /// An authenticated client (TCP agents only).
    pub async fn client(&self) -> Result<AgentClient> {
        agent_client(&self.endpoint(), Some(&self.token)).await
    }

    /// The folder holding its token file (and its socket).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Everything the agent logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }
}

impl Drop for TerminalAgent {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A shared HTTP client (keep-alive, like Centrifugo's).
pub fn client() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("http client"))
}

/// Runs the `plughost` binary with `args`; returns exit code, stdout and stderr.
pub fn plughost(args: &[&str]) -> Result<(i32, String, String)> {
    let out = Command::new(plughost_bin()).args(args).env("RUST_LOG", "warn").output()?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// Waits up to 20 s for `check` to hold, polling every 20 ms; panics naming `what` after that.
pub async fn wait_for(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Milliseconds since the Unix epoch, as the `spin.busy` fixture reports its times.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// A stand-in for Centrifugo's server HTTP API: every command succeeds with an empty result,
/// and each (command, body) is kept. Stopped when dropped.
pub struct FakeCentrifugoApi {
    /// The API's URL, for `PLUGHOST_CENTRIFUGO_API_URL`.
    pub url: String,
    seen: std::sync::Arc<std::sync::Mutex<Vec<(String, serde_json::Value)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeCentrifugoApi {
    /// Listens on a free loopback port.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
        let url = format!("http://{}/api", listener.local_addr().expect("a bound address"));
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = seen.clone();
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(Self::serve(socket, kept.clone()));
            }
        });
        Self { url, seen, task }
    }

    /// Every (command, body) received so far.
    pub fn seen(&self) -> Vec<(String, serde_json::Value)> {
        self.seen.lock().expect("not poisoned").clone()
    }

    /// (channel, data) of every publish so far.
    pub fn publishes(&self) -> Vec<(String, serde_json::Value)> {
        self.seen()
            .into_iter()
            .filter(|(command, _)| command == "publish")
            .map(|(_, body)| (body["channel"].as_str().unwrap_or_default().to_string(), body["data"].clone()))
            .collect()
    }

    /// Answers the requests of one kept-alive connection.
    async fn serve(
        socket: tokio::net::TcpStream,
        seen: std::sync::Arc<std::sync::Mutex<Vec<(String, serde_json::Value)>>>,
    ) {
        use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
        let (read, mut write) = socket.into_split();
        let mut read = BufReader::new(read);
        loop {
            let mut request_line = String::new();
            if read.read_line(&mut request_line).await.unwrap_or(0) == 0 {
                return;
            }
            let path = request_line.split_whitespace().nth(1).unwrap_or_default();
            let command = path.rsplit('/').next().unwrap_or_default().to_string();
            let mut length = 0;
            loop {
                let mut line = String::new();
                if read.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                if line == "\r\n" {
                    break;
                }
                if let Some((name, value)) = line.split_once(':') {
                    if name.eq_ignore_ascii_case("content-length") {
                        length = value.trim().parse().unwrap_or(0);
                    }
                }
            }
            let mut body = vec![0; length];
            if read.read_exact(&mut body).await.is_err() {
                return;
            }
            let body = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
            seen.lock().expect("not poisoned").push((command, body));
            let reply = b"{\"result\":{}}";
            let head = format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", reply.len());
            if write.write_all(head.as_bytes()).await.is_err() || write.write_all(reply).await.is_err() {
                return;
            }
        }
    }
}

impl Drop for FakeCentrifugoApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Type-checks the TypeScript in `project/src` with tests/node's `tsc` under `--strict`
/// (plus unused locals); panics with the compiler's output when it fails.
pub fn tsc_strict(project: &Path) {
    let tsc = root().join("tests/node/node_modules/.bin/tsc");
    assert!(tsc.exists(), "{} is missing: run `npm ci` in tests/node", tsc.display());
    let tsconfig = serde_json::json!({
        "compilerOptions": {
            "target": "es2022", "module": "es2022", "moduleResolution": "bundler", "strict": true,
            "noEmit": true, "noUnusedLocals": true, "skipLibCheck": true, "types": []
        },
        "include": ["src"]
    });
    std::fs::write(project.join("tsconfig.json"), tsconfig.to_string()).expect("write tsconfig.json");
    let out = Command::new(&tsc).args(["-p", "tsconfig.json"]).current_dir(project).output().expect("run tsc");
    assert!(
        out.status.success(),
        "tsc --strict failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
