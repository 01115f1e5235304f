//! Prompt management against an in-process prompt server (tests/prompt_support) that
//! serves and checks the OpenAPI shapes: fetching text and chat prompts by label and
//! version, the cache rules proven by counting requests (hit, stale-while-refresh, one
//! refresh per key under concurrency, TTL 0, fallback on failure), create and relabel,
//! and the link of a generation to its prompt on the wire (the in-process OTLP
//! receiver); a fallback prompt is never linked.

mod prompt_support;
mod rest_support;
mod support;

use std::sync::{Arc, Barrier};
use std::time::Duration;

use langfuse_tracing::observation::{generation, update_current_generation, GenerationUpdate};
use langfuse_tracing::prompts::{
    ChatItem, ChatMessage, NewPrompt, PromptClient, PromptError, PromptType, TextPrompt,
};
use langfuse_tracing::{observe, propagate_attributes, LangfuseConfig, PropagateAttributes};
use prompt_support::{PromptServer, PUBLIC_KEY, SECRET_KEY};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(20);

fn client(server: &PromptServer) -> PromptClient {
    let config = LangfuseConfig::builder()
        .public_key(PUBLIC_KEY)
        .secret_key(SECRET_KEY)
        .base_url(server.base_url())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("config");
    PromptClient::new(&config)
        .expect("client")
        .with_default_cache_ttl(Duration::from_secs(60))
}

fn text_prompt(server: &PromptServer, name: &str, template: &str, labels: &[&str]) {
    server.add(
        json!({"type": "text", "name": name, "prompt": template, "labels": labels,
        "config": {"model": "gpt-4o", "temperature": 0.2}}),
    );
}

