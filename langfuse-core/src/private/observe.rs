//! Runtime support for `#[observe]`: value capture, panic capture, and the wrappers
//! that keep an observation open across a future, a stream or an iterator.
//!
//! Everything here is called by macro-generated code only. The capture traits use
//! *autoref specialization*: the generated code calls a method on `&&&Wrap(&x)` with
//! all the traits below imported, and method resolution picks the most specific impl
//! that applies (`Serialize`, else `Debug`, else the type name). Because the choice
//! happens where the type is concrete, capture never adds a trait bound to the user's
//! function and never stops it from compiling.

use core::any::{type_name, Any};
use core::convert::Infallible;
use core::fmt::{self, Debug, Display, Write as _};
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::borrow::Cow;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::Arc;

use futures_core::Stream;
use serde::Serialize;
use tracing::Span;

use crate::encoding::{write_io, write_json, write_json_str, JsonStyle};
use crate::mask::Encoded;

// ---------------------------------------------------------------------------
// Value capture (inputs and outputs)
// ---------------------------------------------------------------------------

/// A borrowed value whose capture strategy is chosen by autoref specialization.
pub struct Wrap<'a, T: ?Sized>(pub &'a T);

/// A captured output: its encoded text, and how a mask reads it back.
#[derive(Debug)]
pub struct Captured {
    text: String,
    kind: Encoded,
}

impl Captured {
    /// The encoded text.
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// Capture through `Serialize` (the most specific impl: three references deep).
pub trait ViaSerialize {
    /// Appends the value as one JSON value (IO style) to `out`.
    fn __langfuse_json(&self, out: &mut String);
    /// The IO encoding of the value as a whole; `None` for JSON `null` (`()`, `None`).
    /// Once a mask exists in the process: JSON (a string quoted), for the mask to read.
    fn __langfuse_io(&self) -> Option<Captured>;
}

/// Capture through `Debug`, for values that are not `Serialize`.
pub trait ViaDebug {
    /// Appends the `Debug` text as a JSON string.
    fn __langfuse_json(&self, out: &mut String);
    /// The `Debug` text, verbatim (a top-level string in the IO encoding).
    fn __langfuse_io(&self) -> Option<Captured>;
}

/// Capture as the type name, for values with neither `Serialize` nor `Debug`.
pub trait ViaTypeName {
    /// Appends the type name as a JSON string.
    fn __langfuse_json(&self, out: &mut String);
    /// The type name, verbatim.
    fn __langfuse_io(&self) -> Option<Captured>;
}

impl<T: Serialize + ?Sized> ViaSerialize for &&Wrap<'_, T> {
    #[inline]
    fn __langfuse_json(&self, out: &mut String) {
        write_json(out, self.0, JsonStyle::Io);
    }

    #[inline]
    fn __langfuse_io(&self) -> Option<Captured> {
        let mut out = crate::__layer::recycle::buffer(0);
        let kind = if crate::mask::mask_installed() {
            write_json(&mut out, self.0, JsonStyle::Io);
            Encoded::Json
        } else {
            write_io(&mut out, self.0);
            Encoded::Io
        };
        (out != "null").then_some(Captured { text: out, kind })
    }
}

impl<T: Debug + ?Sized> ViaDebug for &Wrap<'_, T> {
    #[inline]
    fn __langfuse_json(&self, out: &mut String) {
        write_json_str(out, &debug_string(self.0), JsonStyle::Io);
    }

    #[inline]
    fn __langfuse_io(&self) -> Option<Captured> {
        Some(Captured {
            text: debug_string(self.0),
            kind: Encoded::Text,
        })
    }
}

impl<T: ?Sized> ViaTypeName for Wrap<'_, T> {
    #[inline]
    fn __langfuse_json(&self, out: &mut String) {
        write_json_str(out, type_name::<T>(), JsonStyle::Io);
    }

    #[inline]
    fn __langfuse_io(&self) -> Option<Captured> {
        Some(Captured {
            text: type_name::<T>().to_owned(),
            kind: Encoded::Text,
        })
    }
}

/// `format!("{:?}")` that survives a `Debug` impl returning an error.
fn debug_string<T: Debug + ?Sized>(value: &T) -> String {
    let mut s = String::new();
    if write!(s, "{value:?}").is_err() {
        s.clear();
        s.push_str(type_name::<T>());
    }
    s
}

/// Builds the input object `{"param": value, ...}` piece by piece, in the IO style.
///
/// ```
/// use langfuse_tracing_core::__private::observe::{InputObject, ViaSerialize, ViaDebug, ViaTypeName, Wrap};
/// struct Opaque;
/// let (q, k, o) = ("what?", 3, Opaque);
/// let mut input = InputObject::new();
/// (&&&Wrap(&q)).__langfuse_json(input.key("query"));
/// (&&&Wrap(&k)).__langfuse_json(input.key("k"));
/// (&&&Wrap(&o)).__langfuse_json(input.key("o"));
/// assert!(input.into_string().starts_with(r#"{"query": "what?", "k": 3, "o": ""#));
/// ```
#[derive(Debug)]
pub struct InputObject {
    buf: String,
}

