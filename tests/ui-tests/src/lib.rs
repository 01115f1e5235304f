//! Nothing here: the compile tests are in `tests/observe_ui.rs`.
#![forbid(unsafe_code)]
