//! Chat completions of an [`async-openai`](https://docs.rs/async-openai) client as
//! Langfuse generations (the cargo feature `async-openai`), like the Python SDK's OpenAI
//! integration.
//!
//! Wrap the client in [`Observed`]: `client.chat().create(request)` and
//! `client.chat().create_stream(request)` then each record one generation named
//! `OpenAI-generation`, a child of the observation current at the call (an
//! `#[observe]` function, a `run` block, a plain `tracing` span), with
//!
//! - the model (the request's, then the one the response names),
//! - the model parameters the request sets (`temperature`, `max_tokens`,
//!   `max_completion_tokens`, `top_p`, `frequency_penalty`, `presence_penalty`, `seed`,
//!   `stop`, `n`, `reasoning_effort`, `response_format`, ...),
//! - the input: the request's messages, or `{messages, tools, tool_choice, functions,
//!   function_call}` when it offers tools,
//! - the output: the choice's message (content, refusal, tool calls), an array of them
//!   for `n > 1`; streamed, the deltas joined into the same shape,
//! - the usage in OpenAI's shape (`prompt_tokens`, `completion_tokens`, `total_tokens`
//!   and the non-empty `*_tokens_details`), which the server converts; a stream has
//!   usage only when the request sets `stream_options.include_usage`,
//! - the completion start time (time to first token) at the first streamed chunk,
//! - the finish reason as metadata `finish_reason` (one choice),
//! - on an error, level `ERROR` and the error's text as status message.
//!
//! A streamed generation ends when the stream ends or is dropped (with what had arrived
//! by then); a chunk that failed makes it level `ERROR` with that error's text.
//! Everything else of the client (`config()`, and `models()`, `embeddings()`, ... with
//! their `async-openai` features) is reached through `Deref` and not observed. Without a
//! Langfuse layer installed, the wrapper encodes nothing.
//!
//! ```no_run
//! use async_openai::types::chat::{
//!     ChatCompletionRequestUserMessageArgs, CreateChatCompletionRequestArgs,
//! };
//! use langfuse_tracing::openai::Observed;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Observed::new(async_openai::Client::new());
//! let request = CreateChatCompletionRequestArgs::default()
//!     .model("gpt-4o-mini")
//!     .temperature(0.2)
//!     .messages([ChatCompletionRequestUserMessageArgs::default()
//!         .content("Tell me a joke")
//!         .build()?
//!         .into()])
//!     .build()?;
//! let response = client.chat().create(request).await?;
//! # let _ = response;
//! # Ok(())
//! # }
//! ```
//!
//! Name the generation, or give it metadata, a prompt link, a version, through the
//! builder it starts from:
//!
//! ```no_run
//! # use async_openai::types::chat::CreateChatCompletionRequest;
//! # async fn run(client: langfuse_tracing::openai::Observed<async_openai::config::OpenAIConfig>, request: CreateChatCompletionRequest) -> Result<(), async_openai::error::OpenAIError> {
//! use langfuse_tracing::observation::generation;
//! let response = client
//!     .chat()
//!     .generation(generation("joke").metadata("variant", &"b"))
//!     .create(request)
//!     .await?;
//! # let _ = response;
//! # Ok(())
//! # }
//! ```
//!
//! The feature enables `async-openai` without default features: only its chat API and
//! no TLS stack. HTTPS to the OpenAI API needs a TLS feature of `async-openai` (its
//! default `rustls`, or `native-tls`), which the application's own dependency on
//! `async-openai` normally brings; cargo merges the two.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Deref;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::SystemTime;

use async_openai::config::Config;
use async_openai::error::OpenAIError;
use async_openai::traits::RequestOptionsBuilder;
use async_openai::types::chat::{
    ChatCompletionResponseStream, CompletionUsage, CreateChatCompletionRequest,
    CreateChatCompletionResponse, CreateChatCompletionStreamResponse, FinishReason, Role,
};
use async_openai::{Chat, Client, RequestOptions};
use futures_core::Stream;
use langfuse_tracing_core::observation::{
    generation, GenerationLike, GenerationUpdate, Observation, ObservationBuilder,
};
use langfuse_tracing_core::Level;
use serde::Serialize;
use tracing::Instrument;

/// The name of a generation this integration records, unless
/// [`ObservedChat::generation`] names it (the Python SDK's default).
pub const DEFAULT_GENERATION_NAME: &str = "OpenAI-generation";