impl Default for InputObject {
    fn default() -> Self {
        Self::new()
    }
}

impl InputObject {
    /// An empty object (`{`).
    #[inline]
    pub fn new() -> Self {
        let mut buf = crate::__layer::recycle::buffer(64);
        buf.push('{');
        InputObject { buf }
    }

    /// Writes the separator and `"name": `, and returns the buffer for the value.
    #[inline]
    pub fn key(&mut self, name: &str) -> &mut String {
        let (item, key) = JsonStyle::Io.separators();
        if self.buf.len() > 1 {
            self.buf.push_str(item);
        }
        write_json_str(&mut self.buf, name, JsonStyle::Io);
        self.buf.push_str(key);
        &mut self.buf
    }

    /// Like [`InputObject::key`] for a key the macro encoded at compile time:
    /// `encoded` is the quoted key followed by the key separator (`"query": `).
    ///
    /// ```
    /// use langfuse_tracing_core::__private::observe::InputObject;
    /// let mut input = InputObject::new();
    /// input.encoded_key("\"a\": ").push('1');
    /// input.encoded_key("\"b\": ").push('2');
    /// assert_eq!(input.into_string(), r#"{"a": 1, "b": 2}"#);
    /// ```
    #[inline]
    pub fn encoded_key(&mut self, encoded: &str) -> &mut String {
        if self.buf.len() > 1 {
            self.buf.push_str(JsonStyle::Io.separators().0);
        }
        self.buf.push_str(encoded);
        &mut self.buf
    }

    /// The finished object text.
    #[inline]
    pub fn into_string(mut self) -> String {
        self.buf.push('}');
        self.buf
    }

    /// Stores the finished object as the observation's input.
    #[inline]
    pub fn finish(self, span: &Span) {
        super::set_input(span, self.into_string());
    }
}

/// Builds and stores the input object; `write` adds the fields.
///
/// Out of line, so the code that builds the input stays off the hot path of the
/// observed function (it matters for `async fn` state machines).
///
/// A panic in a `Serialize` or `Debug` impl of an argument is recorded as a panicking
/// body is (level ERROR, the panic message), then continues: the call fails as it
/// would if that impl were called by the function itself.
#[inline(never)]
pub fn capture_input(span: &Span, write: impl FnOnce(&mut InputObject)) {
    let mut input = InputObject::new();
    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| write(&mut input))) {
        record_panic_and_resume(span, payload);
    }
    input.finish(span);
}

/// Runs the output capture of the return value (`Serialize`, `Debug`, an error's
/// `Display`); a panic in it is recorded on `span`, then continues, as in
/// [`capture_input`].
#[inline]
pub fn capture_output(span: &Span, capture: impl FnOnce()) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(capture)) {
        record_panic_and_resume(span, payload);
    }
}

/// Stores an output produced by one of the capture traits (`None`: nothing to store).
#[inline]
pub fn set_output(span: &Span, captured: Option<Captured>) {
    if let Some(c) = captured {
        super::set_output_as(span, c.text, c.kind);
    }
}

// ---------------------------------------------------------------------------
// Result detection
// ---------------------------------------------------------------------------

/// A return value seen through autoref specialization: `Result`s split, others pass.
pub struct Out<'a, T: ?Sized>(pub &'a T);

/// `Out<Result<T, E>>`: `Ok` is the output, `Err` is the error (two references deep).
pub trait ViaResult<'a> {
    /// The `Ok` type.
    type Ok: ?Sized + 'a;
    /// The `Err` type.
    type Err: ?Sized + 'a;
    /// The value to capture, or the error to report.
    fn __langfuse_split(&self) -> Result<&'a Self::Ok, &'a Self::Err>;
}

/// Any other value: always the output.
pub trait ViaValue<'a> {
    /// The value's type.
    type Ok: ?Sized + 'a;
    /// The value to capture (never an error).
    fn __langfuse_split(&self) -> Result<&'a Self::Ok, &'a Infallible>;
}

impl<'a, T: 'a, E: 'a> ViaResult<'a> for &Out<'a, Result<T, E>> {
    type Ok = T;
    type Err = E;
    #[inline]
    fn __langfuse_split(&self) -> Result<&'a T, &'a E> {
        self.0.as_ref()
    }
}

