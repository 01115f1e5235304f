//! Prompt management: fetch prompts kept in Langfuse (`GET /api/public/v2/prompts/{name}`),
//! fill their `{{variables}}`, link the generation that used them, create new versions
//! and move labels between versions, as the reference SDKs do.
//!
//! * [`PromptClient::get_prompt`] selects a version or a label (not both; neither means
//!   the `production` label) and ends with [`text`](GetPrompt::text),
//!   [`chat`](GetPrompt::chat) or [`any`](GetPrompt::any) (and their `_async` forms).
//! * The cache, per name and version/label: an entry is fresh for the TTL (60 s, or
//!   `LANGFUSE_PROMPT_CACHE_DEFAULT_TTL_SECONDS`, or [`GetPrompt::cache_ttl`]; zero
//!   disables the cache). A fresh entry is served without a request. An expired entry is
//!   served at once, while one background refresh per key fetches the new one. With
//!   nothing cached, the prompt is fetched (429, 5xx and network errors retried, at most
//!   [`GetPrompt::max_retries`] times, all within [`GetPrompt::fetch_timeout`]); if that
//!   fails, the caller's fallback is returned, marked [`is_fallback`](TextPrompt::is_fallback),
//!   or the error.
//! * Without credentials no request is made: the fallback is used (with a warning), or
//!   [`PromptError::NoCredentials`] is returned.
//! * The sync forms need no async runtime (the client is blocking); the async forms run
//!   a fetch on a thread of their own and need no particular runtime either.
//! * A prompt converts into a [`PromptLink`], which the generation setters
//!   (`link_prompt`) and `PropagateAttributes::link_prompt` take; a fallback prompt is
//!   never linked (reference §2.2).
//!
//! ```
//! use langfuse_tracing::prompts::PromptClient;
//! // No credentials here: the fallback is returned, marked as such.
//! let config = langfuse_tracing::LangfuseConfig::builder().build().unwrap();
//! let prompts = PromptClient::new(&config).unwrap();
//! let prompt = prompts
//!     .get_prompt("movie-critic")
//!     .fallback_text("Do you like {{movie}}?")
//!     .text()
//!     .unwrap();
//! assert!(prompt.is_fallback());
//! assert_eq!(prompt.compile([("movie", "Dune")]), "Do you like Dune?");
//! ```

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use http::Method;
use langfuse_tracing_core::prompt::PromptLink;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::{json, Value};

use crate::config::{ConfigError, LangfuseConfig};
use crate::rest::{Answer, RestClient};

/// The cache TTL when neither the variable nor the call sets one.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(60);
/// The variable that sets the default cache TTL, in seconds (0 disables the cache).
pub const CACHE_TTL_VARIABLE: &str = "LANGFUSE_PROMPT_CACHE_DEFAULT_TTL_SECONDS";
/// Retries of a fetch with nothing cached, by default.
pub const DEFAULT_MAX_RETRIES: u32 = 2;
/// The most retries a call may ask for (as the reference SDK).
pub const MAX_RETRIES_LIMIT: u32 = 4;
const PROMPTS_PATH: &str = "api/public/v2/prompts";
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(200);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

/// Why a prompt could not be fetched, created or updated. Messages never hold the
/// secret key.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PromptError {
    /// The call itself is wrong (an empty name, both a version and a label).
    InvalidRequest(String),
    /// No Langfuse keys are configured: no request was made.
    NoCredentials,
    /// The server answered with an error status (404: no such prompt or label).
    Server {
        /// The HTTP status.
        status: u16,
        /// What was asked and what the server said.
        message: String,
    },
    /// No answer (connection, timeout).
    Network(String),
    /// The answer is not a prompt.
    InvalidAnswer(String),
    /// The prompt exists but is of the other kind (a chat prompt asked for as text).
    WrongType {
        /// The prompt's name.
        name: String,
        /// What the call asked for.
        expected: PromptType,
        /// What the server has.
        found: PromptType,
    },
    /// The client could not be built from the configuration.
    Config(String),
}

impl fmt::Display for PromptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PromptError::InvalidRequest(m) => write!(f, "invalid prompt request: {m}"),
            PromptError::NoCredentials => f.write_str(
                "no Langfuse credentials (LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY): prompts cannot be fetched",
            ),
            PromptError::Server { message, .. } => f.write_str(message),
            PromptError::Network(m) => f.write_str(m),
            PromptError::InvalidAnswer(m) => write!(f, "not a prompt: {m}"),
            PromptError::WrongType {
                name,
                expected,
                found,
            } => write!(f, "prompt {name:?} is a {found} prompt, not a {expected} prompt"),
            PromptError::Config(m) => write!(f, "prompt client configuration: {m}"),
        }
    }
}

impl std::error::Error for PromptError {}

impl From<ConfigError> for PromptError {
    fn from(e: ConfigError) -> Self {
        PromptError::Config(e.to_string())
    }
}

// ---------------------------------------------------------------------------------------
// Prompt types
// ---------------------------------------------------------------------------------------

/// Text or chat.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PromptType {
    /// One template string.
    Text,
    /// A list of messages (and placeholders).
    Chat,
}

impl fmt::Display for PromptType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PromptType::Text => "text",
            PromptType::Chat => "chat",
        })
    }
}

/// What every prompt has besides its template.
#[derive(Clone, Debug, PartialEq)]
struct Meta {
    name: String,
    version: i64,
    labels: Vec<String>,
    tags: Vec<String>,
    config: Value,
    commit_message: Option<String>,
    is_fallback: bool,
}

impl Meta {
    fn fallback(name: &str) -> Meta {
        Meta {
            name: name.to_owned(),
            version: 0,
            labels: Vec::new(),
            tags: Vec::new(),
            config: Value::Object(Default::default()),
            commit_message: None,
            is_fallback: true,
        }
    }

