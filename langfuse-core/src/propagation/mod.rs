//! `propagate_attributes`: trace-level attributes for every observation of a scope.
//!
//! Langfuse aggregates by user, session, tags, version and trace metadata only when
//! *every* observation of a trace carries them. A scope does that for you: each
//! observation started inside it (by `#[observe]`, the builders, or a plain `tracing`
//! span with Langfuse fields) gets the values, and so does the observation that is
//! current when the scope is entered. Observations started after the scope ends do not.
//!
//! ```
//! use langfuse_tracing_core::propagation::PropagateAttributes;
//!
//! let root = tracing::info_span!("user-workflow", langfuse.observation.type = "span");
//! root.in_scope(|| {
//!     PropagateAttributes::new()
//!         .user_id("user_123")
//!         .session_id("session_abc")
//!         .metadata("experiment", "variant_a")
//!         .version("1.0")
//!         .trace_name("user-workflow")
//!         .run(|| {
//!             // `user-workflow` (current at entry) and `llm-call` both get the values.
//!             let _llm = tracing::info_span!("llm-call", langfuse.observation.type = "generation")
//!                 .entered();
//!         });
//! });
//! ```
//!
//! # Futures, `.await` and spawned tasks
//!
//! [`PropagateAttributes::instrument`] scopes a future: the values hold on every poll,
//! across `.await`s. A task given to `tokio::spawn` runs elsewhere, so carry the context
//! into it with [`PropagationContext`] (it carries the current `tracing` span too, so
//! the task's observations are children of the current one):
//!
//! ```
//! use langfuse_tracing_core::propagation::{self, PropagateAttributes};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! PropagateAttributes::new()
//!     .user_id("user_123")
//!     .instrument(async {
//!         tokio::time::sleep(std::time::Duration::from_millis(1)).await; // still in scope
//!         let task = tokio::spawn(propagation::current().instrument(async {
//!             // in scope as well: the context travelled with the task
//!             assert_eq!(
//!                 propagation::current().attributes().unwrap().user_id.as_deref(),
//!                 Some("user_123")
//!             );
//!         }));
//!         task.await.unwrap();
//!     })
//!     .await;
//! # }
//! ```
//!
//! (Without the wrapper a spawned task starts with an empty context. If you only want
//! the `tracing` span, `tracing::Instrument::in_current_span` carries that alone.)
//!
//! # Validation
//!
//! As in the other Langfuse SDKs, an invalid value is dropped with one warning
//! (`target: "langfuse"`, naming the key, never the value) and the other values still
//! apply; nothing panics:
//!
//! * user id, session id, version, trace name and each tag: at most 200 characters;
//! * metadata keys: ASCII letters, digits and `_` only; values are metadata-encoded
//!   (JSON, strings keep their quotes) and the *encoded* text must be at most 200
//!   characters; a value that encodes to `null` is skipped silently (Python's `None`);
//! * environment: at most 40 characters of `[a-z0-9_-]`, not starting with `langfuse`;
//! * prompt: a non-empty name.
//!
//! # Nesting
//!
//! An inner scope replaces scalars, merges metadata (the inner value wins per key) and
//! appends each inner tag that is not already in the outer list (duplicates inside one
//! scope are kept): `["tag-a","tag-b","tag-a"]` then `["tag-c","tag-a"]` gives
//! `["tag-a","tag-b","tag-a","tag-c"]`.
//!
//! # Across services
//!
//! [`inject_trace_headers`] writes `traceparent` (and, for values propagated with
//! [`PropagateAttributes::as_baggage`], `baggage`) into an outbound request;
//! [`extract_trace_headers`] reads them on the receiving side and returns a
//! [`RemoteContext`] whose scope continues the same trace with the same attributes.
//!
//! **Security warning**: with `as_baggage(true)` the values are added to the `baggage`
//! header of *every* outbound request you inject headers into, including requests to
//! third parties. Only use it for non-sensitive values needed for distributed tracing.

use std::future::Future;
use std::sync::Arc;

