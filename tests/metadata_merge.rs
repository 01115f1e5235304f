//! Many metadata keys on one observation, end to end (issue 17, defect 7: merging them
//! was quadratic; 30,000 keys took seconds of the calling thread). No timing
//! assertion: this checks the merged result the receiver gets.

mod support;

use langfuse_tracing::observation::{span, SpanUpdate, TraceUpdate};
use serde_json::{Map, Value};
use support::capture;

const N: usize = 30_000;

#[test]
fn thirty_thousand_metadata_keys_arrive_merged() {
    let (_r, spans) = capture(|| {
        span("many-keys").run(|obs| {
            let object: Map<String, Value> =
                (0..N).map(|i| (format!("k{i}"), Value::from(i))).collect();
            obs.update(SpanUpdate::new().metadata_object(&Value::Object(object)));
            // One update per key, for a third of them.
            for i in (0..N).step_by(3) {
                obs.update(SpanUpdate::new().metadata(format!("k{i}"), &"updated"));
            }
            // One update chaining many keys, new and old.
            let mut update = SpanUpdate::new();
            for i in N - 10..N + 10 {
                update = update.metadata(format!("k{i}"), &"chained");
            }
            obs.update(update);
            let mut trace = TraceUpdate::new();
            for i in 0..N {
                trace = trace.metadata(format!("t{}", i % 1000), &i);
            }
            obs.update_trace(trace);
        });
    });
    assert_eq!(spans.len(), 1);
    let s = &spans[0];
    let metadata = |key: &str| s.str_attr(&format!("langfuse.observation.metadata.{key}"));
    let count = s
        .attributes
        .keys()
        .filter(|k| k.starts_with("langfuse.observation.metadata."))
        .count();
    assert_eq!(count, N + 10);
    assert_eq!(metadata("k0"), Some("\"updated\""));
    assert_eq!(metadata("k1"), Some("1"));
    assert_eq!(metadata("k3"), Some("\"updated\""));
    assert_eq!(metadata("k29990"), Some("\"chained\""));
    assert_eq!(metadata("k29989"), Some("29989"));
    assert_eq!(metadata("k30009"), Some("\"chained\""));
    let trace_keys = s
        .attributes
        .keys()
        .filter(|k| k.starts_with("langfuse.trace.metadata."))
        .count();
    assert_eq!(trace_keys, 1000);
    assert_eq!(
        s.str_attr("langfuse.trace.metadata.t999"),
        Some(&*(N - 1).to_string())
    );
}