    fn link(&self) -> PromptLink {
        if self.is_fallback {
            PromptLink::fallback()
        } else {
            PromptLink::new(self.name.clone(), self.version)
        }
    }
}

macro_rules! meta_accessors {
    () => {
        /// The prompt's name.
        pub fn name(&self) -> &str {
            &self.meta.name
        }
        /// Its version (0 for a fallback).
        pub fn version(&self) -> i64 {
            self.meta.version
        }
        /// The labels of this version (`production`, `latest`, ...).
        pub fn labels(&self) -> &[String] {
            &self.meta.labels
        }
        /// The prompt's tags.
        pub fn tags(&self) -> &[String] {
            &self.meta.tags
        }
        /// The version's config (model parameters and the like), as JSON.
        pub fn config(&self) -> &Value {
            &self.meta.config
        }
        /// The version's commit message.
        pub fn commit_message(&self) -> Option<&str> {
            self.meta.commit_message.as_deref()
        }
        /// True for the caller's fallback (the server's prompt could not be had): it is
        /// never linked to a generation.
        pub fn is_fallback(&self) -> bool {
            self.meta.is_fallback
        }
        /// The link a generation takes (empty for a fallback).
        pub fn link(&self) -> PromptLink {
            self.meta.link()
        }
    };
}

/// A text prompt: one template with `{{variables}}`.
///
/// ```
/// # let prompt = langfuse_tracing::prompts::TextPrompt::fallback("p", "Hi {{ name }}, {{x}}");
/// assert_eq!(prompt.compile([("name", "Ada")]), "Hi Ada, {{x}}");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct TextPrompt {
    meta: Meta,
    prompt: String,
}

impl TextPrompt {
    meta_accessors!();

    /// A fallback prompt (what `get_prompt(..).fallback_text(..)` returns when the
    /// server's cannot be had): version 0, no labels, never linked.
    ///
    /// ```
    /// let p = langfuse_tracing::prompts::TextPrompt::fallback("qa", "Answer: {{q}}");
    /// assert!(p.is_fallback() && p.link().is_empty());
    /// ```
    pub fn fallback(name: impl AsRef<str>, template: impl Into<String>) -> TextPrompt {
        TextPrompt {
            meta: Meta::fallback(name.as_ref()),
            prompt: template.into(),
        }
    }

    /// The template, variables unfilled.
    pub fn prompt(&self) -> &str {
        &self.prompt
    }

    /// The template with each `{{name}}` given in `variables` replaced by its value
    /// (spaces inside the braces are ignored); unknown variables stay as they are.
    ///
    /// ```
    /// let p = langfuse_tracing::prompts::TextPrompt::fallback("qa", "{{a}} and {{ b }}");
    /// assert_eq!(p.compile([("a", 1), ("b", 2)]), "1 and 2");
    /// ```
    pub fn compile<K, V>(&self, variables: impl IntoIterator<Item = (K, V)>) -> String
    where
        K: AsRef<str>,
        V: fmt::Display,
    {
        compile_template(&self.prompt, &collect_vars(variables))
    }
}

/// One message of a chat prompt, or a placeholder for messages given when compiling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChatItem {
    /// A message with a role and a template as content.
    Message(ChatMessage),
    /// A named slot for a list of messages (a conversation history).
    Placeholder {
        /// The placeholder's name.
        name: String,
    },
}

impl ChatItem {
    /// A message.
    ///
    /// ```
    /// let m = langfuse_tracing::prompts::ChatItem::message("system", "Be brief.");
    /// assert_eq!(m.as_message().unwrap().role, "system");
    /// ```
    pub fn message(role: impl Into<String>, content: impl Into<String>) -> ChatItem {
        ChatItem::Message(ChatMessage::new(role, content))
    }

    /// A placeholder.
    ///
    /// ```
    /// let p = langfuse_tracing::prompts::ChatItem::placeholder("history");
    /// assert!(p.as_message().is_none());
    /// ```
    pub fn placeholder(name: impl Into<String>) -> ChatItem {
        ChatItem::Placeholder { name: name.into() }
    }

    /// The message, if this is one.
    pub fn as_message(&self) -> Option<&ChatMessage> {
        match self {
            ChatItem::Message(m) => Some(m),
            ChatItem::Placeholder { .. } => None,
        }
    }

    /// The OpenAPI shape (`ChatMessageWithPlaceholders`), as sent to create a prompt.
    fn to_api(&self) -> Value {
        match self {
            ChatItem::Message(m) => {
                json!({"type": "chatmessage", "role": m.role, "content": m.content})
            }
            ChatItem::Placeholder { name } => json!({"type": "placeholder", "name": name}),
        }
    }
}

/// Serialized as an LLM API takes it: `{"role", "content"}`, and an unfilled
/// placeholder as `{"type": "placeholder", "name"}`.
impl Serialize for ChatItem {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ChatItem::Message(m) => m.serialize(s),
            ChatItem::Placeholder { name } => {
                let mut map = s.serialize_map(Some(2))?;
                map.serialize_entry("type", "placeholder")?;
                map.serialize_entry("name", name)?;
                map.end()
            }
        }
    }
}

/// A chat message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChatMessage {
    /// `system`, `user`, `assistant`, ...
    pub role: String,
    /// The text (a template in a prompt).
    pub content: String,
}

impl ChatMessage {
    /// A message.
    ///
    /// ```
    /// let m = langfuse_tracing::prompts::ChatMessage::new("user", "Hi");
    /// assert_eq!(m.content, "Hi");
    /// ```
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> ChatMessage {
        ChatMessage {
            role: role.into(),
            content: content.into(),
        }
    }
}

impl From<ChatMessage> for ChatItem {
    fn from(m: ChatMessage) -> Self {
        ChatItem::Message(m)
    }
}

