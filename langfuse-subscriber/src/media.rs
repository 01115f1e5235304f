//! Langfuse media (reference §8): base64 payloads in input, output or metadata are
//! replaced by a reference string, and their bytes are uploaded in the background.
//!
//! Recognised (at most 10 levels deep): a `data:<mime>;base64,<data>` string (OpenAI's
//! `image_url` uses one), an Anthropic `{"type":"base64","media_type","data"}` source,
//! a Vertex `{"type":"media","mime_type","data"}` part, and Gemini
//! `inline_data`/`inlineData` holding `mime_type`/`mimeType` and `data`. Each becomes
//! `@@@langfuseMedia:type=<mime>|id=<media_id>|source=<base64_data_uri|bytes>@@@`,
//! where `media_id` is the first 22 characters of the URL-safe base64 SHA-256 of the
//! bytes. [`LangfuseMedia`] attaches bytes with a content type explicitly.
//!
//! The upload: `POST /api/public/media` (trace, observation, content type, length,
//! SHA-256, field), then, when an upload URL comes back, `PUT` of the bytes there
//! (with no Langfuse credentials), then `PATCH /api/public/media/{id}` with the
//! upload's status and time. It runs on its own thread; a failure is reported once
//! and never blocks or fails the observation. `LANGFUSE_MEDIA_UPLOAD_ENABLED=false`
//! (or `0`, read when the layer is built) leaves values untouched and uploads nothing.
//!
//! This is automatic: when the export thread takes a finished observation from the
//! queue (off the application's threads), the
//! input, output and metadata it holds (and the trace input, output and metadata set
//! through it), however they were written (`#[observe]` capture, builders, updates,
//! `update_current_*`, `tracing` fields), go through `replace_in_state`, with the
//! observation's trace id and id at hand. Values without a `base64`, `mime_type` or
//! `mimeType` marker are not parsed. Unlike the reference, where media processing runs
//! before the mask, a layer's mask sees the value before its media is replaced.
//! [`LangfuseHandle::with_media`] does the same by hand on a value.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use http::header::{HeaderMap, HeaderValue};
use http::Method;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::export::LangfuseHandle;
use crate::rest::{display_url, RestClient};

const MAX_DEPTH: usize = 10;

/// Bytes with a content type, sent as Langfuse media.
///
/// ```
/// use langfuse_tracing::media::LangfuseMedia;
/// let png = LangfuseMedia::new("image/png", vec![0x89, b'P', b'N', b'G']);
/// let r = png.reference();
/// assert!(r.starts_with("@@@langfuseMedia:type=image/png|id="));
/// assert!(r.ends_with("|source=bytes@@@"));
/// let from_uri = LangfuseMedia::from_data_uri("data:image/png;base64,iVBORw==").unwrap();
/// assert_eq!(from_uri.content_type(), "image/png");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct LangfuseMedia {
    content_type: String,
    bytes: Vec<u8>,
    source: &'static str,
}

impl std::fmt::Debug for LangfuseMedia {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LangfuseMedia")
            .field("content_type", &self.content_type)
            .field("len", &self.bytes.len())
            .finish()
    }
}

impl LangfuseMedia {
    /// Bytes of `content_type` (for example `"application/pdf"`).
    ///
    /// ```
    /// let m = langfuse_tracing::media::LangfuseMedia::new("audio/wav", vec![1, 2]);
    /// assert_eq!(m.len(), 2);
    /// ```
    pub fn new(content_type: impl Into<String>, bytes: Vec<u8>) -> LangfuseMedia {
        LangfuseMedia {
            content_type: content_type.into(),
            bytes,
            source: "bytes",
        }
    }

    /// A `data:<mime>;base64,<data>` URI; `None` when it is not one.
    ///
    /// ```
    /// assert!(langfuse_tracing::media::LangfuseMedia::from_data_uri("https://x/a.png").is_none());
    /// ```
    pub fn from_data_uri(uri: &str) -> Option<LangfuseMedia> {
        let rest = uri.strip_prefix("data:")?;
        let (head, data) = rest.split_once(',')?;
        let mime = head.strip_suffix(";base64")?;
        let mut media = Self::from_base64(mime, data)?;
        media.source = "base64_data_uri";
        Some(media)
    }

