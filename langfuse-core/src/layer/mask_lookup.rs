//! Which mask applies to a value: the one of the layer that records the observation the
//! value goes to, read back from the `LayerHooks` that layer exposes. The mask itself and
//! how values pass through it are in `crate::mask`, which knows nothing of the layer.
//!
//! Called only once a mask exists in the process (`mask::mask_installed()`), so these
//! lookups are kept out of line.

use tracing::{Dispatch, Span};

use crate::__layer::hooks::LayerHooks;
use crate::mask::{finish_io, Encoded, Mask};

/// The mask of the layer that records `span`, or, without a span, of the Langfuse layer
/// of this thread's current subscriber; `None` where there is no such layer or it has no
/// mask.
#[cold]
#[inline(never)]
pub(crate) fn mask_for(span: Option<&Span>) -> Option<Mask> {
    match span {
        Some(span) => span
            .with_subscriber(|(_, dispatch)| layer_mask(dispatch))
            .flatten(),
        None => tracing::dispatcher::get_default(layer_mask),
    }
}

/// The mask of `dispatch`'s Langfuse layer, if it has one.
fn layer_mask(dispatch: &Dispatch) -> Option<Mask> {
    dispatch
        .downcast_ref::<LayerHooks>()
        .and_then(|hooks| hooks.mask.clone())
}

/// `mask::finish_io` with the mask of the layer that records `span`.
#[cold]
#[inline(never)]
pub(crate) fn finish_io_for_span(span: &Span, text: String, kind: Encoded) -> String {
    finish_io(mask_for(Some(span)).as_ref(), text, kind)
}