impl<'a, T: ?Sized + 'a> ViaValue<'a> for Out<'a, T> {
    type Ok = T;
    #[inline]
    fn __langfuse_split(&self) -> Result<&'a T, &'a Infallible> {
        Ok(self.0)
    }
}

// ---------------------------------------------------------------------------
// Error messages
// ---------------------------------------------------------------------------

/// An error whose message is chosen by autoref specialization.
pub struct ErrWrap<'a, E: ?Sized>(pub &'a E);

/// Message through `Display` (`e.to_string()`), the most specific impl.
pub trait ErrViaDisplay {
    /// The status message; the type name when `Display` writes nothing.
    fn __langfuse_message(&self) -> String;
}

/// Message through `Debug`, for errors without `Display`.
pub trait ErrViaDebug {
    /// The status message.
    fn __langfuse_message(&self) -> String;
}

/// The type name, for errors with neither.
pub trait ErrViaTypeName {
    /// The status message.
    fn __langfuse_message(&self) -> String;
}

impl<E: Display + ?Sized> ErrViaDisplay for &&ErrWrap<'_, E> {
    fn __langfuse_message(&self) -> String {
        let mut s = String::new();
        if write!(s, "{}", self.0).is_err() || s.is_empty() {
            // As the reference's `type(e).__name__`: `KeyError`, not its path.
            return crate::encoding::short_type_name(type_name::<E>()).to_owned();
        }
        s
    }
}

impl<E: Debug + ?Sized> ErrViaDebug for &ErrWrap<'_, E> {
    fn __langfuse_message(&self) -> String {
        let s = debug_string(self.0);
        if s.is_empty() {
            return crate::encoding::short_type_name(type_name::<E>()).to_owned();
        }
        s
    }
}

impl<E: ?Sized> ErrViaTypeName for ErrWrap<'_, E> {
    fn __langfuse_message(&self) -> String {
        type_name::<E>().to_owned()
    }
}

/// The message of a panic payload: `&str` and `String` payloads, else `"panic"`.
///
/// ```
/// use langfuse_tracing_core::__private::observe::panic_message;
/// let payload = std::panic::catch_unwind(|| panic!("boom {}", 7)).unwrap_err();
/// assert_eq!(panic_message(&*payload), "boom 7");
/// ```
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".to_owned()
    }
}

/// Records a panic on `span` and continues unwinding with the same payload.
#[cold]
#[inline(never)]
fn record_panic_and_resume(span: &Span, payload: Box<dyn Any + Send>) -> ! {
    super::set_error(span, panic_message(&*payload));
    resume_unwind(payload)
}

// ---------------------------------------------------------------------------
// Running a synchronous body
// ---------------------------------------------------------------------------

/// Runs `body`; when the observation is recorded, a panic sets level ERROR with the
/// panic message and then continues unchanged.
///
/// Takes `FnOnce` so the body may move out of (and return borrows of) its captures.
/// `AssertUnwindSafe` is right here: the panic is always resumed, so no caller can
/// observe broken invariants through this function.
#[inline(always)]
pub fn run<R>(recording: bool, span: &Span, body: impl FnOnce() -> R) -> R {
    if recording {
        match catch_unwind(AssertUnwindSafe(body)) {
            Ok(value) => value,
            Err(payload) => record_panic_and_resume(span, payload),
        }
    } else {
        body()
    }
}

/// Polls `f` inside `span`, recording a panic when `recording`.
#[inline(always)]
fn guarded<R>(recording: bool, span: &Span, f: impl FnOnce() -> R) -> R {
    let _enter = span.enter();
    run(recording, span, f)
}

// ---------------------------------------------------------------------------
// Futures
// ---------------------------------------------------------------------------

/// What an [`ObservedFuture`] does with its output.
pub trait Finish<T> {
    /// Called once with the output, only when the observation is recorded.
    fn finish(&self, span: &Span, output: &T, capture_output: bool);
}

impl<T> Finish<T> for fn(&Span, &T, bool) {
    #[inline]
    fn finish(&self, span: &Span, output: &T, capture_output: bool) {
        self(span, output, capture_output)
    }
}

pin_project_lite::pin_project! {
    /// A future polled inside its observation's span, with panics recorded.
    ///
    /// Like `tracing::Instrument`, the span is entered on every poll, so anything the
    /// future does (nested observations included) is a child of it across `.await`s.
    #[must_use = "futures do nothing unless polled"]
    pub struct ObservedFuture<F, C> {
        #[pin]
        inner: F,
        span: Span,
        recording: bool,
        capture_output: bool,
        finish: C,
    }
}