    fn from_base64(mime: &str, data: &str) -> Option<LangfuseMedia> {
        if mime.is_empty() || !mime.contains('/') {
            return None;
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .ok()?;
        Some(LangfuseMedia {
            content_type: mime.to_owned(),
            bytes,
            source: "base64_data_uri",
        })
    }

    /// The content type.
    ///
    /// ```
    /// assert_eq!(langfuse_tracing::media::LangfuseMedia::new("image/gif", vec![]).content_type(), "image/gif");
    /// ```
    pub fn content_type(&self) -> &str {
        &self.content_type
    }

    /// The number of bytes.
    ///
    /// ```
    /// assert!(langfuse_tracing::media::LangfuseMedia::new("image/gif", vec![]).is_empty());
    /// ```
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// True when there are no bytes.
    ///
    /// ```
    /// assert!(!langfuse_tracing::media::LangfuseMedia::new("image/gif", vec![1]).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    fn sha256(&self) -> [u8; 32] {
        Sha256::digest(&self.bytes).into()
    }

    /// The media id: the first 22 characters of the URL-safe base64 SHA-256.
    ///
    /// ```
    /// let m = langfuse_tracing::media::LangfuseMedia::new("text/plain", b"hello".to_vec());
    /// assert_eq!(m.id(), "LPJNul-wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ"[..22].to_string());
    /// ```
    pub fn id(&self) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(self.sha256());
        b64.replace('+', "-")
            .replace('/', "_")
            .chars()
            .take(22)
            .collect()
    }

    /// The reference string that replaces the bytes in a value.
    ///
    /// ```
    /// let m = langfuse_tracing::media::LangfuseMedia::new("text/plain", b"hello".to_vec());
    /// assert_eq!(m.reference(), format!("@@@langfuseMedia:type=text/plain|id={}|source=bytes@@@", m.id()));
    /// ```
    pub fn reference(&self) -> String {
        format!(
            "@@@langfuseMedia:type={}|id={}|source={}@@@",
            self.content_type,
            self.id(),
            self.source
        )
    }
}

fn str_field<'a>(m: &'a Map<String, Value>, keys: &[&str]) -> Option<&'a str> {
    keys.iter().find_map(|k| m.get(*k).and_then(Value::as_str))
}

/// The media of a provider-shaped object, if it is one.
fn object_media(m: &Map<String, Value>) -> Option<LangfuseMedia> {
    let kind = m.get("type").and_then(Value::as_str);
    let data = str_field(m, &["data"])?;
    let mime = match kind {
        Some("base64") => str_field(m, &["media_type"])?,
        Some("media") => str_field(m, &["mime_type"])?,
        _ => str_field(m, &["mime_type", "mimeType"])?,
    };
    LangfuseMedia::from_base64(mime, data)
}

/// Replaces every media payload in `value` by its reference string; returns the media.
///
/// ```
/// use serde_json::json;
/// let mut v = json!({"messages": [{"role": "user", "content": [
///     {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw=="}},
///     {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/"}},
///     {"inline_data": {"mime_type": "application/pdf", "data": "JVBERg=="}}
/// ]}]});
/// let found = langfuse_tracing::media::extract_media(&mut v);
/// assert_eq!(found.len(), 3);
/// assert!(v.to_string().matches("@@@langfuseMedia:").count() == 3);
/// assert!(!v.to_string().contains("iVBORw=="));
/// ```
pub fn extract_media(value: &mut Value) -> Vec<LangfuseMedia> {
    let mut found = Vec::new();
    walk(value, 0, &mut found);
    found
}

fn walk(value: &mut Value, depth: usize, found: &mut Vec<LangfuseMedia>) {
    if depth > MAX_DEPTH {
        return;
    }
    match value {
        Value::String(s) if s.starts_with("data:") => {
            if let Some(media) = LangfuseMedia::from_data_uri(s) {
                *s = media.reference();
                found.push(media);
            }
        }
        Value::Object(m) => {
            if let Some(mut media) = object_media(m) {
                // A provider object's data becomes the reference; its other keys stay.
                media.source = "base64_data_uri";
                m.insert("data".into(), Value::String(media.reference()));
                found.push(media);
                return;
            }
            for v in m.values_mut() {
                walk(v, depth + 1, found);
            }
        }
        Value::Array(a) => {
            for v in a {
                walk(v, depth + 1, found);
            }
        }
        _ => {}
    }
}