#[test]
fn text_and_chat_prompts_by_label_and_version() {
    let server = PromptServer::start();
    text_prompt(&server, "folder/critic", "v1 {{movie}}", &["production"]);
    text_prompt(&server, "folder/critic", "v2 {{ movie }}", &["staging"]);
    server.add(
        json!({"type": "chat", "name": "support", "labels": ["production"], "prompt": [
            {"role": "system", "content": "You help with {{product}}."},
            {"type": "placeholder", "name": "history"},
            {"role": "user", "content": "{{question}}"}
        ]}),
    );
    let prompts = client(&server);

    let production = prompts.get_prompt("folder/critic").text().unwrap();
    assert_eq!(
        (production.name(), production.version()),
        ("folder/critic", 1)
    );
    assert_eq!(production.labels(), ["production"]);
    assert_eq!(production.config()["model"], json!("gpt-4o"));
    assert!(!production.is_fallback());
    assert_eq!(production.compile([("movie", "Dune")]), "v1 Dune");

    let staging = prompts
        .get_prompt("folder/critic")
        .label("staging")
        .text()
        .unwrap();
    assert_eq!(staging.version(), 2);
    assert_eq!(staging.compile([("movie", "Heat")]), "v2 Heat");
    let v1 = prompts
        .get_prompt("folder/critic")
        .version(1)
        .text()
        .unwrap();
    assert_eq!(v1.prompt(), "v1 {{movie}}");

    let chat = prompts.get_prompt("support").chat().unwrap();
    let messages = chat.compile_with(
        [
            ("product", "Langfuse"),
            ("question", "How do I link a prompt?"),
        ],
        [(
            "history",
            vec![
                ChatMessage::new("user", "Hi, about {{product}}"),
                ChatMessage::new("assistant", "Hello!"),
            ],
        )],
    );
    assert_eq!(
        serde_json::to_value(&messages).unwrap(),
        json!([
            {"role": "system", "content": "You help with Langfuse."},
            {"role": "user", "content": "Hi, about Langfuse"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "How do I link a prompt?"}
        ])
    );
    // An unfilled placeholder stays.
    assert_eq!(
        chat.compile([("product", "x")])[1],
        ChatItem::placeholder("history")
    );

    // The other kind: an error (from the cache, no new request).
    let before = server.requests().len();
    let e = prompts.get_prompt("support").text().unwrap_err();
    assert!(
        matches!(
            e,
            PromptError::WrongType {
                found: PromptType::Chat,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(server.requests().len(), before);

    // The requests: the name as one encoded segment, the selector in the query.
    let queries: Vec<(String, String)> = server
        .requests()
        .iter()
        .map(|r| (r.path.clone(), r.query.clone()))
        .collect();
    assert_eq!(
        queries[..3],
        [
            (
                "/api/public/v2/prompts/folder%2Fcritic".to_owned(),
                "label=production".to_owned()
            ),
            (
                "/api/public/v2/prompts/folder%2Fcritic".to_owned(),
                "label=staging".to_owned()
            ),
            (
                "/api/public/v2/prompts/folder%2Fcritic".to_owned(),
                "version=1".to_owned()
            ),
        ]
    );
    // Every request names the crate and its version.
    let agent = format!("langfuse-tracing/{}", env!("CARGO_PKG_VERSION"));
    for r in server.requests() {
        assert_eq!(r.user_agent.as_deref(), Some(agent.as_str()), "{r:?}");
    }
    // 404: no retries, the server's answer in the error.
    let e = prompts.get_prompt("missing").text().unwrap_err();
    assert!(matches!(e, PromptError::Server { status: 404, .. }), "{e}");
    assert_eq!(server.gets_of("missing"), 1);
    assert!(!e.to_string().contains(SECRET_KEY));
    server.assert_valid();
}

#[test]
fn a_fresh_entry_is_served_without_a_request_and_ttl_zero_always_fetches() {
    let server = PromptServer::start();
    text_prompt(&server, "p", "hello", &["production"]);
    let prompts = client(&server);
    for _ in 0..5 {
        assert_eq!(prompts.get_prompt("p").text().unwrap().prompt(), "hello");
    }
    assert_eq!(server.gets_of("p"), 1);
    // A clone shares the cache.
    let _ = prompts.clone().get_prompt("p").text().unwrap();
    assert_eq!(server.gets_of("p"), 1);
    // Another key (a version) is another entry.
    let _ = prompts.get_prompt("p").version(1).text().unwrap();
    assert_eq!(server.gets_of("p"), 2);
    // TTL 0: no cache.
    for _ in 0..3 {
        let _ = prompts
            .get_prompt("p")
            .cache_ttl(Duration::ZERO)
            .text()
            .unwrap();
    }
    assert_eq!(server.gets_of("p"), 5);
    // A client whose default TTL is 0 as well.
    let uncached = client(&server).with_default_cache_ttl(Duration::ZERO);
    let _ = uncached.get_prompt("p").text().unwrap();
    let _ = uncached.get_prompt("p").text().unwrap();
    assert_eq!(server.gets_of("p"), 7);
    server.assert_valid();
}

/// A time-to-live too long for the clock (`Duration::MAX`) caches for good, never a
/// panic on the caller's thread.
#[test]
fn a_time_to_live_of_duration_max_caches_for_good() {
    let server = PromptServer::start();
    text_prompt(&server, "forever", "hi", &["production"]);
    let prompts = client(&server);
    for _ in 0..3 {
        let prompt = prompts
            .get_prompt("forever")
            .cache_ttl(Duration::MAX)
            .text()
            .unwrap();
        assert_eq!(prompt.version(), 1);
    }
    let default_max = client(&server).with_default_cache_ttl(Duration::MAX);
    let _ = default_max.get_prompt("forever").text().unwrap();
    let _ = default_max.get_prompt("forever").text().unwrap();
    assert_eq!(server.gets_of("forever"), 2);
}

#[test]
fn an_expired_entry_is_served_at_once_while_one_refresh_per_key_runs() {
    let server = PromptServer::start();
    text_prompt(&server, "stale", "old", &["production"]);
    let prompts = client(&server);
    let first = prompts
        .get_prompt("stale")
        .cache_ttl(Duration::from_millis(1))
        .text()
        .unwrap();
    assert_eq!(first.version(), 1);
    std::thread::sleep(Duration::from_millis(20)); // the entry expires
    text_prompt(&server, "stale", "new", &["production"]);

    // Every request now waits at the gate: callers that return did not wait for one.
    server.close_gate();
    let threads = 8;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let prompts = prompts.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                prompts.get_prompt("stale").text().unwrap()
            })
        })
        .collect();
    for h in handles {
        let p = h.join().unwrap();
        assert_eq!(
            (p.prompt(), p.version()),
            ("old", 1),
            "the stale entry at once"
        );
    }
    // One refresh is in flight, held at the gate.
    assert!(server.wait_until(WAIT, |s| s.waiting() == 1));
    for _ in 0..5 {
        assert_eq!(prompts.get_prompt("stale").text().unwrap().prompt(), "old");
    }
    assert_eq!(server.waiting(), 1, "still one refresh for the key");
    server.open_gate();
    assert!(server.wait_until(WAIT, |_| prompts
        .get_prompt("stale")
        .text()
        .unwrap()
        .version()
        == 2));
    // The initial fetch and the one refresh.
    assert_eq!(server.gets_of("stale"), 2);
    server.assert_valid();
}

