//! `plughost test PLUGIN.wasm CASES.toml`: runs a plugin in the real runtime (loaded,
//! checked and dispatched as `serve` would) against the scripted cases of a TOML file, with
//! Centrifugo's server API recorded instead of called and a throwaway key-value store, and
//! reports each case with a diff of what differed.
//!
//! The case format is documented in the README ("Testing a plugin with `plughost test`").

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::capabilities::Services;
use crate::centrifugo_api::{CentrifugoApi, Outage, Recorded, RecordedData, Recorder};
use crate::config::{Config, KvBackend};
use crate::contract::Conn;
use crate::dispatch::RpcCall;
use crate::errors::RpcError;
use crate::manifest::{Grant, Manifest};
use crate::plugin_dir;
use crate::request_id::next_request_id;

/// Exit code when every case passed.
const PASSED: i32 = 0;
/// Exit code when a case failed or the plugin was refused.
const FAILED: i32 = 1;
/// Exit code when the case file cannot be read or is malformed.
const BAD_CASES: i32 = 2;

/// Runs the cases in `cases` against the plugin in `plugin` (its manifest beside it, or
/// `manifest`); prints one line per case, the failures' diffs and a summary; returns the
/// exit code.
pub async fn run(config: &Config, plugin: &Path, cases: &Path, manifest: Option<&Path>) -> anyhow::Result<i32> {
    let cases = match read_cases(cases) {
        Ok(cases) => cases,
        Err(e) => {
            eprintln!("{e}");
            return Ok(BAD_CASES);
        }
    };
    let work = tempfile::Builder::new().prefix("plughost-test-").tempdir().context("cannot create a temporary folder")?;
    let name = plugin_dir::plugin_name(plugin)
        .filter(|n| plugin_dir::valid_name(n))
        .unwrap_or_else(|| "plugin".to_string());
    let manifest_file = manifest.map(Path::to_path_buf).unwrap_or_else(|| plugin_dir::manifest_path(plugin));
    let config = test_config(config, work.path(), &name, plugin, &manifest_file)?;
    note_terminal(&config, &manifest_file);

    let recorder = Recorder::default();
    let api = CentrifugoApi::recording(recorder.clone());
    let host = crate::server::build_with(&config, |shutdown| Services::with_centrifugo(&config, shutdown, Some(api))).await?;
    if !host.registry.table().plugins().contains_key(&name) {
        let reason = host
            .registry
            .status()
            .into_iter()
            .find_map(|s| s.last_refusal.map(|r| r.reason))
            .unwrap_or_else(|| "it was not loaded".into());
        eprintln!("{}: invalid plugin: {reason}", plugin.display());
        if manifest.is_some() {
            eprintln!("(its manifest for this test: {})", manifest_file.display());
        }
        return Ok(FAILED);
    }

    let mut failures = Vec::new();
    for case in &cases {
        let problems = run_case(&host.dispatcher, &recorder, case).await;
        println!("case {} ... {}", case.name, if problems.is_empty() { "ok" } else { "FAILED" });
        if !problems.is_empty() {
            failures.push((case.name.as_str(), problems));
        }
    }
    for (name, problems) in &failures {
        println!("\n---- {name} ----");
        for problem in problems {
            println!("{}", problem.trim_end());
        }
    }
    println!("\n{} passed; {} failed", cases.len() - failures.len(), failures.len());
    host.shutdown.trigger();
    Ok(if failures.is_empty() { PASSED } else { FAILED })
}

/// The configuration of a test run: `config`, with the plugin alone in a plugins folder of
/// `work`, and the key-value store a fresh embedded one there.
fn test_config(config: &Config, work: &Path, name: &str, plugin: &Path, manifest: &Path) -> anyhow::Result<Config> {
    let plugins = work.join("plugins");
    std::fs::create_dir(&plugins)?;
    std::fs::copy(plugin, plugins.join(format!("{name}.wasm"))).with_context(|| format!("cannot read {}", plugin.display()))?;
    if manifest.exists() {
        std::fs::copy(manifest, plugins.join(format!("{name}.toml")))
            .with_context(|| format!("cannot read {}", manifest.display()))?;
    }
    let mut config = config.clone();
    config.plugins_dir = plugins;
    config.state_dir = Some(work.join("state"));
    config.kv.backend = KvBackend::Embedded;
    config.kv.path = None;
    config.reload.watch = false;
    Ok(config)
}