/// Whether media handling is on: `LANGFUSE_MEDIA_UPLOAD_ENABLED` is not `false`/`0`.
///
/// ```
/// let _ = langfuse_tracing::media::upload_enabled();
/// ```
pub fn upload_enabled() -> bool {
    !matches!(
        std::env::var("LANGFUSE_MEDIA_UPLOAD_ENABLED")
            .map(|v| v.trim().to_ascii_lowercase())
            .as_deref(),
        Ok("false") | Ok("0")
    )
}

struct Job {
    media: LangfuseMedia,
    trace_id: String,
    observation_id: Option<String>,
    field: &'static str,
}

/// The background uploader of one layer.
pub(crate) struct Uploader {
    tx: Mutex<Option<Sender<Job>>>,
    pending: Arc<Pending>,
    console: bool,
    /// Bytes of the uploads queued and not done, and their bound: beyond it an upload
    /// is skipped and counted (a slow or unreachable object storage must not grow the
    /// process without bound).
    queued_bytes: Arc<AtomicUsize>,
    max_queued_bytes: usize,
    /// Uploads skipped (queue full) or failed.
    dropped: Arc<AtomicU64>,
}

impl std::fmt::Debug for Uploader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uploader")
            .field("console", &self.console)
            .finish_non_exhaustive()
    }
}

impl Uploader {
    /// The uploader of a layer: over the network with credentials, on the console
    /// without; none when tracing is disabled.
    pub(crate) fn for_config(
        config: &crate::config::LangfuseConfig,
    ) -> Result<Option<Uploader>, crate::config::ConfigError> {
        if !config.enabled {
            return Ok(None);
        }
        if !config.has_credentials() {
            return Ok(Some(Uploader::new(true, 0)));
        }
        let mut uploader = Uploader::new(false, config.max_queue_bytes / 4);
        let (tx, rx) = mpsc::channel::<Job>();
        let worker = UploadWorker {
            pending: uploader.pending.clone(),
            queued_bytes: uploader.queued_bytes.clone(),
            dropped: uploader.dropped.clone(),
        };
        crate::rest::spawn_with_client("langfuse-media", config, move |client| {
            worker.run(client, rx)
        })?;
        register(&uploader.pending, config.timeout * 3);
        uploader.tx = Mutex::new(Some(tx));
        Ok(Some(uploader))
    }

    /// An uploader with nothing queued and no upload thread yet (`console`: without
    /// credentials, each media is shown on the console instead).
    fn new(console: bool, max_queued_bytes: usize) -> Uploader {
        Uploader {
            tx: Mutex::new(None),
            pending: Arc::new((Mutex::new(0usize), Condvar::new())),
            console,
            queued_bytes: Arc::new(AtomicUsize::new(0)),
            max_queued_bytes,
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Uploads skipped because too many bytes were waiting, or failed.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn queue(&self, job: Job) {
        if self.console {
            stderr_line!(
                "langfuse: media {} ({} bytes, {}) in {} of trace {}",
                job.media.reference(),
                job.media.len(),
                job.media.content_type(),
                job.field,
                job.trace_id
            );
            return;
        }
        let tx = match self.tx.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        };
        let Some(tx) = tx else { return };
        let size = job.media.len();
        let queued = self.queued_bytes.fetch_add(size, Ordering::Relaxed) + size;
        if queued > self.max_queued_bytes {
            self.queued_bytes.fetch_sub(size, Ordering::Relaxed);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            langfuse_tracing_core::__layer::warn::emit(&format!(
                "media upload skipped: more than {} bytes of uploads are waiting (the \
                 object storage is slow or unreachable); the observation keeps its media \
                 reference, and the count is in LangfuseHandle::dropped_media()",
                self.max_queued_bytes
            ));
            return;
        }
        if let Ok(mut n) = self.pending.0.lock() {
            *n += 1;
        }
        if tx.send(job).is_err() {
            self.queued_bytes.fetch_sub(size, Ordering::Relaxed);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut n) = self.pending.0.lock() {
                *n -= 1;
            }
        }
    }