/// A chat prompt: messages with `{{variables}}`, and placeholders.
///
/// ```
/// use langfuse_tracing::prompts::{ChatItem, ChatMessage, ChatPrompt};
/// let p = ChatPrompt::fallback("c", [
///     ChatItem::message("system", "You review {{kind}}."),
///     ChatItem::placeholder("history"),
/// ]);
/// let messages = p.compile_with(
///     [("kind", "films")],
///     [("history", vec![ChatMessage::new("user", "Dune?")])],
/// );
/// assert_eq!(messages[0].as_message().unwrap().content, "You review films.");
/// assert_eq!(messages[1].as_message().unwrap().content, "Dune?");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ChatPrompt {
    meta: Meta,
    prompt: Vec<ChatItem>,
}

impl ChatPrompt {
    meta_accessors!();

    /// A fallback prompt: version 0, no labels, never linked.
    pub fn fallback(
        name: impl AsRef<str>,
        messages: impl IntoIterator<Item = ChatItem>,
    ) -> ChatPrompt {
        ChatPrompt {
            meta: Meta::fallback(name.as_ref()),
            prompt: messages.into_iter().collect(),
        }
    }

    /// The messages, variables unfilled.
    pub fn prompt(&self) -> &[ChatItem] {
        &self.prompt
    }

    /// Each message with its variables filled; placeholders stay (with a warning).
    pub fn compile<K, V>(&self, variables: impl IntoIterator<Item = (K, V)>) -> Vec<ChatItem>
    where
        K: AsRef<str>,
        V: fmt::Display,
    {
        self.compile_with(variables, std::iter::empty::<(&str, Vec<ChatMessage>)>())
    }

    /// Each message with its variables filled, and each placeholder given in
    /// `placeholders` replaced by its messages (their variables filled too). A
    /// placeholder not given stays in the list, with a warning.
    pub fn compile_with<K, V, P, M>(
        &self,
        variables: impl IntoIterator<Item = (K, V)>,
        placeholders: impl IntoIterator<Item = (P, M)>,
    ) -> Vec<ChatItem>
    where
        K: AsRef<str>,
        V: fmt::Display,
        P: AsRef<str>,
        M: IntoIterator<Item = ChatMessage>,
    {
        let vars = collect_vars(variables);
        let given: HashMap<String, Vec<ChatMessage>> = placeholders
            .into_iter()
            .map(|(k, m)| (k.as_ref().to_owned(), m.into_iter().collect()))
            .collect();
        let fill = |m: &ChatMessage| ChatMessage {
            role: m.role.clone(),
            content: compile_template(&m.content, &vars),
        };
        let mut out = Vec::with_capacity(self.prompt.len());
        let mut unresolved = Vec::new();
        for item in &self.prompt {
            match item {
                ChatItem::Message(m) => out.push(ChatItem::Message(fill(m))),
                ChatItem::Placeholder { name } => match given.get(name) {
                    Some(messages) => {
                        out.extend(messages.iter().map(|m| ChatItem::Message(fill(m))))
                    }
                    None => {
                        unresolved.push(name.clone());
                        out.push(item.clone());
                    }
                },
            }
        }
        if !unresolved.is_empty() {
            langfuse_tracing_core::__layer::warn::emit(&format!(
                "prompt {:?}: placeholders not filled by compile: {}",
                self.meta.name,
                unresolved.join(", ")
            ));
        }
        out
    }
}

/// A prompt of either kind.
#[derive(Clone, Debug, PartialEq)]
pub enum Prompt {
    /// A text prompt.
    Text(TextPrompt),
    /// A chat prompt.
    Chat(ChatPrompt),
}

impl Prompt {
    fn meta(&self) -> &Meta {
        match self {
            Prompt::Text(p) => &p.meta,
            Prompt::Chat(p) => &p.meta,
        }
    }

    /// Text or chat.
    pub fn prompt_type(&self) -> PromptType {
        match self {
            Prompt::Text(_) => PromptType::Text,
            Prompt::Chat(_) => PromptType::Chat,
        }
    }

    /// The prompt's name.
    pub fn name(&self) -> &str {
        &self.meta().name
    }

    /// Its version.
    pub fn version(&self) -> i64 {
        self.meta().version
    }

    /// The labels of this version.
    pub fn labels(&self) -> &[String] {
        &self.meta().labels
    }

    /// The version's config, as JSON.
    pub fn config(&self) -> &Value {
        &self.meta().config
    }

    /// True for a fallback.
    pub fn is_fallback(&self) -> bool {
        self.meta().is_fallback
    }

    /// The text prompt, if it is one.
    pub fn into_text(self) -> Result<TextPrompt, PromptError> {
        match self {
            Prompt::Text(p) => Ok(p),
            Prompt::Chat(p) => Err(PromptError::WrongType {
                name: p.meta.name,
                expected: PromptType::Text,
                found: PromptType::Chat,
            }),
        }
    }

    /// The chat prompt, if it is one.
    pub fn into_chat(self) -> Result<ChatPrompt, PromptError> {
        match self {
            Prompt::Chat(p) => Ok(p),
            Prompt::Text(p) => Err(PromptError::WrongType {
                name: p.meta.name,
                expected: PromptType::Chat,
                found: PromptType::Text,
            }),
        }
    }
}

impl From<&TextPrompt> for PromptLink {
    fn from(p: &TextPrompt) -> Self {
        p.meta.link()
    }
}

impl From<&ChatPrompt> for PromptLink {
    fn from(p: &ChatPrompt) -> Self {
        p.meta.link()
    }
}

impl From<&Prompt> for PromptLink {
    fn from(p: &Prompt) -> Self {
        p.meta().link()
    }
}