#[test]
fn a_failed_refresh_keeps_the_cached_version() {
    let server = PromptServer::start();
    text_prompt(&server, "keep", "kept", &["production"]);
    let prompts = client(&server);
    let _ = prompts
        .get_prompt("keep")
        .cache_ttl(Duration::from_millis(1))
        .text()
        .unwrap();
    std::thread::sleep(Duration::from_millis(20));
    server.fail_next(500, u32::MAX);
    let p = prompts.get_prompt("keep").text().unwrap();
    assert_eq!((p.prompt(), p.is_fallback()), ("kept", false));
    // The refresh gives up (its retries all fail); the entry stays.
    assert!(server.wait_until(WAIT, |s| s.gets_of("keep") >= 4));
    let p = prompts.get_prompt("keep").text().unwrap();
    assert_eq!(p.prompt(), "kept");
}

#[test]
fn with_nothing_cached_a_failure_gives_the_fallback_or_the_error() {
    let server = PromptServer::start();
    text_prompt(&server, "f", "served", &["production"]);
    let prompts = client(&server);
    server.fail_next(500, u32::MAX);

    let p = prompts
        .get_prompt("f")
        .max_retries(1)
        .fallback_text("fallback {{x}}")
        .text()
        .unwrap();
    assert!(p.is_fallback());
    assert_eq!(p.version(), 0);
    assert_eq!(p.compile([("x", 1)]), "fallback 1");
    assert!(p.link().is_empty(), "a fallback is never linked");
    assert_eq!(server.gets_of("f"), 2, "one try and one retry");

    let e = prompts.get_prompt("f").max_retries(0).text().unwrap_err();
    assert!(matches!(e, PromptError::Server { status: 500, .. }), "{e}");
    assert_eq!(server.gets_of("f"), 3);

    // The fallback is not cached: once the server answers, its prompt is served.
    server.heal();
    let p = prompts
        .get_prompt("f")
        .fallback_text("fallback")
        .text()
        .unwrap();
    assert_eq!((p.prompt(), p.is_fallback()), ("served", false));

    // A transient 503 is retried and the fetch succeeds.
    text_prompt(&server, "g", "after retry", &["production"]);
    server.fail_next(503, 1);
    let p = prompts.get_prompt("g").text().unwrap();
    assert_eq!(p.prompt(), "after retry");
    assert_eq!(server.gets_of("g"), 2);

    // A chat fallback, and a dead server (connection refused).
    let dead = {
        let s = PromptServer::start();
        s.base_url()
    };
    let config = LangfuseConfig::builder()
        .public_key(PUBLIC_KEY)
        .secret_key(SECRET_KEY)
        .base_url(dead)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let offline = PromptClient::new(&config).unwrap();
    let chat = offline
        .get_prompt("c")
        .max_retries(0)
        .fallback_chat([ChatItem::message("user", "{{q}}")])
        .chat()
        .unwrap();
    assert!(chat.is_fallback());
    let e = offline.get_prompt("c").max_retries(0).chat().unwrap_err();
    assert!(matches!(e, PromptError::Network(_)), "{e}");
    server.assert_valid();
}

#[test]
fn async_forms_fetch_on_their_own_thread() {
    let server = PromptServer::start();
    text_prompt(&server, "a", "async {{x}}", &["production"]);
    let prompts = client(&server);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let p = rt.block_on(prompts.get_prompt("a").text_async()).unwrap();
    assert_eq!(p.compile([("x", "ok")]), "async ok");
    // Cached: the second is answered without a request.
    let p = rt.block_on(prompts.get_prompt("a").any_async()).unwrap();
    assert_eq!(p.version(), 1);
    assert_eq!(server.gets_of("a"), 1);
    let e = rt
        .block_on(prompts.get_prompt("a").chat_async())
        .unwrap_err();
    assert!(matches!(e, PromptError::WrongType { .. }));
}

