//! Nothing here: the compile tests are in `tests/observe_ui.rs`.