use serde::Serialize;

use crate::__layer::context::{current_frame, in_frame, Frame};
use crate::encoding::encode_metadata;

pub(crate) mod attributes;
mod carry;
mod w3c;

use attributes::{
    check_environment, check_metadata, check_prompt, check_value, dropped, shown_key, upsert,
    valid_metadata_key,
};
pub use attributes::{PropagatedAttributes, MAX_ENVIRONMENT_CHARS, MAX_VALUE_CHARS};
pub use carry::{current, Propagated, PropagationContext};
pub use w3c::{
    current_baggage, current_traceparent, extract_trace_headers, inject_trace_headers,
    RemoteContext, TraceContextError, BAGGAGE_HEADER, TRACEPARENT_HEADER,
};

/// The attributes of one `propagate_attributes` scope: a builder, then a scope around a
/// closure ([`run`](Self::run)) or a future ([`instrument`](Self::instrument)).
///
/// Each setter validates at once; an invalid value is dropped with one warning and the
/// builder keeps the rest. Calling a scalar setter twice keeps the last value.
///
/// ```
/// use langfuse_tracing_core::propagation::PropagateAttributes;
///
/// let answer = PropagateAttributes::new()
///     .user_id("user_123")
///     .session_id("session_abc")
///     .metadata("experiment", "variant_a")
///     .tags(["beta", "rag"])
///     .version("1.0")
///     .trace_name("user-workflow")
///     .environment("production")
///     .prompt("qa-prompt", 3)
///     .run(|| 42);
/// assert_eq!(answer, 42);
/// ```
#[derive(Clone, Debug, Default)]
#[must_use = "a PropagateAttributes does nothing until `.run(..)` or `.instrument(..)`"]
pub struct PropagateAttributes {
    attrs: PropagatedAttributes,
    as_baggage: bool,
}

impl PropagateAttributes {
    /// An empty set of attributes.
    ///
    /// ```
    /// let p = langfuse_tracing_core::propagation::PropagateAttributes::new();
    /// assert!(p.attributes().is_empty());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// The user the trace belongs to (`user.id`), at most 200 characters.
    ///
    /// ```
    /// let p = langfuse_tracing_core::propagation::PropagateAttributes::new().user_id("user_123");
    /// assert_eq!(p.attributes().user_id.as_deref(), Some("user_123"));
    /// ```
    pub fn user_id(mut self, user_id: impl Into<String>) -> Self {
        self.attrs.user_id = check_value("user_id", user_id.into());
        self
    }

    /// The session the trace belongs to (`session.id`), at most 200 characters.
    ///
    /// ```
    /// let p = langfuse_tracing_core::propagation::PropagateAttributes::new().session_id("s-1");
    /// assert_eq!(p.attributes().session_id.as_deref(), Some("s-1"));
    /// ```
    pub fn session_id(mut self, session_id: impl Into<String>) -> Self {
        self.attrs.session_id = check_value("session_id", session_id.into());
        self
    }