    /// Waits (up to `timeout`) until the queued uploads are done.
    pub(crate) fn flush(&self, timeout: Duration) -> bool {
        wait_for_uploads(&self.pending, timeout)
    }
}

/// The upload thread's share of an [`Uploader`].
struct UploadWorker {
    pending: Arc<Pending>,
    queued_bytes: Arc<AtomicUsize>,
    dropped: Arc<AtomicU64>,
}

impl UploadWorker {
    fn run(self, client: RestClient, rx: Receiver<Job>) {
        let mut reported = std::collections::HashSet::new();
        for job in rx {
            if let Err(message) = upload(&client, &job) {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                // One line per kind of failure: hosts and statuses, not media ids.
                if reported.len() < 64 && reported.insert(failure_kind(&message)) {
                    stderr_line!(
                        "langfuse: media upload failed: {message} (failed uploads are \
                         counted in LangfuseHandle::dropped_media())"
                    );
                }
            }
            self.queued_bytes
                .fetch_sub(job.media.len(), Ordering::Relaxed);
            let (lock, cond) = &*self.pending;
            if let Ok(mut n) = lock.lock() {
                *n = n.saturating_sub(1);
            }
            cond.notify_all();
        }
    }
}

/// A failure message with what differs from one upload to the next left out: URLs
/// reduced to scheme and host, digits dropped.
fn failure_kind(message: &str) -> String {
    message
        .split_whitespace()
        .map(
            |word| match url::Url::parse(word.trim_end_matches([':', ','])) {
                Ok(url) => format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default()),
                Err(_) => word.chars().filter(|c| !c.is_ascii_digit()).collect(),
            },
        )
        .collect::<Vec<_>>()
        .join(" ")
}

fn upload(client: &RestClient, job: &Job) -> Result<(), String> {
    let sha = base64::engine::general_purpose::STANDARD.encode(job.media.sha256());
    let mut body = json!({
        "traceId": job.trace_id,
        "contentType": job.media.content_type,
        "contentLength": job.media.len(),
        "sha256Hash": sha,
        "field": job.field,
    });
    if let Some(o) = &job.observation_id {
        body["observationId"] = json!(o);
    }
    let url = client.api_url("api/public/media");
    let answer = client.api(
        Method::POST,
        "api/public/media",
        Some(body.to_string().into_bytes()),
    )?;
    if !answer.is_success() {
        return Err(client.refusal(&url, &answer));
    }
    let reply: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
    let Some(media_id) = reply["mediaId"].as_str() else {
        return Err(format!("{} answered without a mediaId", display_url(&url)));
    };
    if !is_media_id(media_id) {
        // It becomes a path segment of an authenticated request: `../` in it would
        // send the keys to another path of the host.
        return Err(format!(
            "{} answered with a mediaId that is not one ({} bytes); the file was not uploaded",
            display_url(&url),
            media_id.len()
        ));
    }
    let Some(upload_url) = reply["uploadUrl"].as_str() else {
        return Ok(()); // already uploaded
    };
    if !upload_url_allowed(&url, upload_url) {
        return Err(format!(
            "{} returned an upload URL that is not https; the file was not uploaded",
            display_url(&url)
        ));
    }
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&job.media.content_type) {
        headers.insert(http::header::CONTENT_TYPE, v);
    }
    let google = url::Url::parse(upload_url)
        .ok()
        .and_then(|u| u.host_str().map(|h| h == "storage.googleapis.com"))
        .unwrap_or(false);
    if !google {
        headers.insert("x-ms-blob-type", HeaderValue::from_static("BlockBlob"));
        if let Ok(v) = HeaderValue::from_str(&sha) {
            headers.insert("x-amz-checksum-sha256", v);
        }
    }
    let started = Instant::now();
    let put = client.upload(upload_url, headers, job.media.bytes.clone());
    let elapsed = started.elapsed().as_millis() as u64;
    let (status, error) = match &put {
        Ok(a) if a.is_success() => (a.status, None),
        Ok(a) => (a.status, Some(format!("status {}: {}", a.status, a.text()))),
        Err(e) => (0, Some(e.clone())),
    };
    let patch = json!({
        "uploadedAt": langfuse_tracing_core::__layer::time::iso8601(SystemTime::now()),
        "uploadHttpStatus": status,
        "uploadHttpError": error,
        "uploadTimeMs": elapsed,
    });
    let path = format!("api/public/media/{media_id}");
    let answer = client.api(Method::PATCH, &path, Some(patch.to_string().into_bytes()))?;
    if !answer.is_success() {
        return Err(client.refusal(&client.api_url(&path), &answer));
    }
    match error {
        Some(e) => Err(format!("upload to {} failed: {e}", display_url(upload_url))),
        None => Ok(()),
    }
}