#[test]
fn create_prompts_and_move_labels() {
    let server = PromptServer::start();
    let prompts = client(&server);
    let created = prompts
        .create_prompt(
            NewPrompt::text("movie-critic", "As a {{level}} critic, rate {{movie}}.")
                .labels(["staging"])
                .tags(["films"])
                .config(json!({"model": "gpt-4o"}))
                .commit_message("first"),
        )
        .unwrap();
    assert_eq!(created.version(), 1);
    assert_eq!(created.labels(), ["staging", "latest"]);
    let chat = prompts
        .create_prompt(
            NewPrompt::chat(
                "support",
                [
                    ChatItem::message("system", "Be kind."),
                    ChatItem::placeholder("history"),
                ],
            )
            .labels(["production"]),
        )
        .unwrap()
        .into_chat()
        .unwrap();
    assert_eq!(chat.prompt()[1], ChatItem::placeholder("history"));

    // No production version yet.
    let e = prompts.get_prompt("movie-critic").text().unwrap_err();
    assert!(matches!(e, PromptError::Server { status: 404, .. }));
    let staging = prompts
        .get_prompt("movie-critic")
        .label("staging")
        .text()
        .unwrap();
    assert_eq!(staging.version(), 1);

    let v2 = prompts
        .create_prompt(NewPrompt::text("movie-critic", "v2").labels(["staging"]))
        .unwrap();
    assert_eq!(v2.version(), 2);
    // Creating cleared the name's cache: the new staging version is fetched.
    let staging = prompts
        .get_prompt("movie-critic")
        .label("staging")
        .text()
        .unwrap();
    assert_eq!(staging.version(), 2);

    let moved = prompts
        .update_prompt_labels("movie-critic", 1, ["production"])
        .unwrap();
    assert_eq!(moved.labels(), ["production"]);
    let production = prompts.get_prompt("movie-critic").text().unwrap();
    assert_eq!(production.version(), 1);
    let e = prompts
        .update_prompt_labels("movie-critic", 9, ["x"])
        .unwrap_err();
    assert!(matches!(e, PromptError::Server { status: 404, .. }));

    let create = &server.requests()[0];
    assert_eq!(create.method, "POST");
    assert_eq!(
        create.body,
        json!({"type": "text", "name": "movie-critic", "prompt": "As a {{level}} critic, rate {{movie}}.",
            "labels": ["staging"], "tags": ["films"], "config": {"model": "gpt-4o"}, "commitMessage": "first"})
    );
    let patch = server
        .requests()
        .into_iter()
        .find(|r| r.method == "PATCH")
        .unwrap();
    assert_eq!(patch.path, "/api/public/v2/prompts/movie-critic/versions/1");
    assert_eq!(patch.body, json!({"newLabels": ["production"]}));
    server.assert_valid();
}

#[test]
fn no_credentials_no_request_the_fallback() {
    let prompts = PromptClient::new(&LangfuseConfig::builder().build().unwrap()).unwrap();
    let p = prompts
        .get_prompt("local")
        .fallback_text("Hi {{name}}")
        .text()
        .unwrap();
    assert!(p.is_fallback());
    assert_eq!(
        prompts.get_prompt("local").text(),
        Err(PromptError::NoCredentials)
    );
    assert_eq!(
        prompts
            .create_prompt(NewPrompt::text("x", "y"))
            .unwrap_err(),
        PromptError::NoCredentials
    );
    assert_eq!(p, TextPrompt::fallback("local", "Hi {{name}}"));
}

#[test]
fn generations_link_the_prompt_on_the_wire_and_never_a_fallback() {
    let server = PromptServer::start();
    text_prompt(&server, "qa", "Answer {{q}}", &["production"]);
    let prompts = client(&server);
    let prompt = prompts.get_prompt("qa").text().unwrap();
    let fallback = TextPrompt::fallback("qa", "Answer {{q}}");

    let (_receiver, spans) = support::capture(|| {
        generation("built")
            .link_prompt(&prompt)
            .run(|_| prompt.compile([("q", "1")]));
        generation("updated").run(|g| {
            g.update(GenerationUpdate::new().link_prompt(&prompt));
        });
        generation("current").run(|_| {
            update_current_generation(GenerationUpdate::new().link_prompt(&prompt));
        });
        observed_llm_call(&prompt);
        generation("fallback").link_prompt(&fallback).run(|g| {
            g.update(GenerationUpdate::new().link_prompt(&fallback));
        });
        propagate_attributes(PropagateAttributes::new().link_prompt(&prompt), || {
            generation("propagated").run(|_| ());
        });
        propagate_attributes(PropagateAttributes::new().link_prompt(&fallback), || {
            generation("propagated-fallback").run(|_| ());
        });
    });
    let span = |name: &str| spans.iter().find(|s| s.name == name).unwrap();
    for name in ["built", "updated", "current", "observed", "propagated"] {
        let s = span(name);
        assert_eq!(
            s.str_attr("langfuse.observation.prompt.name"),
            Some("qa"),
            "{name}"
        );
        assert_eq!(
            s.int_attr("langfuse.observation.prompt.version"),
            Some(1),
            "{name}: an integer"
        );
    }
    for name in ["fallback", "propagated-fallback"] {
        let s = span(name);
        assert_eq!(s.attr("langfuse.observation.prompt.name"), None, "{name}");
        assert_eq!(
            s.attr("langfuse.observation.prompt.version"),
            None,
            "{name}"
        );
    }
}