/// Says up front why terminal calls will fail, rather than leaving a bare 1008 to puzzle over.
fn note_terminal(config: &Config, manifest: &Path) {
    let granted = Manifest::read(manifest).is_ok_and(|m| m.grants(Grant::Terminal));
    if granted && config.terminal_endpoint.as_deref().is_none_or(str::is_empty) {
        eprintln!(
            "note: the plugin is granted `terminal`, which needs a terminal agent: without terminal_endpoint in --config \
             its terminal calls fail with 1008"
        );
    }
}

/// One call of the file and what it must answer.
#[derive(Debug)]
struct Case {
    name: String,
    method: String,
    user: String,
    client: String,
    meta: Option<String>,
    params: Value,
    expect: Expect,
    publishes: Option<Vec<ExpectedPublish>>,
    outage: Option<Outage>,
    history: HashMap<String, Vec<String>>,
    presence: HashMap<String, Vec<(String, String)>>,
}

/// What the call must answer.
#[derive(Debug)]
enum Expect {
    /// Any result.
    Success,
    /// This result, exactly.
    Result(Value),
    /// A result containing this.
    ResultContains(Value),
    /// An error with this code (and, if given, a message containing this text).
    Error { code: u32, contains: Option<String> },
}

/// An expected publication.
#[derive(Debug)]
struct ExpectedPublish {
    channel: String,
    data: DataMatch,
}

#[derive(Debug)]
enum DataMatch {
    Exact(Value),
    Contains(Value),
}

/// A case as written in the file, before its fields are checked together.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    name: String,
    method: String,
    #[serde(default)]
    user: String,
    #[serde(default = "default_client")]
    client: String,
    meta: Option<toml::Table>,
    params: Option<toml::Table>,
    result: Option<toml::Value>,
    result_contains: Option<toml::Value>,
    error: Option<u32>,
    error_contains: Option<String>,
    publishes: Option<Vec<RawPublish>>,
    centrifugo: Option<RawOutage>,
    #[serde(default)]
    history: BTreeMap<String, Vec<toml::Value>>,
    #[serde(default)]
    presence: BTreeMap<String, Vec<RawPresence>>,
}