impl<F: Future> ObservedFuture<F, fn(&Span, &F::Output, bool)> {
    /// Wraps an observed future; `finish` captures its output (generated where the
    /// output type is concrete).
    ///
    /// The span is released as soon as the future completes, so the observation ends
    /// with the work rather than when the future is dropped.
    #[inline]
    pub fn with_output(
        inner: F,
        span: Span,
        recording: bool,
        capture_output: bool,
        finish: fn(&Span, &F::Output, bool),
    ) -> Self {
        ObservedFuture {
            inner,
            span,
            recording,
            capture_output,
            finish,
        }
    }
}

impl<F: Future, C: Finish<F::Output>> Future for ObservedFuture<F, C> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        if !*this.recording {
            // Enabled for other layers but not recorded: just keep the span current.
            let _enter = this.span.enter();
            return this.inner.poll(cx);
        }
        poll_recorded(this.inner, cx, this.span, this.finish, *this.capture_output)
    }
}

/// The recorded path of [`ObservedFuture::poll`], out of line: panics are caught and
/// recorded, the output captured, and the observation closed on completion.
#[inline(never)]
fn poll_recorded<F: Future, C: Finish<F::Output>>(
    inner: Pin<&mut F>,
    cx: &mut Context<'_>,
    span: &mut Span,
    finish: &C,
    capture_output: bool,
) -> Poll<F::Output> {
    let poll = guarded(true, span, || inner.poll(cx));
    if let Poll::Ready(output) = &poll {
        finish.finish(span, output, capture_output);
        // Close the observation now, not when the future is dropped.
        drop(core::mem::replace(span, Span::none()));
    }
    poll
}

// ---------------------------------------------------------------------------
// Streams and iterators
// ---------------------------------------------------------------------------

/// Collects the items of an observed stream or iterator into its output.
///
/// Items that are strings (`String`, `&str`, `Cow<str>`, ...) are concatenated; any
/// other item type gives a JSON list. An `Err` item of a `Result` stream records the
/// error instead (the first one wins) and is left out of the output.
#[derive(Debug)]
pub struct ItemCollector {
    capture: bool,
    text: bool,
    items: usize,
    buf: String,
    error: Option<String>,
    /// Items left out once the output reached [`MAX_COLLECTED_BYTES`].
    left_out: usize,
}

/// The most a stream's or iterator's output collects: a stream that runs for hours
/// must not grow its observation without bound (an output this large would be dropped
/// by the export queue anyway). Later items are counted and named at the end.
pub const MAX_COLLECTED_BYTES: usize = 8 << 20;

impl ItemCollector {
    fn new(capture: bool) -> Self {
        ItemCollector {
            capture,
            text: false,
            items: 0,
            buf: String::new(),
            error: None,
            left_out: 0,
        }
    }

    /// Whether to collect one more item (false, and counted, once the output is full).
    #[inline]
    fn room(&mut self) -> bool {
        if self.buf.len() < MAX_COLLECTED_BYTES {
            return true;
        }
        self.left_out += 1;
        false
    }

    /// Appends a string item.
    #[inline]
    pub fn push_text(&mut self, s: &str) {
        if self.capture && self.room() {
            self.text = true;
            self.items += 1;
            self.buf.push_str(s);
        }
    }

    /// Appends one JSON list element, written by `write`.
    #[inline]
    pub fn push_json(&mut self, write: impl FnOnce(&mut String)) {
        if self.capture && self.room() {
            let (item, _) = JsonStyle::Io.separators();
            self.buf.push_str(if self.items == 0 { "[" } else { item });
            self.items += 1;
            write(&mut self.buf);
        }
    }

    /// Replaces the output by `text` (the `transform_to_string` result), sent raw.
    fn set_transformed(&mut self, text: String) {
        self.capture = true;
        self.text = true;
        self.items = 1;
        self.buf = text;
    }

    /// Records an error item (the first error is kept).
    #[inline]
    pub fn push_error(&mut self, message: String) {
        if self.error.is_none() {
            self.error = Some(message);
        }
    }

    /// Stores output and error on `span`.
    fn finish(&mut self, span: &Span) {
        if let Some(message) = self.error.take() {
            super::set_error(span, message);
        }
        if self.capture {
            let mut out = core::mem::take(&mut self.buf);
            let left_out = (self.left_out > 0).then(|| {
                format!(
                    "... {} more items not captured (output cut at {MAX_COLLECTED_BYTES} bytes)",
                    self.left_out
                )
            });
            let kind = if !self.text && self.items > 0 {
                if let Some(note) = left_out {
                    let (item, _) = JsonStyle::Io.separators();
                    out.push_str(item);
                    write_json_str(&mut out, &note, JsonStyle::Io);
                }
                out.push(']');
                Encoded::Json
            } else {
                if let Some(note) = left_out {
                    out.push_str(&note);
                }
                Encoded::Text
            };
            // An empty stream gives "" (like the Python SDK's empty generator).
            super::set_output_as(span, out, kind);
        }
    }
}

