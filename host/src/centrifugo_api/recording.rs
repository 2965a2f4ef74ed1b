//! The recording backend of [`super::CentrifugoApi`], for `plughost test`: publications are
//! kept in memory instead of sent, history and presence answer what the test seeded (empty
//! otherwise), and a test may make every command fail the way an unreachable Centrifugo does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use base64::Engine as _;

use super::payload::Payload;
use crate::contract::bindings::plughost::rpc::publish::{PresenceEntry, Publication, PublishError, StreamPosition};

/// One publication as the plugin sent it.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// The channel it went to.
    pub channel: String,
    /// Its payload.
    pub data: RecordedData,
}

/// A recorded payload.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordedData {
    /// JSON text, as the plugin sent it.
    Json(String),
    /// A binary payload.
    Binary(Vec<u8>),
}

impl RecordedData {
    /// The payload as a JSON value: JSON text parsed, binary data as base64 text.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Self::Json(text) => serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.clone())),
            Self::Binary(bytes) => serde_json::Value::String(base64::engine::general_purpose::STANDARD.encode(bytes)),
        }
    }
}

/// How every command fails while a failure is injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outage {
    /// Centrifugo cannot be reached.
    Unavailable,
    /// Centrifugo does not answer in time.
    Timeout,
}

#[derive(Default)]
struct State {
    published: Vec<Recorded>,
    history: HashMap<String, Vec<Publication>>,
    presence: HashMap<String, Vec<PresenceEntry>>,
    outage: Option<Outage>,
}

/// What the recording backend has seen and will answer; clones share it.
#[derive(Clone, Default)]
pub struct Recorder {
    state: Arc<Mutex<State>>,
}

impl Recorder {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes the publications recorded so far, in the order they were made.
    pub fn take_published(&self) -> Vec<Recorded> {
        std::mem::take(&mut self.state().published)
    }

    /// Sets what `history` answers (publications' data as JSON text, oldest first) and
    /// `presence` answers (client, user), replacing earlier seeds.
    pub fn seed(&self, history: HashMap<String, Vec<String>>, presence: HashMap<String, Vec<(String, String)>>) {
        let mut state = self.state();
        state.history = history
            .into_iter()
            .map(|(channel, data)| {
                let publications =
                    data.into_iter().zip(1..).map(|(data, offset)| Publication { data, offset }).collect();
                (channel, publications)
            })
            .collect();
        state.presence = presence
            .into_iter()
            .map(|(channel, entries)| {
                (channel, entries.into_iter().map(|(client, user)| PresenceEntry { client, user }).collect())
            })
            .collect();
    }

    /// Makes every command fail with `outage` from now on (`None`: answer again).
    pub fn set_outage(&self, outage: Option<Outage>) {
        self.state().outage = outage;
    }

    fn available(&self) -> Result<MutexGuard<'_, State>, PublishError> {
        let state = self.state();
        match state.outage {
            None => Ok(state),
            Some(Outage::Unavailable) => Err(PublishError::Unavailable("Centrifugo unavailable (injected by the test)".into())),
            Some(Outage::Timeout) => Err(PublishError::Timeout),
        }
    }

    pub(super) fn publish(&self, channel: &str, payload: Payload<'_>) -> Result<Option<StreamPosition>, PublishError> {
        self.available()?.published.push(Recorded { channel: channel.to_string(), data: recorded(payload) });
        // As for a namespace without history: the recorder keeps no stream.
        Ok(None)
    }

    pub(super) fn broadcast(&self, channels: &[String], payload: Payload<'_>) -> Result<Vec<Option<PublishError>>, PublishError> {
        let mut state = self.available()?;
        if channels.is_empty() {
            return Err(PublishError::BadRequest("no channels".into()));
        }
        let data = recorded(payload);
        state.published.extend(channels.iter().map(|channel| Recorded { channel: channel.clone(), data: data.clone() }));
        Ok(vec![None; channels.len()])
    }

    pub(super) fn subscriber_count(&self, channel: &str) -> Result<u64, PublishError> {
        Ok(self.available()?.presence.get(channel).map_or(0, |entries| entries.len() as u64))
    }

    pub(super) fn history(&self, channel: &str, limit: u32) -> Result<Vec<Publication>, PublishError> {
        let state = self.available()?;
        let all = state.history.get(channel).map(Vec::as_slice).unwrap_or_default();
        let skip = all.len().saturating_sub(limit as usize);
        Ok(all[skip..].to_vec())
    }

    pub(super) fn presence(&self, channel: &str) -> Result<Vec<PresenceEntry>, PublishError> {
        Ok(self.available()?.presence.get(channel).cloned().unwrap_or_default())
    }
}

fn recorded(payload: Payload<'_>) -> RecordedData {
    match payload {
        Payload::Json(raw) => RecordedData::Json(raw.get().to_string()),
        Payload::Binary(bytes) => RecordedData::Binary(bytes.to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &str) -> Payload<'_> {
        Payload::Json(serde_json::from_str(text).unwrap())
    }

    #[test]
    fn publishes_and_broadcasts_are_recorded_in_order() {
        let recorder = Recorder::default();
        recorder.publish("a", json(r#"{"n":1}"#)).unwrap();
        recorder.broadcast(&["b".into(), "c".into()], Payload::Binary(b"hi")).unwrap();
        let published = recorder.take_published();
        let channels: Vec<&str> = published.iter().map(|r| r.channel.as_str()).collect();
        assert_eq!(channels, ["a", "b", "c"]);
        assert_eq!(published[0].data.to_json(), serde_json::json!({"n": 1}));
        assert_eq!(published[2].data.to_json(), serde_json::json!("aGk="));
        assert!(recorder.take_published().is_empty());
    }

    #[test]
    fn history_and_presence_answer_the_seeds() {
        let recorder = Recorder::default();
        assert!(recorder.history("x", 10).unwrap().is_empty());
        let history = HashMap::from([("x".to_string(), vec!["1".to_string(), "2".to_string(), "3".to_string()])]);
        let presence = HashMap::from([("x".to_string(), vec![("c1".to_string(), "42".to_string())])]);
        recorder.seed(history, presence);
        let last_two: Vec<String> = recorder.history("x", 2).unwrap().into_iter().map(|p| p.data).collect();
        assert_eq!(last_two, ["2", "3"]);
        assert_eq!(recorder.presence("x").unwrap()[0].user, "42");
        assert_eq!(recorder.subscriber_count("x").unwrap(), 1);
    }

    #[test]
    fn an_injected_outage_fails_every_command_and_records_nothing() {
        let recorder = Recorder::default();
        recorder.set_outage(Some(Outage::Unavailable));
        assert!(matches!(recorder.publish("a", json("1")), Err(PublishError::Unavailable(_))));
        assert!(matches!(recorder.history("a", 1), Err(PublishError::Unavailable(_))));
        recorder.set_outage(Some(Outage::Timeout));
        assert!(matches!(recorder.presence("a"), Err(PublishError::Timeout)));
        assert!(recorder.take_published().is_empty());
        recorder.set_outage(None);
        assert!(recorder.publish("a", json("1")).is_ok());
    }
}
