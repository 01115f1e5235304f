//! Trace-level values (`TraceUpdate`), set through an observation of the trace.

use serde::Serialize;
use tracing::Span;

use super::fields::{finish_raw, io};
use crate::__layer::hooks::{layer_installed, with_current_state, with_span_state};
use crate::__layer::state::{merge_pairs, KeyIndex, ObservationState};
use crate::encoding::encode_metadata;
use crate::mask::mask_installed;

/// Trace-level values: name, user, session, tags, metadata, version, release, public,
/// and the (deprecated) trace input and output.
///
/// ```
/// use langfuse_tracing_core::observation::TraceUpdate;
/// let u = TraceUpdate::new().name("checkout").session_id("session_abc").metadata("plan", &"premium");
/// langfuse_tracing_core::observation::update_current_trace(u);
/// ```
#[derive(Clone, Debug)]
pub struct TraceUpdate {
    name: Option<String>,
    user_id: Option<String>,
    session_id: Option<String>,
    tags: Vec<String>,
    metadata: Vec<(String, String)>,
    metadata_index: KeyIndex,
    version: Option<String>,
    release: Option<String>,
    public: Option<bool>,
    input: Option<String>,
    output: Option<String>,
    on: bool,
    /// A mask exists in this process: input and output are JSON and nothing is masked
    /// yet (as in the observation values of builders and updates).
    raw: bool,
}

impl Default for TraceUpdate {
    fn default() -> Self {
        Self::new()
    }
}

impl TraceUpdate {
    /// An empty trace update.
    ///
    /// ```
    /// let u = langfuse_tracing_core::observation::TraceUpdate::new().user_id("u1");
    /// # let _ = u;
    /// ```
    pub fn new() -> Self {
        TraceUpdate {
            name: None,
            user_id: None,
            session_id: None,
            tags: Vec::new(),
            metadata: Vec::new(),
            metadata_index: KeyIndex::EMPTY,
            version: None,
            release: None,
            public: None,
            input: None,
            output: None,
            on: layer_installed(),
            raw: mask_installed(),
        }
    }

    /// The trace name.
    ///
    /// ```
    /// let u = langfuse_tracing_core::observation::TraceUpdate::new().name("rag-query");
    /// # let _ = u;
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The user the trace belongs to.
    ///
    /// ```
    /// let u = langfuse_tracing_core::observation::TraceUpdate::new().user_id("user_123");
    /// # let _ = u;
    /// ```
    pub fn user_id(mut self, id: impl Into<String>) -> Self {
        self.user_id = Some(id.into());
        self
    }

    /// The session the trace belongs to.
    ///
    /// ```
    /// let u = langfuse_tracing_core::observation::TraceUpdate::new().session_id("session_abc");
    /// # let _ = u;
    /// ```
    pub fn session_id(mut self, id: impl Into<String>) -> Self {
        self.session_id = Some(id.into());
        self
    }

    /// Adds tags (duplicates are ignored).
    ///
    /// ```
    /// let u = langfuse_tracing_core::observation::TraceUpdate::new().tags(["beta", "eu"]);
    /// # let _ = u;
    /// ```
    pub fn tags<I, S>(mut self, tags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        for t in tags {
            let t = t.into();
            if !self.tags.contains(&t) {
                self.tags.push(t);
            }
        }
        self
    }

    /// One trace metadata key (metadata encoding); later values win per key.
    ///
    /// ```
    /// let u = langfuse_tracing_core::observation::TraceUpdate::new().metadata("plan", &"premium");
    /// # let _ = u;
    /// ```
    pub fn metadata<T: Serialize + ?Sized>(mut self, key: impl Into<String>, value: &T) -> Self {
        if self.on {
            self.metadata_index
                .merge(&mut self.metadata, key.into(), encode_metadata(value));
        }
        self
    }

    /// The version (`langfuse.version`, shared with the observation version).
    ///
    /// ```
    /// let u = langfuse_tracing_core::observation::TraceUpdate::new().version("1.0");
    /// # let _ = u;
    /// ```
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    /// The release (`langfuse.release`).
    ///
    /// ```
    /// let u = langfuse_tracing_core::observation::TraceUpdate::new().release("2024-06-01");
    /// # let _ = u;
    /// ```
    pub fn release(mut self, release: impl Into<String>) -> Self {
        self.release = Some(release.into());
        self
    }

    /// Whether the trace is public.
    ///
    /// ```
    /// let u = langfuse_tracing_core::observation::TraceUpdate::new().public(true);
    /// # let _ = u;
    /// ```
    pub fn public(mut self, public: bool) -> Self {
        self.public = Some(public);
        self
    }

    /// The trace input (deprecated in the SDKs; IO encoding).
    ///
    /// ```
    /// let u = langfuse_tracing_core::observation::TraceUpdate::new().input(&"question");
    /// # let _ = u;
    /// ```
    pub fn input<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        if self.on {
            self.input = Some(io(self.raw, value));
        }
        self
    }

    /// The trace output (deprecated in the SDKs; IO encoding).
    ///
    /// ```
    /// let u = langfuse_tracing_core::observation::TraceUpdate::new().output(&"answer");
    /// # let _ = u;
    /// ```
    pub fn output<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        if self.on {
            self.output = Some(io(self.raw, value));
        }
        self
    }

    /// The input and output that are given (the deprecated `set_*trace_io` calls).
    pub(super) fn with_io<I: Serialize + ?Sized, O: Serialize + ?Sized>(
        mut self,
        input: Option<&I>,
        output: Option<&O>,
    ) -> Self {
        if let Some(i) = input {
            self = self.input(i);
        }
        if let Some(o) = output {
            self = self.output(o);
        }
        self
    }

    /// Masks and encodes values kept raw (see `fields::finish_raw`).
    fn mask_for(&mut self, span: Option<&Span>) {
        let TraceUpdate {
            raw,
            input,
            output,
            metadata,
            ..
        } = self;
        finish_raw(raw, span, input, output, metadata, None);
    }

    /// Masks the values and sets them on the trace through the observation of `span`.
    pub(super) fn apply_to_span(mut self, span: &Span) {
        self.mask_for(Some(span));
        let mut update = Some(self);
        with_span_state(span, |s| {
            if let Some(u) = update.take() {
                u.apply(s);
            }
        });
    }

    /// Masks the values and sets them on the trace through this thread's current
    /// observation; false if a Langfuse layer exists but no observation is current.
    pub(super) fn apply_to_current(mut self) -> bool {
        self.mask_for(None);
        let mut update = Some(self);
        !layer_installed()
            || with_current_state(|s| {
                if let Some(u) = update.take() {
                    u.apply(s);
                }
            })
    }

    fn apply(self, s: &mut ObservationState) {
        if !s.sampled || s.ended {
            return;
        }
        if self.version.is_some() {
            s.version = self.version;
        }
        if self.release.is_some() {
            s.release = self.release;
        }
        let t = s.trace_mut();
        macro_rules! set {
            ($($f:ident),*) => {$( if self.$f.is_some() { t.$f = self.$f; } )*};
        }
        set!(name, user_id, session_id, input, output);
        if let Some(p) = self.public {
            t.public = p;
        }
        for tag in self.tags {
            if !t.tags.contains(&tag) {
                t.tags.push(tag);
            }
        }
        merge_pairs(&mut t.metadata, self.metadata);
    }
}