/// An `async-openai` [`Client`] whose chat completions are recorded as generations.
///
/// [`Observed::chat`] is the observed chat API; every other API group of the client
/// is reached through `Deref`, unobserved (the module documentation has an example).
#[derive(Clone, Debug)]
pub struct Observed<C: Config> {
    client: Client<C>,
}

impl<C: Config> Observed<C> {
    /// Wraps `client`.
    pub fn new(client: Client<C>) -> Self {
        Observed { client }
    }

    /// The wrapped client.
    pub fn inner(&self) -> &Client<C> {
        &self.client
    }

    /// The wrapped client, unwrapped.
    pub fn into_inner(self) -> Client<C> {
        self.client
    }

    /// The chat API, with `create` and `create_stream` observed.
    pub fn chat(&self) -> ObservedChat<'_, C> {
        ObservedChat {
            chat: self.client.chat(),
            generation: None,
        }
    }
}

impl<C: Config> From<Client<C>> for Observed<C> {
    fn from(client: Client<C>) -> Self {
        Observed::new(client)
    }
}

impl<C: Config> Deref for Observed<C> {
    type Target = Client<C>;

    fn deref(&self) -> &Client<C> {
        &self.client
    }
}

/// The chat API of an [`Observed`] client: `create` and `create_stream` each record a
/// generation. Request options (`header`, `query`, ...) apply as on `async-openai`'s
/// `Chat`; the other methods of `Chat` are reached through `Deref`, unobserved.
pub struct ObservedChat<'c, C: Config> {
    chat: Chat<'c, C>,
    generation: Option<ObservationBuilder<GenerationLike>>,
}

impl<C: Config> fmt::Debug for ObservedChat<'_, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObservedChat")
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl<'c, C: Config> ObservedChat<'c, C> {
    /// The builder the generation starts from, instead of
    /// `generation("OpenAI-generation")`: its name, metadata, prompt link, version,
    /// environment or trace context. Model, parameters and input come from the request
    /// (an example is in the module documentation).
    pub fn generation(mut self, builder: ObservationBuilder<GenerationLike>) -> Self {
        self.generation = Some(builder);
        self
    }

    /// `Chat::create`, recorded as a generation (ended when the response or the error
    /// arrives, or when the future is dropped).
    pub async fn create(
        self,
        request: CreateChatCompletionRequest,
    ) -> Result<CreateChatCompletionResponse, OpenAIError> {
        let obs = start(self.generation, &request);
        let result = self
            .chat
            .create(request)
            .instrument(obs.span().clone())
            .await;
        match &result {
            Ok(response) => {
                let mut update = GenerationUpdate::new();
                if !response.model.is_empty() {
                    update = update.model(response.model.as_str());
                }
                let messages: Vec<_> = response.choices.iter().map(|c| &c.message).collect();
                let finish = match response.choices.as_slice() {
                    [one] => one.finish_reason.as_ref(),
                    _ => None,
                };
                update = with_output(update, &messages, finish);
                update = with_usage(update, response.usage.as_ref());
                obs.update(update);
            }
            Err(error) => request_failed(&obs, error),
        }
        obs.end();
        result
    }

    /// `Chat::create_stream`, recorded as a generation that ends when the returned
    /// stream ends or is dropped. The output is joined from the deltas; the
    /// completion start time is the first chunk's arrival; usage comes with
    /// `stream_options.include_usage`.
    pub async fn create_stream(
        self,
        mut request: CreateChatCompletionRequest,
    ) -> Result<ChatCompletionResponseStream, OpenAIError> {
        // `async-openai` sets it too, unless its `byot` feature is on.
        request.stream.get_or_insert(true);
        let obs = start(self.generation, &request);
        match self
            .chat
            .create_stream(request)
            .instrument(obs.span().clone())
            .await
        {
            Ok(inner) => Ok(Box::pin(ObservedStream {
                inner,
                state: Some(Streamed::new(obs)),
            })),
            Err(error) => {
                request_failed(&obs, &error);
                obs.end();
                Err(error)
            }
        }
    }
}

impl<'c, C: Config> Deref for ObservedChat<'c, C> {
    type Target = Chat<'c, C>;

    fn deref(&self) -> &Chat<'c, C> {
        &self.chat
    }
}