#[test]
fn the_schema_check_rejects_what_is_not_a_prompt() {
    use prompt_support::{prompt_schema, validate_resolved};
    let good = json!({"type": "text", "name": "n", "version": 1, "prompt": "p", "config": null,
        "labels": [], "tags": [], "commitMessage": null});
    validate_resolved(&good, &prompt_schema(), "good").unwrap();
    let chat = json!({"type": "chat", "name": "n", "version": 1, "config": {}, "labels": [], "tags": [],
        "prompt": [{"role": "user", "content": "c", "type": "chatmessage"}, {"type": "placeholder", "name": "h"}]});
    validate_resolved(&chat, &prompt_schema(), "chat").unwrap();
    for bad in [
        json!({"type": "text", "name": "n", "prompt": "p", "config": null, "labels": [], "tags": []}),
        json!({"type": "text", "name": "n", "version": 1, "prompt": [], "config": null, "labels": [], "tags": []}),
        json!({"type": "chat", "name": "n", "version": 1, "prompt": "p", "config": null, "labels": [], "tags": []}),
        json!({"type": "text", "name": "n", "version": 1, "prompt": "p", "config": null, "labels": [], "tags": [], "extra": 1}),
    ] {
        assert!(
            validate_resolved(&bad, &prompt_schema(), "bad").is_err(),
            "{bad}"
        );
    }
    let create = rest_support::request_schema("/api/public/v2/prompts", "post");
    validate_resolved(
        &json!({"type": "text", "name": "n", "prompt": "p"}),
        &create,
        "create",
    )
    .unwrap();
    assert!(validate_resolved(
        &json!({"type": "chat", "name": "n", "prompt": "p"}),
        &create,
        "create"
    )
    .is_err());
}

#[observe(name = "observed", as_type = "generation", capture_input = false)]
fn observed_llm_call(prompt: &TextPrompt) -> String {
    update_current_generation(GenerationUpdate::new().link_prompt(prompt));
    prompt.compile([("q", "2")])
}

/// Run in a child process by [`the_ttl_variable_sets_the_default`], with
/// `LANGFUSE_PROMPT_CACHE_DEFAULT_TTL_SECONDS` set and the GETs expected in
/// `EXPECTED_GETS`; without that variable (the ordinary test run) it returns at once.
#[test]
fn ttl_variable_child() {
    let Ok(expected) = std::env::var("EXPECTED_GETS") else {
        return;
    };
    let server = PromptServer::start();
    text_prompt(&server, "env", "x", &["production"]);
    let config = LangfuseConfig::builder()
        .public_key(PUBLIC_KEY)
        .secret_key(SECRET_KEY)
        .base_url(server.base_url())
        .build()
        .unwrap();
    let prompts = PromptClient::new(&config).unwrap();
    for _ in 0..3 {
        let _ = prompts.get_prompt("env").text().unwrap();
    }
    assert_eq!(server.gets_of("env").to_string(), expected);
}

#[test]
fn the_ttl_variable_sets_the_default() {
    for (value, gets, warned) in [("0", "3", false), ("120", "1", false), ("soon", "1", true)] {
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["ttl_variable_child", "--exact", "--test-threads=1"])
            .env(langfuse_tracing::prompts::CACHE_TTL_VARIABLE, value)
            .env("EXPECTED_GETS", gets)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{value}: {stdout}{stderr}");
        assert!(stdout.contains("1 passed"), "{value}: {stdout}");
        assert_eq!(
            stderr.contains("LANGFUSE_PROMPT_CACHE_DEFAULT_TTL_SECONDS: expected a number"),
            warned,
            "{value}: {stderr}"
        );
    }
}