fn collect_vars<K: AsRef<str>, V: fmt::Display>(
    variables: impl IntoIterator<Item = (K, V)>,
) -> HashMap<String, String> {
    variables
        .into_iter()
        .map(|(k, v)| (k.as_ref().to_owned(), v.to_string()))
        .collect()
}

/// The reference's template rule: `{{ name }}` (trimmed) is replaced when `name` is
/// given, left as written otherwise; an unclosed `{{` ends the scan.
fn compile_template(template: &str, vars: &HashMap<String, String>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    loop {
        let Some(start) = rest.find("{{") else {
            out.push_str(rest);
            break;
        };
        let Some(len) = rest[start..].find("}}") else {
            out.push_str(rest);
            break;
        };
        let end = start + len;
        out.push_str(&rest[..start]);
        let name = rest[start + 2..end].trim();
        match vars.get(name) {
            Some(v) => out.push_str(v),
            None => out.push_str(&rest[start..end + 2]),
        }
        rest = &rest[end + 2..];
    }
    out
}

// ---------------------------------------------------------------------------------------
// Parsing the server's answers
// ---------------------------------------------------------------------------------------

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn parse_chat_item(v: &Value) -> Result<ChatItem, String> {
    let kind = v.get("type").and_then(Value::as_str);
    let role = v.get("role").and_then(Value::as_str);
    if kind == Some("placeholder") || (role.is_none() && v.get("name").is_some()) {
        let name = v
            .get("name")
            .and_then(Value::as_str)
            .ok_or("a placeholder without a name")?;
        return Ok(ChatItem::placeholder(name));
    }
    let content = match v.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    Ok(ChatItem::message(
        role.ok_or("a chat message without a role")?,
        content,
    ))
}

/// A `Prompt` of the OpenAPI file.
fn parse_prompt(v: &Value) -> Result<Prompt, String> {
    let name = v
        .get("name")
        .and_then(Value::as_str)
        .ok_or("no name")?
        .to_owned();
    let version = v
        .get("version")
        .and_then(Value::as_i64)
        .ok_or("no version")?;
    let meta = Meta {
        name,
        version,
        labels: strings(&v["labels"]),
        tags: strings(&v["tags"]),
        config: v.get("config").cloned().unwrap_or(Value::Null),
        commit_message: v
            .get("commitMessage")
            .and_then(Value::as_str)
            .map(str::to_owned),
        is_fallback: false,
    };
    match (v.get("type").and_then(Value::as_str), v.get("prompt")) {
        (Some("text") | None, Some(Value::String(s))) => Ok(Prompt::Text(TextPrompt {
            meta,
            prompt: s.clone(),
        })),
        (Some("chat") | None, Some(Value::Array(items))) => Ok(Prompt::Chat(ChatPrompt {
            meta,
            prompt: items
                .iter()
                .map(parse_chat_item)
                .collect::<Result<_, _>>()?,
        })),
        (Some(t), _) if t != "text" && t != "chat" => Err(format!("unknown type {t:?}")),
        _ => Err("the prompt does not match its type".to_owned()),
    }
}

/// Percent-encodes everything but the unreserved characters (a name in a folder,
/// `a/b`, is one path segment: `a%2Fb`).
fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// The client and its cache
// ---------------------------------------------------------------------------------------

/// Which version of a prompt.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Selector {
    Label(String),
    Version(i64),
}

type Key = (String, Selector);

struct Entry {
    prompt: Prompt,
    /// `None`: never (a time-to-live too long for the clock).
    expires: Option<Instant>,
}

#[derive(Default)]
struct Cache {
    entries: HashMap<Key, Entry>,
    /// Keys with a background refresh running.
    refreshing: HashSet<Key>,
}

/// Prompts cached at most: prompt names made per tenant or per user must not grow the
/// cache without bound. Beyond, the entry closest to expiry makes room.
const MAX_CACHED_PROMPTS: usize = 1000;

impl Cache {
    fn insert(&mut self, key: Key, entry: Entry) {
        if self.entries.len() >= MAX_CACHED_PROMPTS && !self.entries.contains_key(&key) {
            // Entries that never expire (`None`) go last.
            let first_to_go = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.expires.map_or((1, None), |at| (0, Some(at))))
                .map(|(k, _)| k.clone());
            if let Some(k) = first_to_go {
                self.entries.remove(&k);
            }
        }
        self.entries.insert(key, entry);
    }
}

struct Inner {
    /// `None` without credentials.
    rest: Option<RestClient>,
    timeout: Duration,
    cache: Mutex<Cache>,
}

/// Fetches, caches, creates and relabels prompts. Cheap to clone (clones share the
/// cache); build one per process.
///
/// ```
/// let config = langfuse_tracing::LangfuseConfig::builder().build().unwrap();
/// let prompts = langfuse_tracing::prompts::PromptClient::new(&config).unwrap();
/// # let _ = prompts;
/// ```
#[derive(Clone)]
pub struct PromptClient {
    inner: Arc<Inner>,
    default_ttl: Duration,
}

impl fmt::Debug for PromptClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PromptClient")
            .field("rest", &self.inner.rest)
            .field("default_ttl", &self.default_ttl)
            .finish_non_exhaustive()
    }
}

impl PromptClient {
    /// A client with the configuration's base URL, keys, headers and timeout; the
    /// default cache TTL from `LANGFUSE_PROMPT_CACHE_DEFAULT_TTL_SECONDS` (an invalid
    /// value is reported and 60 s used).
    pub fn new(config: &LangfuseConfig) -> Result<PromptClient, ConfigError> {
        let rest = if config.has_credentials() {
            Some(RestClient::new(config)?)
        } else {
            None
        };
        let default_ttl = match std::env::var(CACHE_TTL_VARIABLE) {
            Ok(v) => parse_ttl(&v).unwrap_or_else(|| {
                langfuse_tracing_core::__layer::warn::emit(&format!(
                    "{CACHE_TTL_VARIABLE}: expected a number of seconds (0 or more); using 60"
                ));
                DEFAULT_CACHE_TTL
            }),
            Err(_) => DEFAULT_CACHE_TTL,
        };
        Ok(PromptClient {
            inner: Arc::new(Inner {
                rest,
                timeout: config.timeout,
                cache: Mutex::new(Cache::default()),
            }),
            default_ttl,
        })
    }

