//! What only the layer (`langfuse-tracing`) needs: how an open observation's state is
//! kept and merged, how the API reaches it, which mask applies to a value, the context
//! frame of remote parents and propagated attributes, the pools of emptied states,
//! timestamps, and the SDK's own warnings. Hidden from the docs and not a public API: names and signatures change
//! without notice.

pub mod context;
pub mod hooks;
pub(crate) mod mask_lookup;
pub mod recycle;
pub mod state;
pub mod time;
pub mod warn;
