//! Protobuf wire primitives (only what OTLP traces need) and the OTLP field numbers.

pub(crate) const VARINT: u8 = 0;
pub(crate) const FIXED64: u8 = 1;
pub(crate) const LEN: u8 = 2;
pub(crate) const FIXED32: u8 = 5;

pub(crate) fn varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push(v as u8 | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

pub(crate) fn varint_len(v: u64) -> usize {
    // 1 byte per started group of 7 bits; 0 takes one byte.
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

pub(crate) fn tag(buf: &mut Vec<u8>, field: u32, wire_type: u8) {
    varint(buf, u64::from(field << 3 | u32::from(wire_type)));
}

/// Bytes taken by a length-delimited field of `len` bytes whose tag is one byte
/// (fields 1 to 15).
pub(crate) fn len_field(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

/// Tag and length of a length-delimited field.
pub(crate) fn len_prefix(buf: &mut Vec<u8>, field: u32, len: usize) {
    tag(buf, field, LEN);
    varint(buf, len as u64);
}

pub(crate) fn bytes(buf: &mut Vec<u8>, field: u32, value: &[u8]) {
    len_prefix(buf, field, value.len());
    buf.extend_from_slice(value);
}

/// A proto3 string: omitted when empty, as prost does.
pub(crate) fn string(buf: &mut Vec<u8>, field: u32, value: &str) {
    if !value.is_empty() {
        bytes(buf, field, value.as_bytes());
    }
}

pub(crate) fn fixed64(buf: &mut Vec<u8>, field: u32, value: u64) {
    if value != 0 {
        tag(buf, field, FIXED64);
        buf.extend_from_slice(&value.to_le_bytes());
    }
}

/// Field numbers (opentelemetry/proto/.../*.proto).
pub(crate) mod field {
    pub(crate) const REQUEST_RESOURCE_SPANS: u32 = 1;
    pub(crate) const RESOURCE_SPANS_RESOURCE: u32 = 1;
    pub(crate) const RESOURCE_SPANS_SCOPE_SPANS: u32 = 2;
    pub(crate) const RESOURCE_SPANS_SCHEMA_URL: u32 = 3;
    pub(crate) const RESOURCE_ATTRIBUTES: u32 = 1;
    pub(crate) const SCOPE_SPANS_SCOPE: u32 = 1;
    pub(crate) const SCOPE_SPANS_SPANS: u32 = 2;
    pub(crate) const SCOPE_NAME: u32 = 1;
    pub(crate) const SCOPE_VERSION: u32 = 2;
    pub(crate) const SCOPE_ATTRIBUTES: u32 = 3;
    pub(crate) const SPAN_TRACE_ID: u32 = 1;
    pub(crate) const SPAN_SPAN_ID: u32 = 2;
    pub(crate) const SPAN_PARENT_SPAN_ID: u32 = 4;
    pub(crate) const SPAN_NAME: u32 = 5;
    pub(crate) const SPAN_KIND: u32 = 6;
    pub(crate) const SPAN_START: u32 = 7;
    pub(crate) const SPAN_END: u32 = 8;
    pub(crate) const SPAN_ATTRIBUTES: u32 = 9;
    pub(crate) const SPAN_STATUS: u32 = 15;
    pub(crate) const SPAN_FLAGS: u32 = 16;
    pub(crate) const STATUS_MESSAGE: u32 = 2;
    pub(crate) const STATUS_CODE: u32 = 3;
    pub(crate) const KEY_VALUE_KEY: u32 = 1;
    pub(crate) const KEY_VALUE_VALUE: u32 = 2;
    pub(crate) const ANY_STRING: u32 = 1;
    pub(crate) const ANY_BOOL: u32 = 2;
    pub(crate) const ANY_INT: u32 = 3;
    pub(crate) const ANY_DOUBLE: u32 = 4;
    pub(crate) const ANY_ARRAY: u32 = 5;
    pub(crate) const ARRAY_VALUES: u32 = 1;
}