    /// The version (`langfuse.version`), at most 200 characters. An observation's own
    /// version wins over it.
    ///
    /// ```
    /// let p = langfuse_tracing_core::propagation::PropagateAttributes::new().version("1.0");
    /// assert_eq!(p.attributes().version.as_deref(), Some("1.0"));
    /// ```
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.attrs.version = check_value("version", version.into());
        self
    }

    /// The trace name (`langfuse.trace.name`), at most 200 characters.
    ///
    /// ```
    /// let p = langfuse_tracing_core::propagation::PropagateAttributes::new().trace_name("checkout");
    /// assert_eq!(p.attributes().trace_name.as_deref(), Some("checkout"));
    /// ```
    pub fn trace_name(mut self, trace_name: impl Into<String>) -> Self {
        self.attrs.trace_name = check_value("trace_name", trace_name.into());
        self
    }

    /// The environment (`langfuse.environment`): 1 to 40 characters of `[a-z0-9_-]`,
    /// not starting with `langfuse`. It wins over the observation's and the client's.
    ///
    /// ```
    /// use langfuse_tracing_core::propagation::PropagateAttributes;
    /// assert!(PropagateAttributes::new().environment("prod").attributes().environment.is_some());
    /// assert!(PropagateAttributes::new().environment("Prod").attributes().environment.is_none());
    /// ```
    pub fn environment(mut self, environment: impl Into<String>) -> Self {
        self.attrs.environment = check_environment("environment", environment.into());
        self
    }

    /// Adds tags (`langfuse.trace.tags`), each at most 200 characters; an invalid tag
    /// is dropped alone. Duplicates are kept, as in the other SDKs.
    ///
    /// ```
    /// let p = langfuse_tracing_core::propagation::PropagateAttributes::new().tags(["a", "b"]).tag("c");
    /// assert_eq!(p.attributes().tags, ["a", "b", "c"]);
    /// ```
    pub fn tags<I, S>(mut self, tags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        for tag in tags {
            if let Some(tag) = check_value("tags", tag.into()) {
                self.attrs.tags.push(tag);
            }
        }
        self
    }

    /// Adds one tag; see [`tags`](Self::tags).
    ///
    /// ```
    /// let p = langfuse_tracing_core::propagation::PropagateAttributes::new().tag("beta");
    /// assert_eq!(p.attributes().tags, ["beta"]);
    /// ```
    pub fn tag(self, tag: impl Into<String>) -> Self {
        self.tags([tag.into()])
    }

    /// Sets one trace metadata key (`langfuse.trace.metadata.<key>`). The key must be
    /// ASCII letters, digits and `_`; the value is metadata-encoded (JSON, strings
    /// quoted) and the encoded text must be at most 200 characters. A value that
    /// encodes to `null` (a `None`) is skipped. The same key again replaces the value.
    ///
    /// The value is taken by reference, as by every other `metadata` setter
    /// ([`TraceUpdate::metadata`](crate::observation::TraceUpdate::metadata),
    /// `SpanUpdate::metadata`, ...).
    ///
    /// ```
    /// let p = langfuse_tracing_core::propagation::PropagateAttributes::new()
    ///     .metadata("experiment", "variant_a")
    ///     .metadata("attempt", &2);
    /// assert_eq!(
    ///     p.attributes().metadata,
    ///     [("experiment".to_string(), "\"variant_a\"".to_string()), ("attempt".into(), "2".into())]
    /// );
    /// ```
    pub fn metadata<T: Serialize + ?Sized>(mut self, key: impl Into<String>, value: &T) -> Self {
        self.add_metadata(key.into(), value);
        self
    }

    /// Sets several metadata keys at once (a `HashMap`, a `BTreeMap`, a
    /// `serde_json::Map`, pairs...), each checked as in [`metadata`](Self::metadata).
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// let map = BTreeMap::from([("pipeline", "main"), ("region", "eu")]);
    /// let p = langfuse_tracing_core::propagation::PropagateAttributes::new().metadata_map(map);
    /// assert_eq!(p.attributes().metadata.len(), 2);
    /// ```
    pub fn metadata_map<I, K, V>(mut self, entries: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Serialize,
    {
        for (k, v) in entries {
            self.add_metadata(k.into(), &v);
        }
        self
    }

    fn add_metadata<V: Serialize + ?Sized>(&mut self, key: String, value: &V) {
        if !valid_metadata_key(&key) {
            dropped(
                &shown_key(&key),
                "keys may only contain ASCII letters, digits and `_`",
            );
            return;
        }
        let encoded = encode_metadata(value);
        if encoded == "null" {
            return;
        }
        if let Some((k, v)) = check_metadata(&key, encoded) {
            upsert(&mut self.attrs.metadata, &k, &v);
        }
    }

    /// The Langfuse prompt used (`langfuse.observation.prompt.name` and the integer
    /// `.version`), put on every observation of the scope; the server links it to
    /// generations. An empty name is dropped.
    ///
    /// ```
    /// let p = langfuse_tracing_core::propagation::PropagateAttributes::new().prompt("qa", 3);
    /// assert_eq!(p.attributes().prompt, Some(("qa".to_string(), 3)));
    /// ```
    pub fn prompt(mut self, name: impl Into<String>, version: i64) -> Self {
        self.attrs.prompt = check_prompt("prompt", name.into(), version);
        self
    }

    /// [`prompt`](Self::prompt) from a prompt client of `langfuse_tracing::prompts` (or
    /// a [`PromptLink`](crate::prompt::PromptLink)). A fallback prompt is never linked:
    /// nothing is set.
    ///
    /// ```
    /// use langfuse_tracing_core::prompt::PromptLink;
    /// use langfuse_tracing_core::propagation::PropagateAttributes;
    /// let p = PropagateAttributes::new().link_prompt(PromptLink::new("qa", 3));
    /// assert_eq!(p.attributes().prompt, Some(("qa".to_string(), 3)));
    /// let p = PropagateAttributes::new().link_prompt(PromptLink::fallback());
    /// assert_eq!(p.attributes().prompt, None);
    /// ```
    pub fn link_prompt(self, prompt: impl Into<crate::prompt::PromptLink>) -> Self {
        match prompt.into().into_parts() {
            Some((name, version)) => self.prompt(name, version),
            None => self,
        }
    }

    /// Also puts the values into W3C baggage, so that [`inject_trace_headers`] sends
    /// them to other services (`langfuse_user_id`, `langfuse_session_id`,
    /// `langfuse_version`, `langfuse_trace_name`, `langfuse_environment`,
    /// `langfuse_tags`, `langfuse_metadata_<key>`, `langfuse_prompt_name`,
    /// `langfuse_prompt_version`).
    ///
    /// Tags travel as a compact JSON array (`["tag-a","tag-b"]`), where the Python SDK
    /// sends the Python repr of its list (`['tag-a', 'tag-b']`); this crate reads both.
    ///
    /// **Security warning**: baggage leaves the process on every outbound request you
    /// inject headers into, third parties included. Only use it for non-sensitive
    /// values needed for distributed tracing.
    ///
    /// ```
    /// use langfuse_tracing_core::propagation::{current_baggage, PropagateAttributes};
    /// PropagateAttributes::new().user_id("u 1").as_baggage(true).run(|| {
    ///     assert_eq!(current_baggage().as_deref(), Some("langfuse_user_id=u%201"));
    /// });
    /// ```
    pub fn as_baggage(mut self, as_baggage: bool) -> Self {
        self.as_baggage = as_baggage;
        self
    }

    /// The validated attributes of this scope alone (not merged with outer scopes).
    ///
    /// ```
    /// let p = langfuse_tracing_core::propagation::PropagateAttributes::new().user_id("u");
    /// assert_eq!(p.attributes().user_id.as_deref(), Some("u"));
    /// ```
    pub fn attributes(&self) -> &PropagatedAttributes {
        &self.attrs
    }

    /// Runs `f` in the scope: every observation started inside gets the attributes,
    /// and so does the observation current now.
    ///
    /// ```
    /// use langfuse_tracing_core::propagation::{self, PropagateAttributes};
    /// let user = PropagateAttributes::new()
    ///     .user_id("user_123")
    ///     .run(|| propagation::current().attributes().and_then(|a| a.user_id.clone()));
    /// assert_eq!(user.as_deref(), Some("user_123"));
    /// assert!(propagation::current().attributes().is_none()); // the scope has ended
    /// ```
    pub fn run<R>(self, f: impl FnOnce() -> R) -> R {
        in_frame(self.enter_frame(), f)
    }

    /// Scopes a future: the attributes hold on every poll, across `.await`s. The scope
    /// begins here (the observation current at this call gets the values) and is
    /// re-entered on each poll until the future completes.
    ///
    /// Observations must be *created* inside the future: in
    /// `attrs.instrument(work().instrument(span))` the span already exists before the
    /// scope begins and gets nothing; write
    /// `attrs.instrument(async { work().instrument(span).await })` instead (an
    /// `#[observe]` async function creates its observation on first poll, so
    /// `attrs.instrument(observed_fn())` is fine).
    ///
    /// ```
    /// use langfuse_tracing_core::propagation::{self, PropagateAttributes};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let session = PropagateAttributes::new()
    ///     .session_id("s-1")
    ///     .instrument(async {
    ///         tokio::task::yield_now().await;
    ///         propagation::current().attributes().and_then(|a| a.session_id.clone())
    ///     })
    ///     .await;
    /// assert_eq!(session.as_deref(), Some("s-1"));
    /// # }
    /// ```
    pub fn instrument<F: Future>(self, future: F) -> Propagated<F> {
        Propagated::new(future, self.enter_frame())
    }

    /// Writes the attributes onto the current observation and builds the scope's frame.
    fn enter_frame(self) -> Frame {
        let PropagateAttributes { attrs, as_baggage } = self;
        if !attrs.is_empty() {
            crate::__layer::hooks::with_current_state(|state| {
                if state.sampled {
                    let merged = match &state.propagated {
                        Some(p) => p.merged(&attrs),
                        None => attrs.clone(),
                    };
                    state.propagated = Some(Arc::new(merged));
                }
            });
        }
        let outer = current_frame();
        let mut merged = match &outer.propagated {
            Some(p) => p.merged(&attrs),
            None => attrs.clone(),
        };
        if as_baggage {
            for (k, v) in merged.baggage_entries_for(&attrs) {
                upsert(&mut merged.baggage, &k, &v);
            }
        }
        Frame {
            remote_parent: outer.remote_parent,
            propagated: Some(Arc::new(merged)),
        }
    }
}

