//! Updates of an observation: one type, [`Update<K>`], whose kind decides the setters
//! (`SpanUpdate` has every field but the generation ones; `GenerationUpdate` has them
//! all).

use std::fmt;
use std::marker::PhantomData;

use super::fields::Fields;
use super::kind::{GenerationLike, SpanLike};
use super::setters::{common_setters, generation_setters};
use crate::__layer::hooks::layer_installed;

/// An update of an observation of kind `K`; used through its aliases [`SpanUpdate`] and
/// [`GenerationUpdate`]. Later values win per field and per metadata key.
///
/// ```
/// use langfuse_tracing_core::observation::{span, SpanUpdate};
/// span("step").run(|obs| {
///     obs.update(SpanUpdate::new().output(&"done"));
/// });
/// ```
pub struct Update<K> {
    /// `None` without a Langfuse layer: the update is then one pointer wide and every
    /// setter a branch (boxed: `Fields` is ~400 bytes, moved by each setter otherwise).
    fields: Option<Box<Fields>>,
    _kind: PhantomData<fn() -> K>,
}

/// An update of a span-like observation (every field but the generation ones).
///
/// ```
/// use langfuse_tracing_core::observation::SpanUpdate;
/// use langfuse_tracing_core::Level;
/// let u = SpanUpdate::new().output(&"done").metadata("step", &2).level(Level::Warning);
/// langfuse_tracing_core::observation::update_current_span(u); // nothing current: one warning
/// ```
pub type SpanUpdate = Update<SpanLike>;

/// An update of a generation-like observation: every field, model and usage included.
///
/// ```
/// use langfuse_tracing_core::observation::GenerationUpdate;
/// let u = GenerationUpdate::new()
///     .output(&"Rayleigh scattering...")
///     .usage_details(&serde_json::json!({"input_tokens": 5, "output_tokens": 50}))
///     .metadata("confidence", &0.9);
/// # let _ = u;
/// ```
pub type GenerationUpdate = Update<GenerationLike>;

impl<K> Update<K> {
    /// An empty update. Values are only encoded once a Langfuse layer exists in this process.
    ///
    /// ```
    /// use langfuse_tracing_core::observation::{GenerationUpdate, SpanUpdate};
    /// let renamed = SpanUpdate::new().name("renamed");
    /// let with_model = GenerationUpdate::new().model("gpt-4o");
    /// # let _ = (renamed, with_model);
    /// ```
    #[inline]
    pub fn new() -> Self {
        Update {
            fields: layer_installed().then(Fields::spare),
            _kind: PhantomData,
        }
    }

    /// The values set, if any were recorded (none without a Langfuse layer).
    #[inline]
    pub(super) fn into_fields(self) -> Option<Box<Fields>> {
        self.fields
    }

    #[inline]
    fn fields_mut(&mut self) -> Option<&mut Fields> {
        self.fields.as_deref_mut()
    }

    /// Renames the observation.
    ///
    /// ```
    /// use langfuse_tracing_core::observation::{update_current_span, SpanUpdate};
    /// update_current_span(SpanUpdate::new().name("step-2"));
    /// ```
    #[inline]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        if let Some(f) = self.fields_mut() {
            f.name = Some(name.into());
        }
        self
    }

    common_setters!(
        "{update_current_span, SpanUpdate}",
        "update_current_span(SpanUpdate::new()",
        ")"
    );
}

impl Update<GenerationLike> {
    generation_setters!(
        "{update_current_generation, GenerationUpdate}",
        "update_current_generation(GenerationUpdate::new()",
        ")"
    );
}

impl<K> Clone for Update<K> {
    fn clone(&self) -> Self {
        Update {
            fields: self.fields.clone(),
            _kind: PhantomData,
        }
    }
}

impl<K> fmt::Debug for Update<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Update")
            .field("fields", &self.fields)
            .finish()
    }
}

impl<K> Default for Update<K> {
    fn default() -> Self {
        Self::new()
    }
}

/// A span update applies to a generation too (it sets no generation field).
///
/// ```
/// use langfuse_tracing_core::observation::{generation, GenerationUpdate, SpanUpdate};
/// let g = generation("llm").start();
/// g.update(SpanUpdate::new().output(&"Paris"));
/// let u: GenerationUpdate = SpanUpdate::new().metadata("step", &1).into();
/// g.update(u.model("gpt-4o"));
/// ```
impl From<SpanUpdate> for GenerationUpdate {
    fn from(u: SpanUpdate) -> Self {
        Update {
            fields: u.fields,
            _kind: PhantomData,
        }
    }
}
