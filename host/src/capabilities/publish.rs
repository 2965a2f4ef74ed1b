//! `plughost:rpc/publish`, granted as `publish` and limited to the manifest's `channels`:
//! publish, broadcast (as a whole, or with each channel's outcome), history and presence
//! through the host's [`CentrifugoApi`].

use serde_json::value::RawValue;
use wasmtime::component::{HasSelf, Linker};

use super::context::{HostContext, HostState};
use crate::centrifugo_api::{record_publish, CentrifugoApi, Payload};
use crate::contract::bindings::plughost::rpc::publish::{
    self, Host, PresenceEntry, Publication, PublishError, StreamPosition,
};
use crate::manifest::Grant;

/// The WIT interface (`plughost:rpc/publish`), granted as `publish`.
pub(super) const INTERFACE: &str = "publish";
/// The grant a manifest needs for it.
pub(super) const GRANT: Option<Grant> = Some(Grant::Publish);

pub(super) fn add_to_linker<T: HostState>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    publish::add_to_linker::<T, HasSelf<HostContext>>(linker, T::host)
}

impl HostContext {
    /// The API, once the grant and every channel's pattern allow the call.
    fn api_for(&self, channels: &[&str]) -> Result<&CentrifugoApi, PublishError> {
        if !self.manifest.grants(Grant::Publish) {
            return Err(PublishError::Denied("publish is not granted to this plugin".into()));
        }
        if let Some(channel) = channels.iter().find(|c| !self.manifest.allows_channel(c)) {
            // The channel name may come from the client: it goes to the log, not the reply.
            tracing::warn!(
                plugin = %self.plugin,
                request_id = %self.request_id,
                %channel,
                patterns = ?self.manifest.channels,
                "publish to a channel outside the plugin's patterns denied: add a pattern that matches it to channels in {}.toml",
                self.plugin,
            );
            return Err(PublishError::Denied("the channel is not granted to this plugin".into()));
        }
        self.services
            .centrifugo
            .as_ref()
            .ok_or_else(|| PublishError::Unavailable("the host has no Centrifugo API configured".into()))
    }

    /// Runs a publish or broadcast: checks first (a refusal is metered here; the API meters
    /// what reaches it), then logs the outcome.
    async fn send<T>(
        &self,
        what: &str,
        channels: &[&str],
        data: Result<Payload<'_>, PublishError>,
        run: impl AsyncFnOnce(&CentrifugoApi, Payload<'_>) -> Result<T, PublishError>,
    ) -> Result<T, PublishError> {
        let result = match self.api_for(channels).and_then(|api| Ok((api, data?))) {
            Ok((api, payload)) => run(api, payload).await,
            Err(refused) => {
                let refused = Err(refused);
                record_publish(&refused);
                refused
            }
        };
        match &result {
            Ok(_) => tracing::debug!(plugin = %self.plugin, request_id = %self.request_id, ?channels, "{what}"),
            Err(e) => tracing::warn!(plugin = %self.plugin, request_id = %self.request_id, ?channels, error = ?e, "{what} failed"),
        }
        result
    }
}

/// The plugin's JSON text as a payload: checked once, sent as it is (never re-parsed into a
/// value), and no larger than the plugin's `max_publish`.
fn json_payload(data: &str, max: usize) -> Result<Payload<'_>, PublishError> {
    within(data.len(), max)?;
    serde_json::from_str::<&RawValue>(data)
        .map(Payload::Json)
        .map_err(|_| PublishError::BadRequest("data is not valid JSON".into()))
}

fn binary_payload(data: &[u8], max: usize) -> Result<Payload<'_>, PublishError> {
    within(data.len(), max).map(|()| Payload::Binary(data))
}

fn within(size: usize, max: usize) -> Result<(), PublishError> {
    if size > max {
        return Err(PublishError::BadRequest(format!("data is larger than this plugin's max_publish of {max} bytes")));
    }
    Ok(())
}

impl Host for HostContext {
    async fn publish(&mut self, channel: String, data: String) -> Result<Option<StreamPosition>, PublishError> {
        let id = self.request_id.clone();
        self.send("publish", &[&channel], json_payload(&data, self.state.max_publish), async |api, p| api.publish(&id, &channel, p).await).await
    }

    async fn publish_binary(&mut self, channel: String, data: Vec<u8>) -> Result<Option<StreamPosition>, PublishError> {
        let id = self.request_id.clone();
        self.send("publish", &[&channel], binary_payload(&data, self.state.max_publish), async |api, p| api.publish(&id, &channel, p).await)
            .await
    }

    async fn broadcast(&mut self, channels: Vec<String>, data: String) -> Result<(), PublishError> {
        let id = self.request_id.clone();
        let names: Vec<&str> = channels.iter().map(String::as_str).collect();
        self.send("broadcast", &names, json_payload(&data, self.state.max_publish), async |api, p| api.broadcast(&id, &channels, p).await).await
    }

    async fn broadcast_binary(&mut self, channels: Vec<String>, data: Vec<u8>) -> Result<(), PublishError> {
        let id = self.request_id.clone();
        let names: Vec<&str> = channels.iter().map(String::as_str).collect();
        self.send("broadcast", &names, binary_payload(&data, self.state.max_publish), async |api, p| api.broadcast(&id, &channels, p).await)
            .await
    }

    async fn broadcast_each(&mut self, channels: Vec<String>, data: String) -> Result<Vec<Option<PublishError>>, PublishError> {
        let id = self.request_id.clone();
        let names: Vec<&str> = channels.iter().map(String::as_str).collect();
        self.send("broadcast-each", &names, json_payload(&data, self.state.max_publish), async |api, p| {
            api.broadcast_each(&id, &channels, p).await
        })
        .await
    }

    async fn broadcast_binary_each(&mut self, channels: Vec<String>, data: Vec<u8>) -> Result<Vec<Option<PublishError>>, PublishError> {
        let id = self.request_id.clone();
        let names: Vec<&str> = channels.iter().map(String::as_str).collect();
        self.send("broadcast-each", &names, binary_payload(&data, self.state.max_publish), async |api, p| {
            api.broadcast_each(&id, &channels, p).await
        })
        .await
    }

    async fn history(&mut self, channel: String, limit: u32) -> Result<Vec<Publication>, PublishError> {
        self.api_for(&[&channel])?.history(&self.request_id, &channel, limit).await
    }

    async fn presence(&mut self, channel: String) -> Result<Vec<PresenceEntry>, PublishError> {
        self.api_for(&[&channel])?.presence(&self.request_id, &channel).await
    }
}