impl LangfuseHandle {
    /// Replaces the media payloads in `value` (data URIs and provider base64 shapes) by
    /// Langfuse media references and uploads their bytes in the background, attached
    /// to `field` (`"input"`, `"output"` or `"metadata"`) of the observation `obs`.
    /// Returns the value to record. Without credentials the references are printed on
    /// the console; with `LANGFUSE_MEDIA_UPLOAD_ENABLED=false` the value is returned
    /// unchanged. An upload failure is reported once and never fails the caller.
    ///
    /// ```
    /// use serde_json::json;
    /// let handle = langfuse_tracing::LangfuseLayer::builder().console(false).build().unwrap().handle();
    /// let obs = langfuse_tracing::observation::generation("vision").start();
    /// let v = handle.with_media(&obs, "input", json!({"image": "data:image/png;base64,iVBORw=="}));
    /// // Without a layer recording `obs` there are no ids: the value is kept as is.
    /// assert_eq!(v["image"], "data:image/png;base64,iVBORw==");
    /// ```
    pub fn with_media<K>(
        &self,
        obs: &langfuse_tracing_core::Observation<K>,
        field: &'static str,
        mut value: Value,
    ) -> Value {
        let (Some(trace), Some(id)) = (obs.trace_id(), obs.id()) else {
            return value;
        };
        let Some(uploader) = &self.media else {
            return value;
        };
        if !upload_enabled() {
            return value;
        }
        for media in extract_media(&mut value) {
            uploader.queue(Job {
                media,
                trace_id: trace.to_string(),
                observation_id: Some(id.to_string()),
                field,
            });
        }
        value
    }

    /// Waits for the media uploads queued so far (bounded by `timeout`; `Duration::MAX`
    /// waits as long as they take); true when done.
    ///
    /// ```
    /// use std::time::Duration;
    /// let handle = langfuse_tracing::LangfuseLayer::builder().console(false).build().unwrap().handle();
    /// assert!(handle.flush_media(Duration::from_secs(1)));
    /// assert!(handle.flush_media(Duration::MAX));
    /// ```
    pub fn flush_media(&self, timeout: Duration) -> bool {
        self.media.as_ref().is_none_or(|u| u.flush(timeout))
    }

    /// Media uploads skipped (more than a quarter of `max_queue_bytes` of uploads
    /// waiting: the object storage is slow or unreachable) or failed; their
    /// observations keep the media reference.
    ///
    /// ```
    /// let handle = langfuse_tracing::LangfuseLayer::builder().console(false).build().unwrap().handle();
    /// assert_eq!(handle.dropped_media(), 0);
    /// ```
    pub fn dropped_media(&self) -> u64 {
        self.media.as_ref().map_or(0, |u| u.dropped())
    }

    /// Adds the media uploader (the layer does, when it is built).
    pub(crate) fn with_uploader(mut self, uploader: Option<Arc<Uploader>>) -> Self {
        self.media = uploader;
        self
    }
}