/// A borrowed stream/iterator item, collected by autoref specialization.
pub struct Item<'a, T: ?Sized>(pub &'a T);

/// String items: concatenated (the most specific impls, four references deep).
pub trait ItemViaText {
    /// Adds the item to the collector.
    fn __langfuse_collect(&self, c: &mut ItemCollector);
}

/// `Serialize` items: a JSON list element.
pub trait ItemViaSerialize {
    /// Adds the item to the collector.
    fn __langfuse_collect(&self, c: &mut ItemCollector);
}

/// `Debug` items: a JSON string of the `Debug` text.
pub trait ItemViaDebug {
    /// Adds the item to the collector.
    fn __langfuse_collect(&self, c: &mut ItemCollector);
}

/// Anything else: the type name.
pub trait ItemViaTypeName {
    /// Adds the item to the collector.
    fn __langfuse_collect(&self, c: &mut ItemCollector);
}

macro_rules! text_items {
    ($($ty:ty),* $(,)?) => {$(
        impl ItemViaText for &&&Item<'_, $ty> {
            #[inline]
            fn __langfuse_collect(&self, c: &mut ItemCollector) {
                c.push_text(&self.0[..]);
            }
        }
    )*};
}

text_items!(
    String,
    &str,
    &String,
    &mut str,
    Box<str>,
    Rc<str>,
    Arc<str>,
    Cow<'_, str>
);

impl<T: Serialize + ?Sized> ItemViaSerialize for &&Item<'_, T> {
    #[inline]
    fn __langfuse_collect(&self, c: &mut ItemCollector) {
        c.push_json(|out| write_json(out, self.0, JsonStyle::Io));
    }
}

impl<T: Debug + ?Sized> ItemViaDebug for &Item<'_, T> {
    #[inline]
    fn __langfuse_collect(&self, c: &mut ItemCollector) {
        c.push_json(|out| write_json_str(out, &debug_string(self.0), JsonStyle::Io));
    }
}

impl<T: ?Sized> ItemViaTypeName for Item<'_, T> {
    #[inline]
    fn __langfuse_collect(&self, c: &mut ItemCollector) {
        c.push_json(|out| write_json_str(out, type_name::<T>(), JsonStyle::Io));
    }
}

/// The per-item function the macro generates where the item type is concrete.
pub type CollectFn<T> = fn(&mut ItemCollector, &T);

/// What a wrapped stream/iterator does with its items: [`CollectFn`] (the default
/// output) or [`Transformed`] (`transform_to_string`).
pub trait ItemSink {
    /// Called once when the observation ends, before the output is stored.
    fn finish(&mut self, c: &mut ItemCollector);
}

/// Adds one item.
pub trait CollectItem<T>: ItemSink {
    /// Adds `item` (and records an error item).
    fn collect(&mut self, c: &mut ItemCollector, item: &T);
}

impl<T> ItemSink for CollectFn<T> {
    #[inline]
    fn finish(&mut self, _: &mut ItemCollector) {}
}

impl<T> CollectItem<T> for CollectFn<T> {
    #[inline]
    fn collect(&mut self, c: &mut ItemCollector, item: &T) {
        self(c, item)
    }
}

/// `#[observe(transform_to_string = f)]`: the items are kept (cloned) and the output is
/// `f(&items)`, sent as text, when the stream ends (exhausted or dropped), as the
/// reference's `transform_to_string(items)`. Error items still set the level.
pub struct Transformed<T> {
    collect: CollectFn<T>,
    transform: fn(&[T]) -> String,
    keep: bool,
    items: Vec<T>,
}

impl<T> Transformed<T> {
    fn new(collect: CollectFn<T>, transform: fn(&[T]) -> String, keep: bool) -> Self {
        Transformed {
            collect,
            transform,
            keep,
            items: Vec::new(),
        }
    }
}

impl<T> Debug for Transformed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transformed")
            .field("items", &self.items.len())
            .finish()
    }
}

impl<T> ItemSink for Transformed<T> {
    fn finish(&mut self, c: &mut ItemCollector) {
        if !self.keep {
            return;
        }
        let items = core::mem::take(&mut self.items);
        let transform = self.transform;
        // A panicking transform is recorded on the observation; it never reaches the
        // code that consumes the stream (this may run in `Drop`).
        match catch_unwind(AssertUnwindSafe(|| transform(&items))) {
            Ok(text) => c.set_transformed(text),
            Err(payload) => c.push_error(format!(
                "transform_to_string panicked: {}",
                panic_message(&*payload)
            )),
        }
    }
}

impl<T: Clone> CollectItem<T> for Transformed<T> {
    #[inline]
    fn collect(&mut self, c: &mut ItemCollector, item: &T) {
        // The default collection, with output capture off: only error items count.
        (self.collect)(c, item);
        if self.keep {
            self.items.push(item.clone());
        }
    }
}