    /// [`PromptClient::new`] with the configuration read from the `LANGFUSE_*` variables.
    ///
    /// ```
    /// let prompts = langfuse_tracing::prompts::PromptClient::from_env().unwrap();
    /// # let _ = prompts;
    /// ```
    pub fn from_env() -> Result<PromptClient, ConfigError> {
        PromptClient::new(&LangfuseConfig::from_env()?)
    }

    /// The cache TTL of calls that set none (zero disables the cache).
    ///
    /// ```
    /// # let config = langfuse_tracing::LangfuseConfig::builder().build().unwrap();
    /// let prompts = langfuse_tracing::prompts::PromptClient::new(&config)
    ///     .unwrap()
    ///     .with_default_cache_ttl(std::time::Duration::from_secs(300));
    /// # let _ = prompts;
    /// ```
    pub fn with_default_cache_ttl(mut self, ttl: Duration) -> Self {
        self.default_ttl = ttl;
        self
    }

    /// Starts a request for prompt `name`: choose a version or a label, the cache TTL,
    /// a fallback, then [`text`](GetPrompt::text), [`chat`](GetPrompt::chat) or
    /// [`any`](GetPrompt::any).
    pub fn get_prompt(&self, name: impl Into<String>) -> GetPrompt {
        GetPrompt {
            client: self.clone(),
            name: name.into(),
            version: None,
            label: None,
            cache_ttl: None,
            fallback: None,
            max_retries: DEFAULT_MAX_RETRIES,
            fetch_timeout: None,
        }
    }

    /// Creates a new version of a prompt (a new prompt if the name is new). The cache
    /// of that name is cleared.
    pub fn create_prompt(&self, prompt: NewPrompt) -> Result<Prompt, PromptError> {
        let rest = self.rest()?;
        let body = serde_json::to_vec(&prompt.body)
            .map_err(|e| PromptError::InvalidRequest(e.to_string()))?;
        let answer = rest
            .api(Method::POST, PROMPTS_PATH, Some(body))
            .map_err(PromptError::Network)?;
        let created = self.prompt_answer(rest, PROMPTS_PATH, &answer)?;
        self.invalidate(created.name());
        Ok(created)
    }

    /// Sets the labels of version `version` of prompt `name` (labels are unique across
    /// versions: the server moves them; `latest` is the server's own). The cache of that
    /// name is cleared.
    pub fn update_prompt_labels<L: Into<String>>(
        &self,
        name: &str,
        version: i64,
        new_labels: impl IntoIterator<Item = L>,
    ) -> Result<Prompt, PromptError> {
        if name.is_empty() {
            return Err(PromptError::InvalidRequest(
                "the prompt name is empty".into(),
            ));
        }
        let rest = self.rest()?;
        let labels: Vec<String> = new_labels.into_iter().map(Into::into).collect();
        let body = serde_json::to_vec(&json!({ "newLabels": labels }))
            .map_err(|e| PromptError::InvalidRequest(e.to_string()))?;
        let path = format!(
            "{PROMPTS_PATH}/{}/versions/{version}",
            encode_component(name)
        );
        let answer = rest
            .api(Method::PATCH, &path, Some(body))
            .map_err(PromptError::Network)?;
        let updated = self.prompt_answer(rest, &path, &answer)?;
        self.invalidate(name);
        Ok(updated)
    }

    /// Drops every cached version of `name`.
    pub fn invalidate(&self, name: &str) {
        lock(&self.inner.cache).entries.retain(|k, _| k.0 != name);
    }

    fn rest(&self) -> Result<&RestClient, PromptError> {
        self.inner.rest.as_ref().ok_or(PromptError::NoCredentials)
    }

    fn prompt_answer(
        &self,
        rest: &RestClient,
        path: &str,
        answer: &Answer,
    ) -> Result<Prompt, PromptError> {
        if !answer.is_success() {
            return Err(refused(rest, path, answer));
        }
        let value: Value = serde_json::from_slice(&answer.body)
            .map_err(|e| PromptError::InvalidAnswer(e.to_string()))?;
        parse_prompt(&value).map_err(PromptError::InvalidAnswer)
    }
}

/// The error for an answer with an error status.
fn refused(rest: &RestClient, path: &str, answer: &Answer) -> PromptError {
    PromptError::Server {
        status: answer.status,
        message: rest.refusal(&rest.api_url(path), answer),
    }
}

fn parse_ttl(v: &str) -> Option<Duration> {
    let secs: f64 = v.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(1e9)))
}

/// The fallback of a request.
#[derive(Clone, Debug)]
enum Fallback {
    Text(String),
    Chat(Vec<ChatItem>),
}

/// One `get_prompt` call being set up (see [`PromptClient::get_prompt`]).
#[derive(Clone, Debug)]
#[must_use = "finish with .text(), .chat() or .any()"]
pub struct GetPrompt {
    client: PromptClient,
    name: String,
    version: Option<i64>,
    label: Option<String>,
    cache_ttl: Option<Duration>,
    fallback: Option<Fallback>,
    max_retries: u32,
    fetch_timeout: Option<Duration>,
}

impl GetPrompt {
    /// This version (not together with a label).
    pub fn version(mut self, version: i64) -> Self {
        self.version = Some(version);
        self
    }