/// Whether an encoded value may hold media: the cheap test that keeps ordinary values
/// from being parsed (a data URI and an Anthropic source say `base64`; Vertex and
/// Gemini parts name a `mime_type`/`mimeType`).
/// The export thread runs it on every value it sends, so the searchers are built once
/// (`BENCHMARKS.md`, "Decisions taken on measurements").
#[inline]
fn may_hold_media(text: &str) -> bool {
    static MARKERS: std::sync::LazyLock<[memchr::memmem::Finder<'static>; 3]> =
        std::sync::LazyLock::new(|| {
            [b"base64".as_slice(), b"ime_type", b"imeType"].map(memchr::memmem::Finder::new)
        });
    MARKERS
        .iter()
        .any(|marker| marker.find(text.as_bytes()).is_some())
}

/// The value of an encoded text (JSON if it parses, else a plain string) with its
/// media replaced by references, re-encoded by `encode`; `None` when it holds none.
fn replace_in_text(
    text: &str,
    encode: fn(&Value) -> String,
    found: &mut Vec<LangfuseMedia>,
) -> Option<String> {
    if !may_hold_media(text) {
        return None;
    }
    let mut value: Value =
        serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()));
    let before = found.len();
    walk(&mut value, 0, found);
    (found.len() > before).then(|| encode(&value))
}

fn io(v: &Value) -> String {
    langfuse_tracing_core::encoding::encode_io(v)
}

fn metadata(v: &Value) -> String {
    langfuse_tracing_core::encoding::encode_metadata(v)
}

/// The automatic media step (reference §8): replaces the media payloads found in the
/// input, output and metadata of a finished observation (and the trace input, output
/// and metadata it carries) by their references, and queues their bytes for upload
/// with the observation's trace id, observation id and field. The layer runs it on
/// every observation before the export thread sends it, when an uploader exists and
/// `LANGFUSE_MEDIA_UPLOAD_ENABLED` is not `false`/`0`; values without a `base64`,
/// `mime_type` or `mimeType` marker are not parsed.
pub(crate) fn replace_in_state(
    uploader: &Uploader,
    state: &mut langfuse_tracing_core::__layer::state::ObservationState,
) {
    let mut jobs: Vec<(LangfuseMedia, &'static str)> = Vec::new();
    let mut found = Vec::new();
    let mut replace = |slot: &mut String, encode: fn(&Value) -> String, field: &'static str| {
        if let Some(new) = replace_in_text(slot, encode, &mut found) {
            *slot = new;
            jobs.extend(found.drain(..).map(|m| (m, field)));
        }
    };
    if let Some(text) = &mut state.input {
        replace(text, io, "input");
    }
    if let Some(text) = &mut state.output {
        replace(text, io, "output");
    }
    for (_, text) in &mut state.metadata {
        replace(text, metadata, "metadata");
    }
    if let Some(text) = &mut state.metadata_value {
        replace(text, metadata, "metadata");
    }
    if let Some(trace) = state.trace.as_deref_mut() {
        if let Some(text) = &mut trace.input {
            replace(text, io, "input");
        }
        if let Some(text) = &mut trace.output {
            replace(text, io, "output");
        }
        for (_, text) in &mut trace.metadata {
            replace(text, metadata, "metadata");
        }
    }
    if jobs.is_empty() {
        return;
    }
    let trace_id = format!("{:032x}", state.trace_id);
    let observation_id = format!("{:016x}", state.span_id);
    for (media, field) in jobs {
        uploader.queue(Job {
            media,
            trace_id: trace_id.clone(),
            observation_id: Some(observation_id.clone()),
            field,
        });
    }
}

/// The number of uploads queued and not done, and its condition variable.
type Pending = (Mutex<usize>, Condvar);

/// Waits (up to `timeout`) until no upload of `pending` is left.
fn wait_for_uploads(pending: &Pending, timeout: Duration) -> bool {
    // A timeout too long for the clock (`Duration::MAX`) waits without a deadline.
    let deadline = Instant::now().checked_add(timeout);
    let (lock, cond) = pending;
    let Ok(mut n) = lock.lock() else {
        return false;
    };
    while *n > 0 {
        let now = Instant::now();
        let left = match deadline {
            Some(deadline) if now >= deadline => return false,
            Some(deadline) => deadline - now,
            None => Duration::from_secs(3600),
        };
        n = match cond.wait_timeout(n, left) {
            Ok((g, _)) => g,
            Err(_) => return false,
        };
    }
    true
}