fn default_client() -> String {
    "test".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPublish {
    channel: String,
    data: Option<toml::Value>,
    data_contains: Option<toml::Value>,
    data_base64: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawOutage {
    Unavailable,
    Timeout,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPresence {
    client: String,
    user: String,
}

/// Reads and checks the case file; the error names the file, the case and the field.
fn read_cases(file: &Path) -> Result<Vec<Case>, String> {
    let shown = file.display();
    let text = std::fs::read_to_string(file).map_err(|e| format!("{shown}: cannot read the case file: {e}"))?;
    parse_cases(&text).map_err(|e| format!("{shown}: {e}"))
}

fn parse_cases(text: &str) -> Result<Vec<Case>, String> {
    let mut file: toml::Table = toml::from_str(text).map_err(|e| format!("not valid TOML: {e}"))?;
    if let Some(other) = file.keys().find(|k| *k != "case") {
        return Err(format!("unknown top-level key `{other}`: a case file holds only [[case]] tables"));
    }
    let cases = match file.remove("case") {
        Some(toml::Value::Array(cases)) if !cases.is_empty() => cases,
        Some(toml::Value::Array(_)) | None => return Err("no [[case]] in the file".into()),
        Some(_) => return Err("`case` must be an array of tables: write each case as [[case]]".into()),
    };
    let mut names = HashSet::new();
    let mut checked = Vec::with_capacity(cases.len());
    for (index, value) in cases.into_iter().enumerate() {
        let label = match value.get("name").and_then(toml::Value::as_str) {
            Some(name) => format!("case {} (\"{name}\")", index + 1),
            None => format!("case {}", index + 1),
        };
        let raw: RawCase = value.try_into().map_err(|e: toml::de::Error| format!("{label}: {}", e.message()))?;
        let case = check_case(raw).map_err(|e| format!("{label}: {e}"))?;
        if !names.insert(case.name.clone()) {
            return Err(format!("{label}: field `name`: another case already has this name"));
        }
        checked.push(case);
    }
    Ok(checked)
}

/// Checks the fields of one case together and converts its TOML values to JSON.
fn check_case(raw: RawCase) -> Result<Case, String> {
    if raw.name.trim().is_empty() {
        return Err("field `name`: must not be empty".into());
    }
    if raw.method.is_empty() {
        return Err("field `method`: must not be empty".into());
    }
    let given: Vec<&str> = [
        ("result", raw.result.is_some()),
        ("result_contains", raw.result_contains.is_some()),
        ("error", raw.error.is_some()),
    ]
    .into_iter()
    .filter_map(|(field, set)| set.then_some(field))
    .collect();
    if given.len() > 1 {
        return Err(format!("fields `{}`: give at most one of `result`, `result_contains`, `error`", given.join("`, `")));
    }
    if raw.error_contains.is_some() && raw.error.is_none() {
        return Err("field `error_contains`: only goes with `error = CODE`".into());
    }
    let expect = match (raw.result, raw.result_contains, raw.error) {
        (Some(result), _, _) => Expect::Result(json("result", result)?),
        (_, Some(part), _) => Expect::ResultContains(json("result_contains", part)?),
        (_, _, Some(code)) => Expect::Error { code, contains: raw.error_contains },
        _ => Expect::Success,
    };
    let publishes = match raw.publishes {
        Some(list) => Some(
            list.into_iter()
                .enumerate()
                .map(|(i, p)| check_publish(p).map_err(|e| format!("field `publishes`, entry {}: {e}", i + 1)))
                .collect::<Result<_, _>>()?,
        ),
        None => None,
    };
    let history = raw
        .history
        .into_iter()
        .map(|(channel, data)| {
            let texts = data.into_iter().map(|d| json("history", d).map(|v| v.to_string())).collect::<Result<_, _>>()?;
            Ok((channel, texts))
        })
        .collect::<Result<_, String>>()?;
    let presence = raw
        .presence
        .into_iter()
        .map(|(channel, entries)| (channel, entries.into_iter().map(|p| (p.client, p.user)).collect()))
        .collect();
    let meta = raw.meta.map(|m| json("meta", toml::Value::Table(m))).transpose()?.map(|m| m.to_string());
    Ok(Case {
        name: raw.name,
        method: raw.method,
        user: raw.user,
        client: raw.client,
        meta,
        params: json("params", toml::Value::Table(raw.params.unwrap_or_default()))?,
        expect,
        publishes,
        outage: raw.centrifugo.map(|o| match o {
            RawOutage::Unavailable => Outage::Unavailable,
            RawOutage::Timeout => Outage::Timeout,
        }),
        history,
        presence,
    })
}

fn check_publish(raw: RawPublish) -> Result<ExpectedPublish, String> {
    let data = match (raw.data, raw.data_contains, raw.data_base64) {
        (Some(data), None, None) => DataMatch::Exact(json("data", data)?),
        (None, Some(part), None) => DataMatch::Contains(json("data_contains", part)?),
        (None, None, Some(base64)) => DataMatch::Exact(Value::String(base64)),
        (None, None, None) => return Err("give the expected data: `data`, `data_contains` or `data_base64`".into()),
        _ => return Err("give only one of `data`, `data_contains`, `data_base64`".into()),
    };
    Ok(ExpectedPublish { channel: raw.channel, data })
}

/// A TOML value as JSON (a date-time becomes its text).
fn json(field: &str, value: toml::Value) -> Result<Value, String> {
    Ok(match value {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => Value::from(i),
        toml::Value::Float(f) => serde_json::Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| format!("field `{field}`: {f} has no JSON form"))?,
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => Value::Array(items.into_iter().map(|v| json(field, v)).collect::<Result<_, _>>()?),
        toml::Value::Table(table) => {
            Value::Object(table.into_iter().map(|(k, v)| Ok((k, json(field, v)?))).collect::<Result<Map<_, _>, String>>()?)
        }
    })
}

/// Runs one case; what differed from the expectation, one block of text each.
async fn run_case(dispatcher: &crate::dispatch::Dispatcher, recorder: &Recorder, case: &Case) -> Vec<String> {
    recorder.take_published();
    recorder.seed(case.history.clone(), case.presence.clone());
    recorder.set_outage(case.outage);
    let call = RpcCall {
        request_id: next_request_id(),
        conn: Conn {
            client: case.client.clone(),
            user: case.user.clone(),
            transport: "test".into(),
            protocol: "json".into(),
            encoding: "json".into(),
            meta: case.meta.clone(),
        },
        method: case.method.clone(),
        params: case.params.to_string().into_bytes(),
    };
    let reply = dispatcher.rpc(call).await;
    recorder.set_outage(None);
    let published = recorder.take_published();
    let mut problems = Vec::new();
    if let Some(problem) = check_reply(&case.expect, reply) {
        problems.push(problem);
    }
    if let Some(expected) = &case.publishes {
        if let Some(problem) = check_publishes(expected, &published) {
            problems.push(problem);
        }
    }
    problems
}

/// What is wrong with `reply`, if anything.
fn check_reply(expect: &Expect, reply: Result<Vec<u8>, RpcError>) -> Option<String> {
    let result = match reply {
        Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
            Ok(value) => Ok(value),
            Err(_) => return Some(format!("the result is not JSON: {}", String::from_utf8_lossy(&bytes))),
        },
        Err(error) => Err(error),
    };
    match (expect, result) {
        (Expect::Success, Ok(_)) => None,
        (Expect::Result(expected), Ok(actual)) => {
            (!json_eq(expected, &actual)).then(|| format!("result (- expected, + actual):\n{}", json_diff(expected, &actual)))
        }
        (Expect::ResultContains(part), Ok(actual)) => (!contains(&actual, part)).then(|| {
            let shown = projected(&actual, part);
            format!("result_contains (- expected, + actual; keys not expected left out):\n{}", json_diff(part, &shown))
        }),
        (Expect::Error { code, .. }, Ok(actual)) => Some(format!("expected error {code}, got a result:\n{}", pretty(&actual))),
        (Expect::Error { code, contains }, Err(error)) => {
            if error.code != *code {
                Some(format!("error code: expected {code}, got {} ({:?})", error.code, error.message))
            } else if let Some(text) = contains.as_deref().filter(|text| !error.message.contains(text)) {
                Some(format!("error message: expected it to contain {text:?}, got {:?}", error.message))
            } else {
                None
            }
        }
        (_, Err(error)) => Some(format!("expected a result, got error {} ({:?})", error.code, error.message)),
    }
}

/// What is wrong with the publications, if anything: shown as a diff of the two lists.
fn check_publishes(expected: &[ExpectedPublish], actual: &[Recorded]) -> Option<String> {
    let matches = expected.len() == actual.len()
        && expected.iter().zip(actual).all(|(e, a)| {
            e.channel == a.channel
                && match &e.data {
                    DataMatch::Exact(data) => json_eq(data, &a.data.to_json()),
                    DataMatch::Contains(part) => contains(&a.data.to_json(), part),
                }
        });
    if matches {
        return None;
    }
    let entry = |channel: &str, data: Value| serde_json::json!({ "channel": channel, "data": data });
    let expected_list: Vec<Value> = expected
        .iter()
        .map(|e| match &e.data {
            DataMatch::Exact(data) | DataMatch::Contains(data) => entry(&e.channel, data.clone()),
        })
        .collect();
    // Where the expectation is a subset, only the part it names is shown of the actual data.
    let actual_list: Vec<Value> = actual
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let data = a.data.to_json();
            let data = match expected.get(i).map(|e| &e.data) {
                Some(DataMatch::Contains(part)) => projected(&data, part),
                _ => data,
            };
            entry(&a.channel, data)
        })
        .collect();
    let binary = actual.iter().any(|a| matches!(a.data, RecordedData::Binary(_)));
    Some(format!(
        "publishes (- expected, + actual{}):\n{}",
        if binary { "; binary data as base64" } else { "" },
        json_diff(&Value::Array(expected_list), &Value::Array(actual_list))
    ))
}