    /// The version with this label (not together with a version); `production` when
    /// neither is given.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// The cache TTL of this call (zero: no cache, always fetched).
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = Some(ttl);
        self
    }

    /// Retries of a fetch with nothing cached (2; at most 4).
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries.min(MAX_RETRIES_LIMIT);
        self
    }

    /// The time all tries of a fetch may take (the configured timeout by default).
    pub fn fetch_timeout(mut self, timeout: Duration) -> Self {
        self.fetch_timeout = Some(timeout);
        self
    }

    /// The template returned (marked `is_fallback`) if the prompt cannot be fetched.
    pub fn fallback_text(mut self, template: impl Into<String>) -> Self {
        self.fallback = Some(Fallback::Text(template.into()));
        self
    }

    /// The messages returned (marked `is_fallback`) if the prompt cannot be fetched.
    pub fn fallback_chat(mut self, messages: impl IntoIterator<Item = ChatItem>) -> Self {
        self.fallback = Some(Fallback::Chat(messages.into_iter().collect()));
        self
    }

    /// The text prompt (blocking; no async runtime needed).
    pub fn text(self) -> Result<TextPrompt, PromptError> {
        self.any()?.into_text()
    }

    /// The chat prompt (blocking; no async runtime needed).
    pub fn chat(self) -> Result<ChatPrompt, PromptError> {
        self.any()?.into_chat()
    }

    /// The prompt, of whichever kind it is (blocking; no async runtime needed).
    pub fn any(self) -> Result<Prompt, PromptError> {
        match self.lookup()? {
            Lookup::Hit(p) => Ok(p),
            Lookup::Miss(key, ttl) => self.fetch_or_fallback(key, ttl),
        }
    }

    /// [`text`](Self::text) as a future: a fetch runs on a thread of its own, so any
    /// executor (or none in particular) drives it.
    pub async fn text_async(self) -> Result<TextPrompt, PromptError> {
        self.any_async().await?.into_text()
    }

    /// [`chat`](Self::chat) as a future.
    pub async fn chat_async(self) -> Result<ChatPrompt, PromptError> {
        self.any_async().await?.into_chat()
    }

    /// [`any`](Self::any) as a future.
    pub async fn any_async(self) -> Result<Prompt, PromptError> {
        match self.lookup()? {
            Lookup::Hit(p) => Ok(p),
            Lookup::Miss(key, ttl) => {
                on_thread("langfuse-prompt-fetch", move || {
                    self.fetch_or_fallback(key, ttl)
                })
                .await
            }
        }
    }

    fn key(&self) -> Result<Key, PromptError> {
        if self.name.is_empty() {
            return Err(PromptError::InvalidRequest(
                "the prompt name is empty".into(),
            ));
        }
        let selector = match (self.version, &self.label) {
            (Some(_), Some(_)) => {
                return Err(PromptError::InvalidRequest(format!(
                    "prompt {:?}: give a version or a label, not both",
                    self.name
                )))
            }
            (Some(v), None) => Selector::Version(v),
            (None, Some(l)) => Selector::Label(l.clone()),
            (None, None) => Selector::Label("production".to_owned()),
        };
        Ok((self.name.clone(), selector))
    }

    /// A fresh entry, or an expired one (a refresh started), or nothing.
    fn lookup(&self) -> Result<Lookup, PromptError> {
        let key = self.key()?;
        let ttl = self.cache_ttl.unwrap_or(self.client.default_ttl);
        if ttl.is_zero() {
            return Ok(Lookup::Miss(key, ttl));
        }
        let inner = &self.client.inner;
        let mut cache = lock(&inner.cache);
        let Some(entry) = cache.entries.get(&key) else {
            return Ok(Lookup::Miss(key, ttl));
        };
        let prompt = entry.prompt.clone();
        if entry.expires.is_none_or(|at| at > Instant::now()) {
            return Ok(Lookup::Hit(prompt));
        }
        if cache.refreshing.insert(key.clone()) {
            drop(cache);
            self.start_refresh(key, ttl);
        }
        Ok(Lookup::Hit(prompt))
    }

    fn start_refresh(&self, key: Key, ttl: Duration) {
        let request = self.clone();
        let inner = self.client.inner.clone();
        let thread_key = key.clone();
        let started = std::thread::Builder::new()
            .name("langfuse-prompt-refresh".to_owned())
            .spawn(move || {
                let result = request.fetch(&thread_key);
                let mut cache = lock(&inner.cache);
                cache.refreshing.remove(&thread_key);
                match result {
                    Ok(prompt) => {
                        cache.insert(
                            thread_key,
                            Entry {
                                prompt,
                                expires: Instant::now().checked_add(ttl),
                            },
                        );
                    }
                    Err(e) => {
                        drop(cache);
                        langfuse_tracing_core::__layer::warn::emit(&format!(
                            "prompt {:?}: refresh failed, the cached version stays: {e}",
                            request.name
                        ));
                    }
                }
            });
        if started.is_err() {
            lock(&self.client.inner.cache).refreshing.remove(&key);
        }
    }

    /// Nothing cached: fetch (and cache), else the fallback, else the error.
    fn fetch_or_fallback(&self, key: Key, ttl: Duration) -> Result<Prompt, PromptError> {
        match self.fetch(&key) {
            Ok(prompt) => {
                if !ttl.is_zero() {
                    lock(&self.client.inner.cache).insert(
                        key,
                        Entry {
                            prompt: prompt.clone(),
                            expires: Instant::now().checked_add(ttl),
                        },
                    );
                }
                Ok(prompt)
            }
            Err(e) => {
                let Some(fallback) = &self.fallback else {
                    return Err(e);
                };
                langfuse_tracing_core::__layer::warn::emit(&format!(
                    "prompt {:?}: using the fallback prompt: {e}",
                    self.name
                ));
                let meta = Meta::fallback(&self.name);
                Ok(match fallback {
                    Fallback::Text(t) => Prompt::Text(TextPrompt {
                        meta,
                        prompt: t.clone(),
                    }),
                    Fallback::Chat(m) => Prompt::Chat(ChatPrompt {
                        meta,
                        prompt: m.clone(),
                    }),
                })
            }
        }
    }

    /// One fetch: retries on 429, 5xx and network errors, all within the timeout.
    fn fetch(&self, key: &Key) -> Result<Prompt, PromptError> {
        let rest = self.client.rest()?;
        let query = match &key.1 {
            Selector::Version(v) => format!("version={v}"),
            Selector::Label(l) => format!("label={}", encode_component(l)),
        };
        let path = format!("{PROMPTS_PATH}/{}?{query}", encode_component(&key.0));
        let budget = self.fetch_timeout.unwrap_or(self.client.inner.timeout);
        let started = Instant::now();
        let mut delay = FIRST_RETRY_DELAY;
        let mut tries = 0;
        loop {
            let left = budget.saturating_sub(started.elapsed());
            let result = rest.api_once(
                Method::GET,
                &path,
                None,
                Some(left.max(Duration::from_millis(1))),
            );
            tries += 1;
            let (error, retry_after) = match result {
                Ok(answer) if answer.is_success() => {
                    return self.client.prompt_answer(rest, &path, &answer)
                }
                Ok(answer) => {
                    let error = refused(rest, &path, &answer);
                    if answer.status != 429 && answer.status < 500 {
                        return Err(error);
                    }
                    (error, answer.retry_after)
                }
                Err(message) => (PromptError::Network(message), None),
            };
            if tries > self.max_retries {
                return Err(error);
            }
            let wait = retry_after.unwrap_or(delay);
            if wait >= budget.saturating_sub(started.elapsed()) {
                return Err(error);
            }
            std::thread::sleep(wait);
            delay *= 2;
        }
    }
}