/// Observation state shared by [`ObservedStream`] and [`ObservedIter`]. Its `Drop`
/// ends the observation when the stream is dropped before it is exhausted.
struct ItemState<C: ItemSink> {
    span: Span,
    recording: bool,
    generation_like: bool,
    started: bool,
    done: bool,
    collect: C,
    collector: ItemCollector,
}

impl<C: ItemSink> ItemState<C> {
    /// `o.capture_output` is the collector's own output capture (off when a
    /// [`Transformed`] makes the output).
    fn new(o: Observing, collect: C) -> Self {
        ItemState {
            span: o.span,
            recording: o.recording,
            generation_like: o.generation_like,
            started: false,
            done: !o.recording,
            collect,
            collector: ItemCollector::new(o.capture_output),
        }
    }

    /// Polls/advances the inner stream inside the span, recording panics.
    #[inline]
    fn step<R>(&mut self, f: impl FnOnce() -> R) -> R {
        if self.done {
            // Not recorded (or already ended): still enter the span so nested spans
            // keep their parent.
            let _enter = self.span.enter();
            return f();
        }
        let _enter = self.span.enter();
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(value) => value,
            Err(payload) => {
                self.done = true;
                record_panic_and_resume(&self.span, payload)
            }
        }
    }

    #[inline]
    fn item<T>(&mut self, item: &T)
    where
        C: CollectItem<T>,
    {
        if self.recording && !self.done {
            if !self.started {
                self.started = true;
                if self.generation_like {
                    super::set_completion_start_now(&self.span);
                }
            }
            // A panicking `Serialize` / `Debug` of an item: recorded, then continues.
            let collector = &mut self.collector;
            let collect = &mut self.collect;
            if let Err(payload) =
                catch_unwind(AssertUnwindSafe(|| collect.collect(collector, item)))
            {
                self.done = true;
                record_panic_and_resume(&self.span, payload);
            }
        }
    }

    /// Stores output and error, then closes the observation.
    fn end(&mut self) {
        if !self.done {
            self.done = true;
            self.collect.finish(&mut self.collector);
            self.collector.finish(&self.span);
        }
        drop(core::mem::replace(&mut self.span, Span::none()));
    }
}

impl<C: ItemSink> Drop for ItemState<C> {
    fn drop(&mut self) {
        if !self.done && !std::thread::panicking() {
            self.done = true;
            self.collect.finish(&mut self.collector);
            self.collector.finish(&self.span);
        }
    }
}

pin_project_lite::pin_project! {
    /// A stream whose observation stays open until it is exhausted or dropped.
    ///
    /// Each poll runs inside the span; the items become the output; for
    /// generation-like observations the first item sets `completion_start_time`.
    #[must_use = "streams do nothing unless polled"]
    pub struct ObservedStream<S, C: ItemSink> {
        #[pin]
        inner: S,
        state: ItemState<C>,
    }
}

impl<S: Stream, C: CollectItem<S::Item>> Stream for ObservedStream<S, C> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let this = self.project();
        let inner = this.inner;
        let state = this.state;
        if state.span.is_none() && state.done {
            // Already ended; keep forwarding without observing.
            return inner.poll_next(cx);
        }
        let poll = state.step(|| inner.poll_next(cx));
        match &poll {
            Poll::Ready(Some(item)) => state.item(item),
            Poll::Ready(None) => state.end(),
            Poll::Pending => {}
        }
        poll
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

// `#[observe(stream)]` / `#[observe(iterator)]` on a return type that is not one: the
// generated code asks `(&&StreamProbe(&ret)).__langfuse_stream()` which wrapper applies
// (autoref specialization, as for captures). A stream gets [`AsStream`]; anything else
// falls through to the probe whose bound is the error, worded for the attribute, and to
// a wrapper that returns `!` (so no second error about these types follows).

/// A borrowed return value, probed for `Stream` / `Iterator`.
pub struct StreamProbe<'a, T>(pub &'a T);

/// Wraps a `Stream` in an [`ObservedStream`].
#[derive(Clone, Copy, Debug)]
pub struct AsStream;
/// Wraps an `Iterator` in an [`ObservedIter`].
#[derive(Clone, Copy, Debug)]
pub struct AsIter;
/// The return type is not what the attribute needs; the probe has already failed.
#[derive(Clone, Copy, Debug)]
pub struct NotApplicable;

/// The return type is a `Stream`.
pub trait ProbeStream {
    /// The wrapper to use.
    fn __langfuse_stream(&self) -> AsStream;
}
impl<S: Stream> ProbeStream for &StreamProbe<'_, S> {
    #[inline]
    fn __langfuse_stream(&self) -> AsStream {
        AsStream
    }
}