/// JSON equality with numbers compared by value (`1` equals `1.0`).
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x == y || matches!((x.as_f64(), y.as_f64()), (Some(x), Some(y)) if x == y)
        }
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_eq(x, y)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// Whether `actual` matches `part`: an object has every key `part` gives, each matching;
/// an array has as many elements, each matching; anything else is equal.
fn contains(actual: &Value, part: &Value) -> bool {
    match (actual, part) {
        (Value::Object(actual), Value::Object(part)) => {
            part.iter().all(|(k, v)| actual.get(k).is_some_and(|a| contains(a, v)))
        }
        (Value::Array(actual), Value::Array(part)) => {
            actual.len() == part.len() && actual.iter().zip(part).all(|(a, p)| contains(a, p))
        }
        _ => json_eq(actual, part),
    }
}

/// `actual` cut down to the keys `part` names (in objects, and in the elements of arrays),
/// for a diff that shows only what the expectation is about.
fn projected(actual: &Value, part: &Value) -> Value {
    match (actual, part) {
        (Value::Object(actual), Value::Object(part)) => Value::Object(
            part.iter().filter_map(|(k, p)| actual.get(k).map(|a| (k.clone(), projected(a, p)))).collect(),
        ),
        (Value::Array(actual), Value::Array(part)) => Value::Array(
            actual.iter().enumerate().map(|(i, a)| part.get(i).map_or_else(|| a.clone(), |p| projected(a, p))).collect(),
        ),
        _ => actual.clone(),
    }
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// A line diff of the two values pretty-printed: `- ` expected only, `+ ` actual only.
fn json_diff(expected: &Value, actual: &Value) -> String {
    line_diff(&pretty(expected), &pretty(actual))
}

/// Past this many line pairs the diff shows both sides whole rather than aligning them.
const MAX_DIFF_CELLS: usize = 4_000_000;

/// A line diff by longest common subsequence: unchanged lines with `  `, removed with `- `,
/// added with `+ `.
fn line_diff(old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let mut out = String::new();
    if a.len().saturating_mul(b.len()) > MAX_DIFF_CELLS {
        a.iter().for_each(|line| _ = writeln!(out, "- {line}"));
        b.iter().for_each(|line| _ = writeln!(out, "+ {line}"));
        return out;
    }
    // lcs[i][j]: length of the longest common subsequence of a[i..] and b[j..].
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            _ = writeln!(out, "  {}", a[i]);
            i += 1;
            j += 1;
        } else if j == b.len() || (i < a.len() && lcs[i + 1][j] >= lcs[i][j + 1]) {
            _ = writeln!(out, "- {}", a[i]);
            i += 1;
        } else {
            _ = writeln!(out, "+ {}", b[j]);
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_full_case_parses() {
        let cases = parse_cases(
            r#"
            [[case]]
            name = "send"
            method = "chat.send"
            user = "42"
            params = { room = "lobby", text = "hi" }
            result_contains = { id = 1 }
            publishes = [{ channel = "chat#lobby", data_contains = { text = "hi" } }, { channel = "b", data_base64 = "aGk=" }]
            centrifugo = "timeout"
            history = { "chat#lobby" = [{ text = "earlier" }] }
            presence = { "chat#lobby" = [{ client = "c1", user = "42" }] }

            [[case]]
            name = "anonymous"
            method = "chat.send"
            error = 1401
            error_contains = "sign in"
            "#,
        )
        .unwrap();
        assert_eq!(cases.len(), 2);
        assert_eq!(cases[0].params, json!({"room": "lobby", "text": "hi"}));
        assert!(matches!(&cases[0].expect, Expect::ResultContains(v) if *v == json!({"id": 1})));
        assert_eq!(cases[0].publishes.as_ref().unwrap().len(), 2);
        assert_eq!(cases[0].outage, Some(Outage::Timeout));
        assert_eq!(cases[0].history["chat#lobby"], [r#"{"text":"earlier"}"#]);
        assert_eq!(cases[1].user, "");
        assert!(matches!(&cases[1].expect, Expect::Error { code: 1401, contains: Some(t) } if t == "sign in"));
        assert!(cases[1].publishes.is_none());
    }

    #[test]
    fn a_malformed_case_names_the_case_and_the_field() {
        let bad = |text: &str| parse_cases(text).unwrap_err();
        let e = bad("[[case]]\nname = \"a\"\nmethod = \"m\"\nreslt = 1\n");
        assert!(e.contains("case 1 (\"a\")") && e.contains("reslt"), "{e}");
        let e = bad("[[case]]\nname = \"a\"\nmethod = \"m\"\n[[case]]\nname = \"b\"\n");
        assert!(e.contains("case 2 (\"b\")") && e.contains("method"), "{e}");
        let e = bad("[[case]]\nname = \"a\"\nmethod = \"m\"\nresult = 1\nerror = 2\n");
        assert!(e.contains("`result`, `error`"), "{e}");
        let e = bad("[[case]]\nname = \"a\"\nmethod = \"m\"\nuser = 42\n");
        assert!(e.contains("case 1 (\"a\")") && e.contains("string"), "{e}");
        let e = bad("[[case]]\nname = \"a\"\nmethod = \"m\"\npublishes = [{ channel = \"c\" }]\n");
        assert!(e.contains("`publishes`, entry 1"), "{e}");
        let e = bad("[[case]]\nname = \"a\"\nmethod = \"m\"\n[[case]]\nname = \"a\"\nmethod = \"m\"\n");
        assert!(e.contains("case 2") && e.contains("`name`"), "{e}");
        assert!(bad("").contains("no [[case]]"));
        assert!(bad("[[cases]]\nname = \"a\"\n").contains("`cases`"));
        let e = bad("[[case]]\nname = \"a\"\nmethod = \"m\"\ncentrifugo = \"down\"\n");
        assert!(e.contains("case 1 (\"a\")") && e.contains("down") && e.contains("unavailable"), "{e}");
    }

    #[test]
    fn numbers_compare_by_value_and_subsets_by_key() {
        assert!(json_eq(&json!({"a": 1}), &json!({"a": 1.0})));
        assert!(!json_eq(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
        assert!(contains(&json!({"a": {"b": 1, "c": 2}, "d": [1]}), &json!({"a": {"b": 1}})));
        assert!(!contains(&json!({"a": [1, 2]}), &json!({"a": [1]})));
        assert!(contains(&json!([{"id": 1, "ts": 5}, {"id": 2, "ts": 6}]), &json!([{"id": 1}, {"id": 2}])));
        assert_eq!(projected(&json!([{"id": 1, "ts": 5}, 3]), &json!([{"id": 9}])), json!([{"id": 1}, 3]));
        assert_eq!(projected(&json!({"a": {"b": 1, "c": 2}, "d": 3}), &json!({"a": {"b": 5}})), json!({"a": {"b": 1}}));
    }

    #[test]
    fn the_diff_marks_only_the_changed_lines() {
        let diff = json_diff(&json!({"a": 1, "b": 2}), &json!({"a": 1, "b": 3}));
        assert_eq!(diff, "  {\n    \"a\": 1,\n-   \"b\": 2\n+   \"b\": 3\n  }\n");
    }

    #[test]
    fn a_wrong_reply_is_explained() {
        let ok = |v: Value| Ok(v.to_string().into_bytes());
        assert!(check_reply(&Expect::Success, ok(json!(1))).is_none());
        let e = check_reply(&Expect::Error { code: 1003, contains: None }, Err(RpcError::new(1401, "sign in"))).unwrap();
        assert!(e.contains("expected 1003, got 1401") && e.contains("sign in"), "{e}");
        let e = check_reply(&Expect::Result(json!({"x": true})), ok(json!({"x": false}))).unwrap();
        assert!(e.contains("-   \"x\": true") && e.contains("+   \"x\": false"), "{e}");
        let e = check_reply(&Expect::Result(json!(1)), Err(RpcError::new(1008, "down"))).unwrap();
        assert!(e.contains("got error 1008"), "{e}");
    }
}