enum Lookup {
    Hit(Prompt),
    Miss(Key, Duration),
}

/// Runs `work` on a new thread and resolves to its result (runs it here if no thread
/// can be started).
fn on_thread<T: Send + 'static>(
    name: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> impl Future<Output = T> {
    let slot: Arc<Mutex<Slot<T>>> = Arc::new(Mutex::new(Slot {
        value: None,
        waker: None,
    }));
    let theirs = slot.clone();
    let work = Arc::new(Mutex::new(Some(work)));
    let their_work = work.clone();
    let spawned = std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            if let Some(work) = lock(&their_work).take() {
                let value = work();
                let waker = {
                    let mut s = lock(&theirs);
                    s.value = Some(value);
                    s.waker.take()
                };
                if let Some(w) = waker {
                    w.wake();
                }
            }
        });
    if spawned.is_err() {
        if let Some(work) = lock(&work).take() {
            lock(&slot).value = Some(work());
        }
    }
    ThreadResult { slot }
}

struct Slot<T> {
    value: Option<T>,
    waker: Option<Waker>,
}

struct ThreadResult<T> {
    slot: Arc<Mutex<Slot<T>>>,
}

impl<T> Future for ThreadResult<T> {
    type Output = T;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut s = lock(&self.slot);
        match s.value.take() {
            Some(v) => Poll::Ready(v),
            None => {
                s.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Creating prompts
// ---------------------------------------------------------------------------------------

/// A new prompt version for [`PromptClient::create_prompt`] (`CreatePromptRequest`).
///
/// ```
/// use langfuse_tracing::prompts::{ChatItem, NewPrompt};
/// let text = NewPrompt::text("movie-critic", "Rate {{movie}}.")
///     .labels(["production"])
///     .config(serde_json::json!({"model": "gpt-4o"}));
/// let chat = NewPrompt::chat("support", [ChatItem::message("system", "Be kind.")])
///     .commit_message("first");
/// # let _ = (text, chat);
/// ```
#[derive(Clone, Debug)]
pub struct NewPrompt {
    body: serde_json::Map<String, Value>,
}

impl NewPrompt {
    /// A text prompt.
    pub fn text(name: impl Into<String>, template: impl Into<String>) -> NewPrompt {
        let mut body = serde_json::Map::new();
        body.insert("type".into(), json!("text"));
        body.insert("name".into(), Value::String(name.into()));
        body.insert("prompt".into(), Value::String(template.into()));
        NewPrompt { body }
    }

    /// A chat prompt.
    pub fn chat(
        name: impl Into<String>,
        messages: impl IntoIterator<Item = ChatItem>,
    ) -> NewPrompt {
        let mut body = serde_json::Map::new();
        body.insert("type".into(), json!("chat"));
        body.insert("name".into(), Value::String(name.into()));
        let items: Vec<Value> = messages.into_iter().map(|m| m.to_api()).collect();
        body.insert("prompt".into(), Value::Array(items));
        NewPrompt { body }
    }

    /// The labels of the new version (`production` makes it the one served by default).
    pub fn labels<L: Into<String>>(mut self, labels: impl IntoIterator<Item = L>) -> Self {
        let labels: Vec<Value> = labels
            .into_iter()
            .map(|l| Value::String(l.into()))
            .collect();
        self.body.insert("labels".into(), Value::Array(labels));
        self
    }

    /// The prompt's tags.
    pub fn tags<T: Into<String>>(mut self, tags: impl IntoIterator<Item = T>) -> Self {
        let tags: Vec<Value> = tags.into_iter().map(|t| Value::String(t.into())).collect();
        self.body.insert("tags".into(), Value::Array(tags));
        self
    }

    /// The version's config (any JSON).
    pub fn config(mut self, config: Value) -> Self {
        self.body.insert("config".into(), config);
        self
    }

    /// The version's commit message.
    pub fn commit_message(mut self, message: impl Into<String>) -> Self {
        self.body
            .insert("commitMessage".into(), Value::String(message.into()));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(v: &[(&str, &str)]) -> HashMap<String, String> {
        collect_vars(v.iter().copied())
    }

    /// The cache holds at most `MAX_CACHED_PROMPTS`; the entry closest to expiry
    /// makes room, one that never expires last.
    #[test]
    fn the_cache_is_bounded_and_evicts_the_entry_closest_to_expiry() {
        let prompt =
            parse_prompt(&json!({"type": "text", "name": "t", "version": 1, "prompt": "x"}))
                .unwrap();
        let now = Instant::now();
        let key = |i: usize| (format!("tenant-{i}"), Selector::Label("production".into()));
        let mut cache = Cache::default();
        cache.insert(
            key(0),
            Entry {
                prompt: prompt.clone(),
                expires: None,
            },
        );
        for i in 1..=MAX_CACHED_PROMPTS + 5 {
            let expires = Some(now + Duration::from_secs(i as u64));
            cache.insert(
                key(i),
                Entry {
                    prompt: prompt.clone(),
                    expires,
                },
            );
        }
        assert_eq!(cache.entries.len(), MAX_CACHED_PROMPTS);
        assert!(cache.entries.contains_key(&key(0)), "never expires: kept");
        assert!(
            !cache.entries.contains_key(&key(1)),
            "closest to expiry: gone"
        );
        assert!(cache.entries.contains_key(&key(MAX_CACHED_PROMPTS + 5)));
    }

    #[test]
    fn templates_follow_the_reference_rule() {
        let v = vars(&[("a", "1"), ("b c", "2")]);
        assert_eq!(compile_template("x{{a}}y{{ a }}", &v), "x1y1");
        assert_eq!(compile_template("{{missing}} {{a}}", &v), "{{missing}} 1");
        assert_eq!(compile_template("{{b c}}", &v), "2");
        assert_eq!(compile_template("open {{a", &v), "open {{a");
        assert_eq!(compile_template("{{a}} then {{", &v), "1 then {{");
        assert_eq!(compile_template("ünï{{a}}çødé", &v), "ünï1çødé");
        assert_eq!(compile_template("", &v), "");
        // A value is not compiled again.
        assert_eq!(compile_template("{{a}}", &vars(&[("a", "{{a}}")])), "{{a}}");
    }

    #[test]
    fn prompts_parse_from_the_api_shapes() {
        let text = parse_prompt(&json!({
            "type": "text", "name": "t", "version": 3, "prompt": "Hi {{x}}",
            "config": {"temperature": 0.1}, "labels": ["production", "latest"], "tags": [],
            "commitMessage": null
        }))
        .unwrap();
        assert_eq!(text.prompt_type(), PromptType::Text);
        assert_eq!((text.name(), text.version()), ("t", 3));
        assert_eq!(text.config()["temperature"], json!(0.1));
        let chat = parse_prompt(&json!({
            "type": "chat", "name": "c", "version": 1, "config": {}, "labels": [], "tags": [],
            "prompt": [
                {"role": "system", "content": "S", "type": "chatmessage"},
                {"type": "placeholder", "name": "history"},
                {"role": "user", "content": "U"}
            ]
        }))
        .unwrap()
        .into_chat()
        .unwrap();
        assert_eq!(chat.prompt()[1], ChatItem::placeholder("history"));
        assert_eq!(chat.prompt()[2], ChatItem::message("user", "U"));
        assert!(parse_prompt(&json!({"name": "x"})).is_err());
        assert!(
            parse_prompt(&json!({"type": "text", "name": "x", "version": 1, "prompt": []}))
                .is_err()
        );
        assert!(matches!(
            text.into_chat(),
            Err(PromptError::WrongType { .. })
        ));
    }

    #[test]
    fn fallbacks_are_never_linked() {
        let f = TextPrompt::fallback("p", "x");
        assert!(PromptLink::from(&f).is_empty());
        let real = parse_prompt(&json!({"type": "text", "name": "p", "version": 2, "prompt": "x", "config": null, "labels": [], "tags": []})).unwrap();
        assert_eq!(PromptLink::from(&real).parts(), Some(("p", 2)));
    }

    #[test]
    fn names_are_one_path_segment() {
        assert_eq!(encode_component("folder/a b"), "folder%2Fa%20b");
        assert_eq!(encode_component("ok-1._~"), "ok-1._~");
    }

    #[test]
    fn ttls_parse() {
        assert_eq!(parse_ttl("0"), Some(Duration::ZERO));
        assert_eq!(parse_ttl(" 90 "), Some(Duration::from_secs(90)));
        assert_eq!(parse_ttl("-1"), None);
        assert_eq!(parse_ttl("soon"), None);
    }

    #[test]
    fn version_and_label_together_are_refused() {
        let config = LangfuseConfig::builder().build().unwrap();
        let client = PromptClient::new(&config).unwrap();
        let e = client
            .get_prompt("p")
            .version(1)
            .label("x")
            .any()
            .unwrap_err();
        assert!(matches!(e, PromptError::InvalidRequest(_)), "{e}");
        let e = client.get_prompt("").any().unwrap_err();
        assert!(matches!(e, PromptError::InvalidRequest(_)));
        // No credentials and no fallback: the error, without a request.
        assert_eq!(
            client.get_prompt("p").any(),
            Err(PromptError::NoCredentials)
        );
    }

    #[test]
    fn async_form_runs_without_a_runtime() {
        let config = LangfuseConfig::builder().build().unwrap();
        let client = PromptClient::new(&config).unwrap();
        let p = futures_executor::block_on(
            client
                .get_prompt("p")
                .fallback_chat([ChatItem::message("user", "{{q}}")])
                .chat_async(),
        )
        .unwrap();
        assert!(p.is_fallback());
        assert_eq!(
            serde_json::to_value(p.compile([("q", "why?")])).unwrap(),
            json!([{"role": "user", "content": "why?"}])
        );
    }
}