/// Runs `f` in a `propagate_attributes` scope; the free-function form of
/// [`PropagateAttributes::run`], named like the other SDKs' function.
///
/// ```
/// use langfuse_tracing_core::propagation::{propagate_attributes, PropagateAttributes};
/// let n = propagate_attributes(PropagateAttributes::new().user_id("user_123"), || 1 + 1);
/// assert_eq!(n, 2);
/// ```
pub fn propagate_attributes<R>(attributes: PropagateAttributes, f: impl FnOnce() -> R) -> R {
    attributes.run(f)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::fmt;
    use std::sync::Mutex;
    use tracing::field::{Field, Visit};
    use tracing_subscriber::layer::{Context, SubscriberExt};
    use tracing_subscriber::Layer;

    /// Captured `langfuse` warnings: every field of the event rendered as text.
    #[derive(Clone, Default)]
    pub(crate) struct Warnings(Arc<Mutex<Vec<String>>>);

    impl Warnings {
        pub(crate) fn take(&self) -> Vec<String> {
            std::mem::take(&mut *self.0.lock().unwrap())
        }
    }

    struct Render(String);
    impl Visit for Render {
        fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
            self.0.push_str(&format!("{}={:?} ", field.name(), value));
        }
    }

    impl<S: tracing::Subscriber> Layer<S> for Warnings {
        fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
            if event.metadata().target() == "langfuse"
                && *event.metadata().level() == tracing::Level::WARN
            {
                let mut r = Render(String::new());
                event.record(&mut r);
                self.0.lock().unwrap().push(r.0);
            }
        }
    }

    /// Runs `f` with a subscriber that captures warnings; returns them.
    pub(crate) fn warnings<R>(f: impl FnOnce() -> R) -> (R, Vec<String>) {
        let w = Warnings::default();
        let subscriber = tracing_subscriber::registry().with(w.clone());
        let r = tracing::subscriber::with_default(subscriber, f);
        (r, w.take())
    }

    const SECRET: &str = "SECRET-VALUE";

    fn long(n: usize) -> String {
        let mut s = String::from(SECRET);
        while s.chars().count() < n {
            s.push('é');
        }
        s
    }

    #[test]
    fn values_of_200_characters_are_kept_and_201_dropped_counting_chars() {
        let (p, w) = warnings(|| {
            PropagateAttributes::new()
                .user_id(long(200))
                .session_id(long(201))
                .version(long(200))
                .trace_name(long(201))
        });
        let a = p.attributes();
        assert_eq!(a.user_id.as_ref().unwrap().chars().count(), 200);
        assert!(
            a.user_id.as_ref().unwrap().len() > 200,
            "counted in chars, not bytes"
        );
        assert!(a.session_id.is_none());
        assert!(a.version.is_some());
        assert!(a.trace_name.is_none());
        assert_eq!(w.len(), 2, "one warning per dropped value: {w:?}");
        assert!(w[0].contains("session_id"));
        assert!(w[1].contains("trace_name"));
        assert!(
            w.iter().all(|m| !m.contains(SECRET)),
            "never the value: {w:?}"
        );
    }

    #[test]
    fn invalid_tags_are_dropped_one_by_one() {
        let (p, w) =
            warnings(|| PropagateAttributes::new().tags(["a".to_string(), long(201), "b".into()]));
        assert_eq!(p.attributes().tags, ["a", "b"]);
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("tags") && !w[0].contains(SECRET));
    }

    #[test]
    fn metadata_keys_must_be_ascii_letters_digits_or_underscore() {
        let (p, w) = warnings(|| {
            PropagateAttributes::new()
                .metadata("ok_Key_1", &1)
                .metadata("with space", SECRET)
                .metadata("dash-key", SECRET)
                .metadata("dot.key", SECRET)
                .metadata("ключ", SECRET)
                .metadata("", SECRET)
        });
        assert_eq!(
            p.attributes().metadata,
            [("ok_Key_1".to_string(), "1".to_string())]
        );
        assert_eq!(w.len(), 5, "{w:?}");
        assert!(w[0].contains("with space"));
        assert!(w.iter().all(|m| !m.contains(SECRET)));
    }

    #[test]
    fn metadata_values_are_measured_after_encoding() {
        let (p, w) = warnings(|| {
            PropagateAttributes::new()
                .metadata("a", &"x".repeat(198)) // 200 encoded
                .metadata("b", &"x".repeat(199)) // 201 encoded
                .metadata("c", &Option::<i32>::None) // null: skipped silently
                .metadata("d", &serde_json::json!({"k": [1, 2]}))
        });
        let m = &p.attributes().metadata;
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].0, "a");
        assert_eq!(m[0].1.len(), 200);
        assert_eq!(m[1], ("d".to_string(), r#"{"k":[1,2]}"#.to_string()));
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("metadata.b"));
        assert!(!w[0].contains("xxx"));
    }

    #[test]
    fn metadata_same_key_twice_keeps_the_last_value() {
        let p = PropagateAttributes::new()
            .metadata("k", &1)
            .metadata("k", &2);
        assert_eq!(
            p.attributes().metadata,
            [("k".to_string(), "2".to_string())]
        );
    }

    #[test]
    fn environment_rules() {
        let ok = ["production", "a", "dev_1-x", &"a".repeat(40), "lang"];
        let bad = [
            "",
            "Production",
            "prod env",
            "langfuse",
            "langfuse-x",
            &"a".repeat(41),
            "prod.1",
            "é",
        ];
        for e in ok {
            let (p, w) = warnings(|| PropagateAttributes::new().environment(e));
            assert_eq!(p.attributes().environment.as_deref(), Some(e));
            assert!(w.is_empty());
        }
        for e in bad {
            let (p, w) = warnings(|| PropagateAttributes::new().environment(e));
            assert!(p.attributes().environment.is_none(), "{e:?} accepted");
            assert_eq!(w.len(), 1);
            assert!(w[0].contains("environment"));
        }
    }

    #[test]
    fn prompt_needs_a_name() {
        let (p, w) = warnings(|| PropagateAttributes::new().prompt("", 2));
        assert!(p.attributes().prompt.is_none());
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("prompt"));
        assert_eq!(
            PropagateAttributes::new()
                .prompt("p", -1)
                .attributes()
                .prompt,
            Some(("p".to_string(), -1))
        );
    }

    #[test]
    fn an_invalid_entry_leaves_the_others_in_place() {
        let (p, w) = warnings(|| {
            PropagateAttributes::new()
                .user_id("u")
                .session_id(long(300))
                .metadata("bad key", &1)
                .metadata("good", &2)
                .environment("LANGFUSE")
                .tag("t")
        });
        let a = p.attributes();
        assert_eq!(a.user_id.as_deref(), Some("u"));
        assert_eq!(a.metadata, [("good".to_string(), "2".to_string())]);
        assert_eq!(a.tags, ["t"]);
        assert_eq!(w.len(), 3);
    }

    #[test]
    fn nesting_replaces_scalars_merges_metadata_and_appends_new_tags() {
        let outer = PropagateAttributes::new()
            .user_id("u1")
            .session_id("s1")
            .tags(["tag-a", "tag-b", "tag-a"])
            .metadata("a", &1)
            .metadata("b", &1);
        let inner = PropagateAttributes::new()
            .user_id("u2")
            .tags(["tag-c", "tag-a", "tag-d", "tag-d"])
            .metadata("b", &2)
            .metadata("c", &2);
        let seen = outer.run(|| inner.run(|| current().attributes().cloned().unwrap()));
        assert_eq!(seen.user_id.as_deref(), Some("u2"));
        assert_eq!(seen.session_id.as_deref(), Some("s1"));
        assert_eq!(
            seen.tags,
            ["tag-a", "tag-b", "tag-a", "tag-c", "tag-d", "tag-d"]
        );
        assert_eq!(
            seen.metadata,
            [
                ("a".into(), "1".into()),
                ("b".into(), "2".into()),
                ("c".to_string(), "2".to_string())
            ]
        );
        assert!(current().attributes().is_none());
    }

    #[test]
    fn the_reference_tag_example() {
        let tags = PropagateAttributes::new()
            .tags(["tag-a", "tag-b", "tag-a"])
            .run(|| {
                PropagateAttributes::new()
                    .tags(["tag-c", "tag-a"])
                    .run(|| current().attributes().unwrap().tags.clone())
            });
        assert_eq!(tags, ["tag-a", "tag-b", "tag-a", "tag-c"]);
    }

    #[test]
    fn baggage_entries_only_for_as_baggage_scopes() {
        PropagateAttributes::new().user_id("u").run(|| {
            assert!(current().attributes().unwrap().baggage.is_empty());
        });
        let b = PropagateAttributes::new()
            .user_id("u1")
            .session_id("s1")
            .metadata("a", "x")
            .tags(["t1"])
            .as_baggage(true)
            .run(|| {
                // Inner non-baggage scope: its values stay local.
                let inner = PropagateAttributes::new()
                    .user_id("u2")
                    .run(|| current().attributes().unwrap().baggage.clone());
                assert!(inner.contains(&("langfuse_user_id".into(), "u1".into())));
                // Inner baggage scope: merged metadata and tags, outer keys included.
                PropagateAttributes::new()
                    .metadata("b", &2)
                    .tags(["t2"])
                    .prompt("p", 4)
                    .as_baggage(true)
                    .run(|| current().attributes().unwrap().baggage.clone())
            });
        let expect: Vec<(String, String)> = [
            ("langfuse_user_id", "u1"),
            ("langfuse_session_id", "s1"),
            ("langfuse_tags", r#"["t1","t2"]"#),
            ("langfuse_metadata_a", r#""x""#),
            ("langfuse_metadata_b", "2"),
            ("langfuse_prompt_name", "p"),
            ("langfuse_prompt_version", "4"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(b, expect);
    }

    #[test]
    fn a_panic_inside_the_scope_ends_it() {
        let r = std::panic::catch_unwind(|| {
            PropagateAttributes::new()
                .user_id("u")
                .run(|| panic!("boom"))
        });
        assert!(r.is_err());
        assert!(current().attributes().is_none());
    }
}
