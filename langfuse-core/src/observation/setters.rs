//! The setters that updates and builders share, written once as macros: each type
//! that invokes them has `fn fields_mut(&mut self) -> Option<&mut Fields>`, `Some` only
//! when a Langfuse layer exists in this process, so values are encoded only then and
//! unobserved code pays one branch per setter.
//!
//! Every setter's documentation carries an example written from the invoking type:
//! `$import` is what the example imports from `observation`, and the example calls the
//! setter on `$open` and closes the statement with `$close` (for an update, the call
//! that applies it; for a builder, `.run(..)`).

/// The rustdoc example of one setter: `$call` between `$open` and `$close`.
macro_rules! example {
    ($import:literal, $open:literal, $call:literal, $close:literal) => {
        concat!(
            "```\nuse langfuse_tracing_core::observation::",
            $import,
            ";\n",
            $open,
            $call,
            $close,
            ";\n```"
        )
    };
}
pub(super) use example;

/// Setters every update and builder has.
macro_rules! common_setters {
    ($import:literal, $open:literal, $close:literal) => {
        /// The input (IO encoding: strings as they are, other values as JSON).
        ///
        #[doc = super::setters::example!($import, $open, r#".input(&serde_json::json!({"city": "Paris"}))"#, $close)]
        #[inline]
        pub fn input<T: ::serde::Serialize + ?Sized>(mut self, value: &T) -> Self {
            if let Some(f) = self.fields_mut() {
                f.input = Some(f.io(value));
            }
            self
        }
        /// The output (IO encoding).
        ///
        #[doc = super::setters::example!($import, $open, r#".output(&"15°C")"#, $close)]
        #[inline]
        pub fn output<T: ::serde::Serialize + ?Sized>(mut self, value: &T) -> Self {
            if let Some(f) = self.fields_mut() {
                f.output = Some(f.io(value));
            }
            self
        }
        /// One metadata key; a later value for the same key wins, other keys stay.
        ///
        #[doc = super::setters::example!($import, $open, r#".metadata("step", &2)"#, $close)]
        #[inline]
        pub fn metadata<T: ::serde::Serialize + ?Sized>(
            mut self,
            key: impl Into<String>,
            value: &T,
        ) -> Self {
            if let Some(f) = self.fields_mut() {
                f.metadata_index.merge(
                    &mut f.metadata,
                    key.into(),
                    $crate::encoding::encode_metadata(value),
                );
            }
            self
        }
        /// Metadata from an object (each top-level key separately, merged per key), or
        /// any other value as the observation's single metadata value.
        ///
        #[doc = super::setters::example!($import, $open, r#".metadata_object(&serde_json::json!({"region": "eu", "attempt": 1}))"#, $close)]
        #[inline]
        pub fn metadata_object<T: ::serde::Serialize + ?Sized>(mut self, value: &T) -> Self {
            if let Some(f) = self.fields_mut() {
                f.add_metadata_value(value);
            }
            self
        }
        /// The level; `Level::Error` also marks the OpenTelemetry status as error.
        ///
        #[doc = super::setters::example!($import, $open, ".level(langfuse_tracing_core::Level::Warning)", $close)]
        #[inline]
        pub fn level(mut self, level: $crate::Level) -> Self {
            if let Some(f) = self.fields_mut() {
                f.level = Some(level);
            }
            self
        }
        /// Text explaining the level (an error message).
        ///
        #[doc = super::setters::example!($import, $open, r#".level(langfuse_tracing_core::Level::Error).status_message("rate limited")"#, $close)]
        #[inline]
        pub fn status_message(mut self, message: impl Into<String>) -> Self {
            if let Some(f) = self.fields_mut() {
                f.status_message = Some(message.into());
            }
            self
        }
        /// The version of the code or prompt that produced this observation.
        ///
        #[doc = super::setters::example!($import, $open, r#".version("v2")"#, $close)]
        #[inline]
        pub fn version(mut self, version: impl Into<String>) -> Self {
            if let Some(f) = self.fields_mut() {
                f.version = Some(version.into());
            }
            self
        }
        /// The environment of this observation (overrides the configured one).
        ///
        #[doc = super::setters::example!($import, $open, r#".environment("staging")"#, $close)]
        #[inline]
        pub fn environment(mut self, environment: impl Into<String>) -> Self {
            if let Some(f) = self.fields_mut() {
                f.environment = Some(environment.into());
            }
            self
        }
        /// The release of this observation (overrides the configured one).
        ///
        #[doc = super::setters::example!($import, $open, r#".release("2024-06-01")"#, $close)]
        #[inline]
        pub fn release(mut self, release: impl Into<String>) -> Self {
            if let Some(f) = self.fields_mut() {
                f.release = Some(release.into());
            }
            self
        }
    };
}
pub(super) use common_setters;

