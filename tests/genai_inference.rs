//! Third-party GenAI spans (OpenTelemetry GenAI semantic conventions, e.g. from an LLM
//! client crate's plain `tracing` spans) reach Langfuse typed as the server infers them:
//! no `langfuse.observation.type` is written on a span that asked for none, and the
//! `gen_ai.*` attributes the server reads for model, parameters, usage, input and output
//! go through unchanged and typed, with no Langfuse key that would take precedence.

mod support;

use std::time::Duration;

use support::{AttrValue, CapturedSpan, Receiver};

fn run(receiver: &Receiver, f: impl FnOnce()) {
    support::run(support::layer(receiver), f);
}

fn named<'a>(spans: &'a [CapturedSpan], name: &str) -> &'a CapturedSpan {
    spans
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no span {name:?} in {spans:#?}"))
}

/// The Langfuse keys the server reads before (or instead of) the `gen_ai.*` ones.
const OVERRIDING: &[&str] = &[
    "langfuse.observation.type",
    "langfuse.observation.model.name",
    "langfuse.observation.model.parameters",
    "langfuse.observation.usage_details",
    "langfuse.observation.cost_details",
    "langfuse.observation.input",
    "langfuse.observation.output",
];

#[test]
fn a_gen_ai_chat_span_carries_no_langfuse_type_and_its_gen_ai_attributes_unchanged() {
    let receiver = Receiver::start();
    run(&receiver, || {
        let chat = tracing::info_span!(
            "chat gpt-4o",
            gen_ai.operation.name = "chat",
            gen_ai.system = "openai",
            gen_ai.request.model = "gpt-4o",
            gen_ai.response.model = "gpt-4o-2024-08-06",
            gen_ai.request.temperature = 0.2f64,
            gen_ai.request.max_tokens = 256u64,
            gen_ai.prompt = r#"[{"role":"user","content":"2+2?"}]"#,
            gen_ai.completion = tracing::field::Empty,
            gen_ai.usage.input_tokens = tracing::field::Empty,
            gen_ai.usage.output_tokens = tracing::field::Empty,
        );
        {
            let _chat = chat.enter();
            let _tool = tracing::info_span!(
                "execute_tool calculator",
                gen_ai.operation.name = "execute_tool",
                gen_ai.tool.name = "calculator",
                gen_ai.tool.call.id = "call_1",
            )
            .entered();
        }
        // Recorded later, as client crates do once the answer is in.
        chat.record(
            "gen_ai.completion",
            r#"[{"role":"assistant","content":"4"}]"#,
        );
        chat.record("gen_ai.usage.input_tokens", 12u64);
        chat.record("gen_ai.usage.output_tokens", 3i64);
    });
    let spans = receiver.wait_for_spans(2, Duration::from_secs(10));
    assert_eq!(spans.len(), 2, "{spans:#?}");
    let chat = named(&spans, "chat gpt-4o");
    let tool = named(&spans, "execute_tool calculator");

    for s in [chat, tool] {
        for key in OVERRIDING {
            assert_eq!(s.attr(key), None, "{key} on {}: {s:#?}", s.name);
        }
    }
    assert_eq!(tool.parent_span_id.as_deref(), Some(chat.span_id.as_str()));
    assert_eq!(tool.trace_id, chat.trace_id);

    // Type inference (mapping spec §5, rules 3, 7, 10) reads these as they are.
    assert_eq!(chat.str_attr("gen_ai.operation.name"), Some("chat"));
    assert_eq!(chat.str_attr("gen_ai.request.model"), Some("gpt-4o"));
    assert_eq!(
        chat.str_attr("gen_ai.response.model"),
        Some("gpt-4o-2024-08-06")
    );
    assert_eq!(tool.str_attr("gen_ai.operation.name"), Some("execute_tool"));
    assert_eq!(tool.str_attr("gen_ai.tool.name"), Some("calculator"));
    assert_eq!(tool.str_attr("gen_ai.tool.call.id"), Some("call_1"));
    // Model parameters (§8, step 6): numbers stay numbers.
    assert_eq!(
        chat.attr("gen_ai.request.temperature"),
        Some(&AttrValue::Double(0.2))
    );
    assert_eq!(chat.int_attr("gen_ai.request.max_tokens"), Some(256));
    // Usage (§8, generic step): only numeric values count, so they must be ints.
    assert_eq!(chat.int_attr("gen_ai.usage.input_tokens"), Some(12));
    assert_eq!(chat.int_attr("gen_ai.usage.output_tokens"), Some(3));
    // Input and output (§6, step 18).
    assert_eq!(
        chat.str_attr("gen_ai.prompt"),
        Some(r#"[{"role":"user","content":"2+2?"}]"#)
    );
    assert_eq!(
        chat.str_attr("gen_ai.completion"),
        Some(r#"[{"role":"assistant","content":"4"}]"#)
    );
    assert_eq!(chat.status_code, 0, "no error: status UNSET");
}

#[test]
fn a_span_that_asks_for_a_type_keeps_it_and_langfuse_fields_without_a_type_leave_it_to_the_server()
{
    let receiver = Receiver::start();
    run(&receiver, || {
        // Asked for `span` explicitly: the server must not infer a generation.
        let _a = tracing::info_span!(
            "explicit span",
            langfuse.observation.type = "span",
            gen_ai.request.model = "gpt-4o",
        )
        .entered();
        // Asked for `generation` through the field, model from the gen_ai key.
        let _b = tracing::info_span!(
            "explicit generation",
            langfuse.observation.type = "generation",
            gen_ai.request.model = "gpt-4o",
        )
        .entered();
        // Langfuse fields, no type: model and input are written (the server infers a
        // generation from the model name), the type is not.
        let _c = tracing::info_span!(
            "untyped with langfuse fields",
            langfuse.observation.model.name = "claude-3-5-sonnet",
            langfuse.observation.input = "hello",
            gen_ai.usage.input_tokens = 7i64,
        )
        .entered();
        // An unknown type is reported and sent as `span` (the span did ask for one).
        let _d = tracing::info_span!("odd type", langfuse.observation.type = "llm").entered();
    });
    let spans = receiver.wait_for_spans(4, Duration::from_secs(10));
    let a = named(&spans, "explicit span");
    assert_eq!(a.str_attr("langfuse.observation.type"), Some("span"));
    assert_eq!(a.str_attr("gen_ai.request.model"), Some("gpt-4o"));
    let b = named(&spans, "explicit generation");
    assert_eq!(b.str_attr("langfuse.observation.type"), Some("generation"));
    let c = named(&spans, "untyped with langfuse fields");
    assert_eq!(c.attr("langfuse.observation.type"), None);
    assert_eq!(
        c.str_attr("langfuse.observation.model.name"),
        Some("claude-3-5-sonnet")
    );
    assert_eq!(c.str_attr("langfuse.observation.input"), Some("hello"));
    assert_eq!(c.int_attr("gen_ai.usage.input_tokens"), Some(7));
    let d = named(&spans, "odd type");
    assert_eq!(d.str_attr("langfuse.observation.type"), Some("span"));
}

#[test]
fn observations_from_the_api_still_write_their_type() {
    let receiver = Receiver::start();
    run(&receiver, || {
        langfuse_tracing::span("api span").run(|_| {
            langfuse_tracing::generation("api generation")
                .model("gpt-4o")
                .run(|_| {});
        });
    });
    let spans = receiver.wait_for_spans(2, Duration::from_secs(10));
    assert_eq!(
        named(&spans, "api span").str_attr("langfuse.observation.type"),
        Some("span")
    );
    let g = named(&spans, "api generation");
    assert_eq!(g.str_attr("langfuse.observation.type"), Some("generation"));
    assert_eq!(
        g.str_attr("langfuse.observation.model.name"),
        Some("gpt-4o")
    );
}
