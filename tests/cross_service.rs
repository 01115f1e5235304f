//! Two "services" in two threads, each with its own subscriber, its own
//! `LangfuseLayer` and its own runtime, talking HTTP: one user request must become one
//! Langfuse trace, linked only through the `traceparent` and `baggage` headers.

mod support;

use std::sync::mpsc;
use std::time::Duration;

use axum::http::HeaderMap;
use axum::routing::post;
use axum::Router;
use langfuse_tracing::propagation::{
    extract_trace_headers, inject_trace_headers, PropagateAttributes,
};
use langfuse_tracing::LangfuseLayer;
use support::{CapturedSpan, Receiver};
use tokio::sync::oneshot;
use tracing::Instrument as _;
use tracing_subscriber::prelude::*;

/// Headers the server saw, for the assertions.
type Seen = std::sync::Arc<std::sync::Mutex<Vec<HeaderMap>>>;

async fn handler(
    axum::extract::State(seen): axum::extract::State<Seen>,
    headers: HeaderMap,
    body: String,
) -> String {
    seen.lock().unwrap().push(headers.clone());
    let remote = extract_trace_headers(&headers).expect("a valid traceparent");
    // Observations must be *created* inside the scope: the span is made in the future.
    remote
        .instrument(async move {
            let root = tracing::info_span!("server-root", langfuse.observation.type = "span");
            async move {
                tokio::task::yield_now().await;
                let llm =
                    tracing::info_span!("server-llm", langfuse.observation.type = "generation");
                async {
                    tokio::task::yield_now().await;
                }
                .instrument(llm)
                .await;
                format!("answer to {body}")
            }
            .instrument(root)
            .await
        })
        .await
}

/// Service B: serves until `stop` fires, in its own thread with its own dispatcher.
fn start_server(
    layer: LangfuseLayer,
    seen: Seen,
) -> (String, oneshot::Sender<()>, std::thread::JoinHandle<()>) {
    let (addr_tx, addr_rx) = mpsc::channel();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let handle = layer.handle();
        let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
        tracing::dispatcher::with_default(&dispatch, || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                let app = Router::new()
                    .route("/answer", post(handler))
                    .with_state(seen);
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stop_rx.await;
                    })
                    .await
                    .unwrap();
            });
        });
        handle.flush().unwrap();
    });
    let addr = addr_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    (format!("http://{addr}"), stop_tx, thread)
}

/// Service A: one user request, in its own thread with its own dispatcher.
fn run_client(layer: LangfuseLayer, base_url: String) -> String {
    std::thread::spawn(move || {
        let handle = layer.handle();
        let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
        let answer = tracing::dispatcher::with_default(&dispatch, || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(
                async move {
                    PropagateAttributes::new()
                        .user_id("user_123")
                        .session_id("session_abc")
                        .metadata("experiment", "variant_a")
                        .as_baggage(true)
                        .instrument(async move {
                            let answer = async move {
                                let mut headers = reqwest::header::HeaderMap::new();
                                inject_trace_headers(&mut headers);
                                reqwest::Client::new()
                                    .post(format!("{base_url}/answer"))
                                    .body("the question")
                                    .headers(headers)
                                    .send()
                                    .await
                                    .unwrap()
                                    .text()
                                    .await
                                    .unwrap()
                            }
                            .instrument(tracing::info_span!(
                                "client-call",
                                langfuse.observation.type = "tool"
                            ))
                            .await;
                            let _after = tracing::info_span!(
                                "client-after",
                                langfuse.observation.type = "span"
                            )
                            .entered();
                            answer
                        })
                        .await
                }
                .instrument(tracing::info_span!(
                    "client-root",
                    langfuse.observation.type = "span"
                )),
            )
        });
        handle.flush().unwrap();
        answer
    })
    .join()
    .unwrap()
}

fn named<'a>(spans: &'a [CapturedSpan], name: &str) -> &'a CapturedSpan {
    spans
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no span {name}"))
}