/// Every uploader of the process that sends over the network, with how long the
/// global `flush()`/`shutdown()` wait for it: they have no handle to reach it through.
static UPLOADERS: Mutex<Vec<(Weak<Pending>, Duration)>> = Mutex::new(Vec::new());

fn register(pending: &Arc<Pending>, timeout: Duration) {
    let mut all = UPLOADERS.lock().unwrap_or_else(PoisonError::into_inner);
    all.retain(|(p, _)| p.strong_count() > 0);
    all.push((Arc::downgrade(pending), timeout));
}

/// Waits for the uploads of every uploader of the process (the global `flush()` and
/// `shutdown()`); `Err(Timeout)` when one is not done in time.
pub(crate) fn flush_all() -> Result<(), crate::export::ExportError> {
    let all: Vec<(Arc<Pending>, Duration)> = UPLOADERS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .filter_map(|(p, timeout)| Some((p.upgrade()?, *timeout)))
        .collect();
    let mut result = Ok(());
    for (pending, timeout) in all {
        if !wait_for_uploads(&pending, timeout) {
            result = Err(crate::export::ExportError::Timeout);
        }
    }
    result
}

/// A media id as Langfuse makes them (22 URL-safe base64 characters; up to 64 and
/// `[A-Za-z0-9_-]` accepted): safe as one path segment.
fn is_media_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The bytes go to the upload URL Langfuse returns (its object storage, often another
/// host; no Langfuse credentials are sent there), but never in clear text when the
/// base URL is https, and only over http(s).
fn upload_url_allowed(base_url: &str, upload_url: &str) -> bool {
    let base_https = base_url.to_ascii_lowercase().starts_with("https://");
    match url::Url::parse(upload_url).as_ref().map(url::Url::scheme) {
        Ok("https") => true,
        Ok("http") => !base_https,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::{is_media_id, may_hold_media, upload_url_allowed};

    #[test]
    fn a_media_id_is_one_safe_path_segment() {
        assert!(is_media_id("aB3_-xYz0123456789abcd"));
        assert!(!is_media_id("../../scores/../prompts/x?label=y#"));
        assert!(!is_media_id(""));
        assert!(!is_media_id(&"a".repeat(65)));
        assert!(!is_media_id("a/b"));
    }

    #[test]
    fn uploads_go_over_https_when_the_base_url_is_https() {
        let https = "https://cloud.langfuse.com/api/public/media";
        let http = "http://localhost:3000/api/public/media";
        assert!(upload_url_allowed(
            https,
            "https://bucket.s3.amazonaws.com/x?sig=1"
        ));
        assert!(!upload_url_allowed(
            https,
            "http://bucket.s3.amazonaws.com/x"
        ));
        assert!(upload_url_allowed(http, "http://localhost:9000/bucket/x"));
        assert!(upload_url_allowed(
            http,
            "https://bucket.s3.amazonaws.com/x"
        ));
        assert!(!upload_url_allowed(http, "ftp://localhost/x"));
        assert!(!upload_url_allowed(http, "not a url"));
    }

    /// The definition: one of the three markers occurs.
    fn reference(text: &str) -> bool {
        text.contains("base64") || text.contains("ime_type") || text.contains("imeType")
    }

    #[test]
    fn the_fast_marker_check_agrees_with_the_definition() {
        let pieces = [
            "",
            "e",
            "base64",
            "bas",
            "e64",
            "base6",
            "ase64",
            "mime_type",
            "mimeType",
            "ime_typ",
            "imetype",
            "mime-type",
            "imeTyp",
            "im",
            "eType",
            "_type",
            "\"data\": \"",
            "é",
            "{",
            "data:image/png;base64,iVBOR",
            "x",
        ];
        let mut checked = 0;
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    let short = format!("{a}{b}{c}");
                    // The same text in a long value, the pieces at its end.
                    let long = format!("{}{short}", "y".repeat(300));
                    for text in [short.as_str(), long.as_str()] {
                        assert_eq!(may_hold_media(text), reference(text), "{text:?}");
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 10_000);
    }
}