impl<C: Config> RequestOptionsBuilder for ObservedChat<'_, C> {
    fn options_mut(&mut self) -> &mut RequestOptions {
        self.chat.options_mut()
    }

    fn options(&self) -> &RequestOptions {
        self.chat.options()
    }
}

/// Starts the generation of `request`, a child of the current observation.
fn start(
    builder: Option<ObservationBuilder<GenerationLike>>,
    request: &CreateChatCompletionRequest,
) -> Observation<GenerationLike> {
    builder
        .unwrap_or_else(|| generation(DEFAULT_GENERATION_NAME))
        .model(request.model.as_str())
        .model_parameters(&ModelParameters::of(request))
        .input(&Input::of(request))
        .start()
}

/// The request failed (no response, or an error status): level ERROR, the error's
/// text, and zero cost, as the Python SDK records it.
fn request_failed(obs: &Observation<GenerationLike>, error: &OpenAIError) {
    obs.update(
        GenerationUpdate::new()
            .level(Level::Error)
            .status_message(error.to_string())
            .cost_details(&ZERO_COST),
    );
}

#[derive(Serialize)]
struct Cost {
    input: u8,
    output: u8,
    total: u8,
}

const ZERO_COST: Cost = Cost {
    input: 0,
    output: 0,
    total: 0,
};

/// The output: one message, or an array for several choices; the finish reason of a
/// single choice as metadata.
fn with_output<T: Serialize>(
    update: GenerationUpdate,
    messages: &[T],
    finish_reason: Option<&FinishReason>,
) -> GenerationUpdate {
    let update = match messages {
        [] => return update,
        [one] => update.output(one),
        many => update.output(many),
    };
    match finish_reason {
        Some(reason) => update.metadata("finish_reason", reason),
        None => update,
    }
}

fn with_usage(update: GenerationUpdate, usage: Option<&CompletionUsage>) -> GenerationUpdate {
    match usage {
        Some(usage) => update.usage_details(&Usage::of(usage)),
        None => update,
    }
}

/// The input: the messages, with the tools offered when there are any (the Python
/// SDK's shape).
#[derive(Serialize)]
#[serde(untagged)]
enum Input<'a> {
    Messages(&'a [async_openai::types::chat::ChatCompletionRequestMessage]),
    WithTools {
        messages: &'a [async_openai::types::chat::ChatCompletionRequestMessage],
        #[serde(skip_serializing_if = "Option::is_none")]
        tools: Option<&'a [async_openai::types::chat::ChatCompletionTools]>,
        #[serde(skip_serializing_if = "Option::is_none")]
        tool_choice: Option<&'a async_openai::types::chat::ChatCompletionToolChoiceOption>,
        #[serde(skip_serializing_if = "Option::is_none")]
        functions: Option<&'a [async_openai::types::chat::ChatCompletionFunctions]>,
        #[serde(skip_serializing_if = "Option::is_none")]
        function_call: Option<&'a async_openai::types::chat::ChatCompletionFunctionCall>,
    },
}

impl<'a> Input<'a> {
    #[allow(deprecated)] // `functions` and `function_call`: still sent if set
    fn of(request: &'a CreateChatCompletionRequest) -> Self {
        if request.tools.is_none() && request.functions.is_none() {
            return Input::Messages(&request.messages);
        }
        Input::WithTools {
            messages: &request.messages,
            tools: request.tools.as_deref(),
            tool_choice: request.tool_choice.as_ref(),
            functions: request.functions.as_deref(),
            function_call: request.function_call.as_ref(),
        }
    }
}

/// The request's parameters that shape the generation, those set only (the server
/// keeps strings and numbers, and writes other values as JSON text).
#[derive(Serialize)]
struct ModelParameters<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frequency_penalty: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    presence_penalty: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop: Option<&'a async_openai::types::chat::StopConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    n: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_effort: Option<&'a async_openai::types::chat::ReasoningEffort>,
    #[serde(skip_serializing_if = "Option::is_none")]
    verbosity: Option<&'a async_openai::types::chat::Verbosity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<&'a async_openai::types::chat::ResponseFormat>,
    #[serde(skip_serializing_if = "Option::is_none")]
    logprobs: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_logprobs: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    logit_bias: Option<&'a std::collections::HashMap<String, i8>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service_tier: Option<&'a async_openai::types::chat::ServiceTier>,
}