/// Setters only generation-like updates and builders have.
macro_rules! generation_setters {
    ($import:literal, $open:literal, $close:literal) => {
        /// The model name (`gpt-4o`).
        ///
        #[doc = super::setters::example!($import, $open, r#".model("gpt-4o")"#, $close)]
        #[inline]
        pub fn model(mut self, model: impl Into<String>) -> Self {
            if let Some(f) = self.fields_mut() {
                f.model = Some(model.into());
            }
            self
        }
        /// Model parameters (`{"temperature": 0.2}`), IO-encoded.
        ///
        #[doc = super::setters::example!($import, $open, r#".model_parameters(&serde_json::json!({"temperature": 0.2}))"#, $close)]
        #[inline]
        pub fn model_parameters<T: ::serde::Serialize + ?Sized>(mut self, value: &T) -> Self {
            if let Some(f) = self.fields_mut() {
                f.model_parameters = Some($crate::encoding::encode_io(value));
            }
            self
        }
        /// Token usage (`{"input": 10, "output": 50}`), IO-encoded.
        ///
        #[doc = super::setters::example!($import, $open, r#".usage_details(&serde_json::json!({"input": 10, "output": 50}))"#, $close)]
        #[inline]
        pub fn usage_details<T: ::serde::Serialize + ?Sized>(mut self, value: &T) -> Self {
            if let Some(f) = self.fields_mut() {
                f.usage_details = Some($crate::encoding::encode_io(value));
            }
            self
        }
        /// Cost in USD (`{"input": 0.0001, "total": 0.0021}`), IO-encoded.
        ///
        #[doc = super::setters::example!($import, $open, r#".cost_details(&serde_json::json!({"input": 0.0001, "total": 0.0021}))"#, $close)]
        #[inline]
        pub fn cost_details<T: ::serde::Serialize + ?Sized>(mut self, value: &T) -> Self {
            if let Some(f) = self.fields_mut() {
                f.cost_details = Some($crate::encoding::encode_io(value));
            }
            self
        }
        /// When the first token arrived (time to first token).
        ///
        #[doc = super::setters::example!($import, $open, ".completion_start_time(std::time::SystemTime::now())", $close)]
        #[inline]
        pub fn completion_start_time(mut self, at: ::std::time::SystemTime) -> Self {
            if let Some(f) = self.fields_mut() {
                f.completion_start_time = Some($crate::__layer::time::io_encoded_timestamp(at));
            }
            self
        }
        /// The Langfuse prompt (name and version) this generation used.
        ///
        #[doc = super::setters::example!($import, $open, r#".prompt("movie-critic", 3)"#, $close)]
        #[inline]
        pub fn prompt(mut self, name: impl Into<String>, version: i64) -> Self {
            if let Some(f) = self.fields_mut() {
                f.prompt = Some((name.into(), version));
            }
            self
        }
        /// Links the prompt this generation used: a prompt client of
        /// `langfuse_tracing::prompts` (or a [`PromptLink`](crate::prompt::PromptLink)).
        /// A fallback prompt is never linked (reference §2.2): nothing is written.
        ///
        #[doc = super::setters::example!($import, $open, r#".link_prompt(langfuse_tracing_core::prompt::PromptLink::from(("movie-critic", 3)))"#, $close)]
        #[inline]
        pub fn link_prompt(mut self, prompt: impl Into<$crate::prompt::PromptLink>) -> Self {
            if let Some(link) = prompt.into().into_parts() {
                if let Some(f) = self.fields_mut() {
                    f.prompt = Some(link);
                }
            }
            self
        }
    };
}
pub(super) use generation_setters;