#[test]
fn one_user_request_is_one_trace_across_two_services() {
    let receiver = Receiver::start();
    let seen = Seen::default();
    let (base_url, stop, server) = start_server(
        support::service_layer(&receiver, "pk-lf-server"),
        seen.clone(),
    );
    let answer = run_client(support::service_layer(&receiver, "pk-lf-client"), base_url);
    assert_eq!(answer, "answer to the question");
    stop.send(()).unwrap();
    server.join().unwrap();

    let spans = receiver.wait_for_spans(5, Duration::from_secs(10));
    assert_eq!(spans.len(), 5, "{spans:#?}");
    // Each side exported its own observations (the scope attribute says which).
    let from = |s: &CapturedSpan| s.scope_attributes.get("public_key").cloned();
    let client_root = named(&spans, "client-root");
    let client_call = named(&spans, "client-call");
    let server_root = named(&spans, "server-root");
    let server_llm = named(&spans, "server-llm");
    assert_eq!(from(server_root), from(server_llm));
    assert_ne!(from(server_root), from(client_root));

    // One trace.
    assert!(spans.iter().all(|s| s.trace_id == client_root.trace_id));
    // Parent links, across the hop too.
    assert_eq!(client_root.parent_span_id, None);
    assert_eq!(
        client_call.parent_span_id.as_ref(),
        Some(&client_root.span_id)
    );
    assert_eq!(
        server_root.parent_span_id.as_ref(),
        Some(&client_call.span_id)
    );
    assert_eq!(
        server_llm.parent_span_id.as_ref(),
        Some(&server_root.span_id)
    );
    // The server root is not re-rooted: it stays under the client's observation.
    assert_eq!(server_root.attr("langfuse.internal.as_root"), None);
    // The client claimed the trace (`langfuse_trace_id` baggage): only its root is
    // marked as an app root, as with two services using the Python SDK.
    assert_eq!(
        client_root.bool_attr("langfuse.internal.is_app_root"),
        Some(true)
    );
    for s in [client_call, server_root, server_llm] {
        assert_eq!(s.attr("langfuse.internal.is_app_root"), None, "{}", s.name);
    }
    // User, session and metadata on every observation of both services.
    for s in &spans {
        assert_eq!(s.str_attr("user.id"), Some("user_123"), "{}", s.name);
        assert_eq!(s.str_attr("session.id"), Some("session_abc"), "{}", s.name);
        assert_eq!(
            s.str_attr("langfuse.trace.metadata.experiment"),
            Some("\"variant_a\""),
            "{}",
            s.name
        );
    }

    // What went over the wire.
    let headers = seen.lock().unwrap().pop().unwrap();
    assert_eq!(
        headers["traceparent"].to_str().unwrap(),
        format!("00-{}-{}-01", client_call.trace_id, client_call.span_id)
    );
    assert_eq!(
        headers["baggage"],
        format!(
            "langfuse_trace_id={},langfuse_user_id=user_123,langfuse_session_id=session_abc,\
             langfuse_metadata_experiment=%22variant_a%22",
            client_call.trace_id
        )
    );
}

#[test]
fn without_baggage_only_the_trace_crosses_the_hop() {
    let receiver = Receiver::start();
    let seen = Seen::default();
    let (base_url, stop, server) = start_server(
        support::service_layer(&receiver, "pk-lf-server"),
        seen.clone(),
    );
    let trace_id = std::thread::spawn(move || {
        let l = support::service_layer(&receiver, "pk-lf-client");
        let handle = l.handle();
        tracing::subscriber::with_default(tracing_subscriber::registry().with(l), || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(
                async move {
                    PropagateAttributes::new()
                        .user_id("local-only")
                        .instrument(async move {
                            let mut headers = reqwest::header::HeaderMap::new();
                            inject_trace_headers(&mut headers);
                            reqwest::Client::new()
                                .post(format!("{base_url}/answer"))
                                .headers(headers)
                                .send()
                                .await
                                .unwrap();
                        })
                        .await
                }
                .instrument(tracing::info_span!(
                    "client-root",
                    langfuse.observation.type = "span"
                )),
            );
        });
        handle.flush().unwrap();
        stop.send(()).unwrap();
        server.join().unwrap();
        let spans = receiver.wait_for_spans(3, Duration::from_secs(10));
        let client = named(&spans, "client-root");
        let server_root = named(&spans, "server-root");
        assert_eq!(server_root.trace_id, client.trace_id);
        assert_eq!(server_root.parent_span_id.as_ref(), Some(&client.span_id));
        assert_eq!(client.str_attr("user.id"), Some("local-only"));
        assert_eq!(server_root.attr("user.id"), None);
        client.trace_id.clone()
    })
    .join()
    .unwrap();
    // Only the trace claim, which every open observation makes.
    let headers = seen.lock().unwrap().pop().unwrap();
    assert_eq!(headers["baggage"], format!("langfuse_trace_id={trace_id}"));
}