impl<'a> ModelParameters<'a> {
    #[allow(deprecated)] // `max_tokens` and `seed`: still sent if set
    fn of(r: &'a CreateChatCompletionRequest) -> Self {
        ModelParameters {
            temperature: r.temperature,
            top_p: r.top_p,
            max_tokens: r.max_tokens,
            max_completion_tokens: r.max_completion_tokens,
            frequency_penalty: r.frequency_penalty,
            presence_penalty: r.presence_penalty,
            seed: r.seed,
            stop: r.stop.as_ref(),
            n: r.n,
            reasoning_effort: r.reasoning_effort.as_ref(),
            verbosity: r.verbosity.as_ref(),
            response_format: r.response_format.as_ref(),
            logprobs: r.logprobs,
            top_logprobs: r.top_logprobs,
            logit_bias: r.logit_bias.as_ref(),
            parallel_tool_calls: r.parallel_tool_calls,
            service_tier: r.service_tier.as_ref(),
        }
    }
}

/// Usage in OpenAI's shape, which the server converts to `input`, `output`, `total`
/// and `input_*` / `output_*` (each detail subtracted from its base). Details that
/// split the base by modality instead of counting a part of it (`text_tokens`,
/// `image_tokens`) are left out: subtracted, they would zero it.
#[derive(Serialize)]
struct Usage {
    prompt_tokens: u32,
    completion_tokens: u32,
    total_tokens: u32,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    prompt_tokens_details: BTreeMap<&'static str, i64>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    completion_tokens_details: BTreeMap<&'static str, i64>,
}