/// The return type is an `Iterator`.
pub trait ProbeIter {
    /// The wrapper to use.
    fn __langfuse_iterator(&self) -> AsIter;
}
impl<I: Iterator> ProbeIter for &StreamProbe<'_, I> {
    #[inline]
    fn __langfuse_iterator(&self) -> AsIter {
        AsIter
    }
}

/// Implemented by no type: the bound that reports `stream` on a non-stream.
#[diagnostic::on_unimplemented(
    message = "`#[observe(stream)]` needs a function that returns a `Stream`; `{Self}` is not one",
    label = "`{Self}` is not a `Stream`",
    note = "return `impl Stream<Item = T>` or a boxed stream, or remove `stream` (an iterator takes `iterator`; a future needs no argument)"
)]
pub trait ReturnsAStream {}

/// Implemented by no type: the bound that reports `iterator` on a non-iterator.
#[diagnostic::on_unimplemented(
    message = "`#[observe(iterator)]` needs a function that returns an `Iterator`; `{Self}` is not one",
    label = "`{Self}` is not an `Iterator`",
    note = "return `impl Iterator<Item = T>` or a boxed iterator, or remove `iterator` (a stream takes `stream`)"
)]
pub trait ReturnsAnIterator {}

/// The fallback probes: they only compile for types that are neither (never).
pub trait ProbeFallback {
    /// The probed type.
    type Probed;
    /// `stream` on something else.
    fn __langfuse_stream(&self) -> NotApplicable
    where
        Self::Probed: ReturnsAStream;
    /// `iterator` on something else.
    fn __langfuse_iterator(&self) -> NotApplicable
    where
        Self::Probed: ReturnsAnIterator;
}
impl<T> ProbeFallback for StreamProbe<'_, T> {
    type Probed = T;
    fn __langfuse_stream(&self) -> NotApplicable
    where
        T: ReturnsAStream,
    {
        NotApplicable
    }
    fn __langfuse_iterator(&self) -> NotApplicable
    where
        T: ReturnsAnIterator,
    {
        NotApplicable
    }
}

/// What every stream and iterator wrapper needs to know about its observation (one
/// argument, so the generated call and the wrappers' signatures stay short).
pub struct Observing {
    /// The observation's span, open until the items end or the wrapper is dropped.
    pub span: Span,
    /// The observation is recorded (enabled, sampled in).
    pub recording: bool,
    /// The items become the output.
    pub capture_output: bool,
    /// The first item sets `completion_start_time`.
    pub generation_like: bool,
}

impl Observing {
    /// The state of a wrapper whose output `transform(&items)` makes: the items are
    /// kept (cloned) only when the output is captured.
    fn transformed<T: Clone>(
        self,
        collect: CollectFn<T>,
        transform: fn(&[T]) -> String,
    ) -> ItemState<Transformed<T>> {
        let keep = self.recording && self.capture_output;
        let o = Observing {
            capture_output: false,
            ..self
        };
        ItemState::new(o, Transformed::new(collect, transform, keep))
    }
}

impl AsStream {
    /// Wraps a returned stream; `collect` adds one item to the output.
    #[inline]
    pub fn wrap<S: Stream>(
        self,
        inner: S,
        o: Observing,
        collect: CollectFn<S::Item>,
    ) -> ObservedStream<S, CollectFn<S::Item>> {
        ObservedStream {
            inner,
            state: ItemState::new(o, collect),
        }
    }

    /// [`wrap`](Self::wrap), pinned in a box (for a boxed return type).
    #[inline]
    pub fn wrap_boxed<S: Stream>(
        self,
        inner: S,
        o: Observing,
        collect: CollectFn<S::Item>,
    ) -> Pin<Box<ObservedStream<S, CollectFn<S::Item>>>> {
        Box::pin(self.wrap(inner, o, collect))
    }

    /// [`wrap`](Self::wrap) with `transform_to_string`: the output is `transform(&items)`.
    #[inline]
    pub fn wrap_transformed<S: Stream>(
        self,
        inner: S,
        o: Observing,
        collect: CollectFn<S::Item>,
        transform: fn(&[S::Item]) -> String,
    ) -> ObservedStream<S, Transformed<S::Item>>
    where
        S::Item: Clone,
    {
        ObservedStream {
            inner,
            state: o.transformed(collect, transform),
        }
    }

    /// [`wrap_transformed`](Self::wrap_transformed), pinned in a box.
    #[inline]
    pub fn wrap_boxed_transformed<S: Stream>(
        self,
        inner: S,
        o: Observing,
        collect: CollectFn<S::Item>,
        transform: fn(&[S::Item]) -> String,
    ) -> Pin<Box<ObservedStream<S, Transformed<S::Item>>>>
    where
        S::Item: Clone,
    {
        Box::pin(self.wrap_transformed(inner, o, collect, transform))
    }
}