impl Usage {
    fn of(u: &CompletionUsage) -> Self {
        fn present(pairs: &[(&'static str, Option<i64>)]) -> BTreeMap<&'static str, i64> {
            pairs.iter().filter_map(|&(k, v)| Some((k, v?))).collect()
        }
        let prompt = u.prompt_tokens_details.as_ref().map(|d| {
            present(&[
                ("cached_tokens", d.cached_tokens.map(i64::from)),
                ("audio_tokens", d.audio_tokens.map(i64::from)),
                ("cache_write_tokens", d.cache_write_tokens),
            ])
        });
        let completion = u.completion_tokens_details.as_ref().map(|d| {
            present(&[
                ("reasoning_tokens", d.reasoning_tokens.map(i64::from)),
                ("audio_tokens", d.audio_tokens.map(i64::from)),
                (
                    "accepted_prediction_tokens",
                    d.accepted_prediction_tokens.map(i64::from),
                ),
                (
                    "rejected_prediction_tokens",
                    d.rejected_prediction_tokens.map(i64::from),
                ),
            ])
        });
        Usage {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
            total_tokens: u.total_tokens,
            prompt_tokens_details: prompt.unwrap_or_default(),
            completion_tokens_details: completion.unwrap_or_default(),
        }
    }
}

/// The stream handed to the caller: chunks pass through unchanged, and are joined
/// into the generation, which ends with the stream.
struct ObservedStream {
    inner: ChatCompletionResponseStream,
    /// `None` once the generation has ended.
    state: Option<Streamed>,
}

impl Stream for ObservedStream {
    type Item = Result<CreateChatCompletionStreamResponse, OpenAIError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let item = match self.inner.as_mut().poll_next(cx) {
            Poll::Ready(item) => item,
            Poll::Pending => return Poll::Pending,
        };
        match (&item, &mut self.state) {
            (Some(Ok(chunk)), Some(state)) => state.add(chunk),
            // A chunk that failed (one that is not JSON, say) does not end the stream.
            (Some(Err(error)), Some(state)) => {
                state.error.get_or_insert_with(|| error.to_string());
            }
            (None, _) => {
                if let Some(state) = self.state.take() {
                    state.finish();
                }
            }
            (Some(_), None) => {}
        }
        Poll::Ready(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl Drop for ObservedStream {
    fn drop(&mut self) {
        // Dropped before its end: the generation ends with what arrived.
        if let Some(state) = self.state.take() {
            state.finish();
        }
    }
}

/// What a stream has delivered so far.
struct Streamed {
    obs: Observation<GenerationLike>,
    first_chunk_at: Option<SystemTime>,
    model: Option<String>,
    usage: Option<CompletionUsage>,
    /// In order of their first delta; sorted by index at the end.
    choices: Vec<StreamedChoice>,
    /// The first chunk that failed.
    error: Option<String>,
}

/// One choice joined from its deltas, serialized as the message a plain response has.
#[derive(Serialize)]
struct StreamedChoice {
    #[serde(skip)]
    index: u32,
    #[serde(skip)]
    finish_reason: Option<FinishReason>,
    role: Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refusal: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<StreamedToolCall>,
    #[serde(skip_serializing_if = "Option::is_none")]
    function_call: Option<StreamedFunction>,
}

#[derive(Serialize)]
struct StreamedToolCall {
    #[serde(skip)]
    index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    r#type: &'static str,
    function: StreamedFunction,
}

#[derive(Serialize, Default)]
struct StreamedFunction {
    name: String,
    arguments: String,
}

impl StreamedFunction {
    fn add(&mut self, delta: &async_openai::types::chat::FunctionCallStream) {
        if let Some(name) = &delta.name {
            self.name.push_str(name);
        }
        if let Some(arguments) = &delta.arguments {
            self.arguments.push_str(arguments);
        }
    }
}

fn append(to: &mut Option<String>, text: &Option<String>) {
    if let Some(text) = text {
        to.get_or_insert_with(String::new).push_str(text);
    }
}

impl Streamed {
    fn new(obs: Observation<GenerationLike>) -> Self {
        Streamed {
            obs,
            first_chunk_at: None,
            model: None,
            usage: None,
            choices: Vec::new(),
            error: None,
        }
    }

    fn add(&mut self, chunk: &CreateChatCompletionStreamResponse) {
        self.first_chunk_at.get_or_insert_with(SystemTime::now);
        if self.model.is_none() && !chunk.model.is_empty() {
            self.model = Some(chunk.model.clone());
        }
        if let Some(usage) = &chunk.usage {
            self.usage = Some(usage.clone());
        }
        for choice in &chunk.choices {
            let joined = self.choice(choice.index);
            let delta = &choice.delta;
            if let Some(role) = delta.role {
                joined.role = role;
            }
            append(&mut joined.content, &delta.content);
            append(&mut joined.refusal, &delta.refusal);
            #[allow(deprecated)] // `function_call`: still streamed by older models
            if let Some(call) = &delta.function_call {
                joined.function_call.get_or_insert_default().add(call);
            }
            for call in delta.tool_calls.iter().flatten() {
                let joined_call = match joined.tool_calls.iter().position(|c| c.index == call.index)
                {
                    Some(i) => &mut joined.tool_calls[i],
                    None => {
                        joined.tool_calls.push(StreamedToolCall {
                            index: call.index,
                            id: None,
                            r#type: "function",
                            function: StreamedFunction::default(),
                        });
                        joined.tool_calls.last_mut().expect("just pushed")
                    }
                };
                if call.id.is_some() {
                    joined_call.id.clone_from(&call.id);
                }
                if let Some(function) = &call.function {
                    joined_call.function.add(function);
                }
            }
            if choice.finish_reason.is_some() {
                joined.finish_reason.clone_from(&choice.finish_reason);
            }
        }
    }

    fn choice(&mut self, index: u32) -> &mut StreamedChoice {
        match self.choices.iter().position(|c| c.index == index) {
            Some(i) => &mut self.choices[i],
            None => {
                self.choices.push(StreamedChoice {
                    index,
                    finish_reason: None,
                    role: Role::Assistant,
                    content: None,
                    refusal: None,
                    tool_calls: Vec::new(),
                    function_call: None,
                });
                self.choices.last_mut().expect("just pushed")
            }
        }
    }

    /// Records what arrived (and the first error, if a chunk failed) and ends the
    /// generation.
    fn finish(mut self) {
        let mut update = GenerationUpdate::new();
        if let Some(model) = &self.model {
            update = update.model(model.as_str());
        }
        if let Some(at) = self.first_chunk_at {
            update = update.completion_start_time(at);
        }
        self.choices.sort_by_key(|c| c.index);
        let finish = match self.choices.as_slice() {
            [one] => one.finish_reason.as_ref(),
            _ => None,
        };
        update = with_output(update, &self.choices, finish);
        update = with_usage(update, self.usage.as_ref());
        if let Some(error) = self.error.take() {
            update = update.level(Level::Error).status_message(error);
        }
        self.obs.update(update);
        self.obs.end();
    }
}