impl AsIter {
    /// Wraps a returned iterator; `collect` adds one item to the output.
    #[inline]
    pub fn wrap<I: Iterator>(
        self,
        inner: I,
        o: Observing,
        collect: CollectFn<I::Item>,
    ) -> ObservedIter<I, CollectFn<I::Item>> {
        ObservedIter {
            inner,
            state: ItemState::new(o, collect),
        }
    }

    /// [`wrap`](Self::wrap), in a box (for a boxed return type).
    #[inline]
    pub fn wrap_boxed<I: Iterator>(
        self,
        inner: I,
        o: Observing,
        collect: CollectFn<I::Item>,
    ) -> Box<ObservedIter<I, CollectFn<I::Item>>> {
        Box::new(self.wrap(inner, o, collect))
    }

    /// [`wrap`](Self::wrap) with `transform_to_string`: the output is `transform(&items)`.
    #[inline]
    pub fn wrap_transformed<I: Iterator>(
        self,
        inner: I,
        o: Observing,
        collect: CollectFn<I::Item>,
        transform: fn(&[I::Item]) -> String,
    ) -> ObservedIter<I, Transformed<I::Item>>
    where
        I::Item: Clone,
    {
        ObservedIter {
            inner,
            state: o.transformed(collect, transform),
        }
    }

    /// [`wrap_transformed`](Self::wrap_transformed), in a box.
    #[inline]
    pub fn wrap_boxed_transformed<I: Iterator>(
        self,
        inner: I,
        o: Observing,
        collect: CollectFn<I::Item>,
        transform: fn(&[I::Item]) -> String,
    ) -> Box<ObservedIter<I, Transformed<I::Item>>>
    where
        I::Item: Clone,
    {
        Box::new(self.wrap_transformed(inner, o, collect, transform))
    }
}

/// Never reached: the probe before each call did not compile.
impl NotApplicable {
    /// Never reached.
    pub fn wrap<T>(self, _: T, _: Observing, _: CollectFn<()>) -> ! {
        unreachable!("`#[observe]` probe")
    }

    /// Never reached.
    pub fn wrap_boxed<T>(self, _: T, _: Observing, _: CollectFn<()>) -> ! {
        unreachable!("`#[observe]` probe")
    }

    /// Never reached.
    pub fn wrap_transformed<T>(
        self,
        _: T,
        _: Observing,
        _: CollectFn<()>,
        _: fn(&[()]) -> String,
    ) -> ! {
        unreachable!("`#[observe]` probe")
    }

    /// Never reached.
    pub fn wrap_boxed_transformed<T>(
        self,
        _: T,
        _: Observing,
        _: CollectFn<()>,
        _: fn(&[()]) -> String,
    ) -> ! {
        unreachable!("`#[observe]` probe")
    }
}

/// An iterator whose observation stays open until it is exhausted or dropped.
///
/// Each `next` runs inside the span; the items become the output; for
/// generation-like observations the first item sets `completion_start_time`.
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct ObservedIter<I, C: ItemSink> {
    inner: I,
    state: ItemState<C>,
}

impl<I: Iterator, C: CollectItem<I::Item>> ObservedIter<I, C> {
    #[inline]
    fn observe(&mut self, next: impl FnOnce(&mut I) -> Option<I::Item>) -> Option<I::Item> {
        let inner = &mut self.inner;
        if self.state.span.is_none() && self.state.done {
            return next(inner);
        }
        let item = self.state.step(|| next(inner));
        match &item {
            Some(item) => self.state.item(item),
            None => self.state.end(),
        }
        item
    }
}

impl<I: Iterator, C: CollectItem<I::Item>> Iterator for ObservedIter<I, C> {
    type Item = I::Item;

    #[inline]
    fn next(&mut self) -> Option<I::Item> {
        self.observe(Iterator::next)
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<I: DoubleEndedIterator, C: CollectItem<I::Item>> DoubleEndedIterator for ObservedIter<I, C> {
    #[inline]
    fn next_back(&mut self) -> Option<I::Item> {
        self.observe(DoubleEndedIterator::next_back)
    }
}

impl<I: ExactSizeIterator, C: CollectItem<I::Item>> ExactSizeIterator for ObservedIter<I, C> {
    #[inline]
    fn len(&self) -> usize {
        self.inner.len()
    }
}

impl<I: core::iter::FusedIterator, C: CollectItem<I::Item>> core::iter::FusedIterator
    for ObservedIter<I, C>
{
}

impl<I: Debug, C: ItemSink> Debug for ObservedIter<I, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObservedIter")
            .field("inner", &self.inner)
            .field("span", &self.state.span)
            .finish()
    }
}
