//! Numbers: integers as JSON or, beyond JavaScript's exact range, as strings;
//! floats as Python's `repr` writes them.

#[allow(unused_imports)]
use super::*;
// ---------------------------------------------------------------------------
// Numbers
// ---------------------------------------------------------------------------

#[inline]
pub(super) fn write_u64(out: &mut String, v: u64) {
    if v > MAX_SAFE_INTEGER {
        out.push('"');
        push_digits(out, v);
        out.push('"');
    } else {
        push_digits(out, v);
    }
}

/// The decimal digits of `v`, without going through `fmt` (a hot path: inputs are
/// often small integers).
#[inline]
pub(super) fn push_digits(out: &mut String, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        // `v % 10` is below 10: the cast cannot truncate.
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    out.push_str(core::str::from_utf8(&buf[i..]).unwrap_or_default());
}

#[inline]
pub(super) fn write_i64(out: &mut String, v: i64) {
    let quoted = v.unsigned_abs() > MAX_SAFE_INTEGER;
    if quoted {
        out.push('"');
    }
    if v < 0 {
        out.push('-');
    }
    push_digits(out, v.unsigned_abs());
    if quoted {
        out.push('"');
    }
}

#[inline]
pub(super) fn write_i128(out: &mut String, v: i128) {
    if v.unsigned_abs() > u128::from(MAX_SAFE_INTEGER) {
        let _ = write!(out, "\"{v}\"");
    } else {
        let _ = write!(out, "{v}");
    }
}

#[inline]
pub(super) fn write_u128(out: &mut String, v: u128) {
    if v > u128::from(MAX_SAFE_INTEGER) {
        let _ = write!(out, "\"{v}\"");
    } else {
        let _ = write!(out, "{v}");
    }
}

/// Small stack buffer for formatting one float without allocating.
pub(super) struct StackBuf {
    buf: [u8; 64],
    len: usize,
}

impl StackBuf {
    const fn new() -> Self {
        StackBuf {
            buf: [0; 64],
            len: 0,
        }
    }

    fn as_str(&self) -> &str {
        self.buf
            .get(..self.len)
            .and_then(|b| core::str::from_utf8(b).ok())
            .unwrap_or_default()
    }
}

impl fmt::Write for StackBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(fmt::Error)?;
        let dst = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// A float as Python's `repr` writes it (non-finite values as the strings
/// `"NaN"`, `"Infinity"`, `"-Infinity"`, quotes included).
pub(super) trait PyFloat: Copy + fmt::LowerExp + Display {
    fn is_nan(self) -> bool;
    fn is_infinite(self) -> bool;
    fn is_sign_negative(self) -> bool;
    fn abs(self) -> Self;
}

macro_rules! impl_py_float {
    ($($t:ty),*) => {$(
        impl PyFloat for $t {
            fn is_nan(self) -> bool { <$t>::is_nan(self) }
            fn is_infinite(self) -> bool { <$t>::is_infinite(self) }
            fn is_sign_negative(self) -> bool { <$t>::is_sign_negative(self) }
            fn abs(self) -> Self { <$t>::abs(self) }
        }
    )*};
}
impl_py_float!(f32, f64);

pub(super) fn write_py_float<F: PyFloat>(out: &mut String, v: F) {
    if v.is_nan() {
        out.push_str("\"NaN\"");
        return;
    }
    if v.is_infinite() {
        out.push_str(if v.is_sign_negative() {
            "\"-Infinity\""
        } else {
            "\"Infinity\""
        });
        return;
    }
    // Shortest round-trip digits in scientific form, e.g. `1.5e300`, `1e-7`.
    let mut buf = StackBuf::new();
    if write!(buf, "{:e}", v.abs()).is_err() {
        // Cannot happen (64 bytes are plenty); stay valid JSON regardless.
        let _ = write!(out, "{v}");
        return;
    }
    if v.is_sign_negative() {
        out.push('-');
    }
    layout_python_repr(out, buf.as_str());
}

/// Lays out `d[.ddd]e[-]X` (Rust `{:e}` of a non-negative finite float) the
/// way Python's `float.__repr__` does: fixed notation when
/// `-4 <= exponent < 16` (integral values get `.0`), otherwise
/// `d[.ddd]e±XX` with at least two exponent digits.
pub(super) fn layout_python_repr(out: &mut String, sci: &str) {
    let (mantissa, exp_str) = sci.split_once('e').unwrap_or((sci, "0"));
    let exp: i32 = exp_str.parse().unwrap_or(0);
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if (-4..16).contains(&exp) {
        if exp >= 0 {
            let point = exp.unsigned_abs() as usize;
            out.push_str(int_part);
            match (frac_part.get(..point), frac_part.get(point..)) {
                (Some(before), Some(after)) if !after.is_empty() => {
                    out.push_str(before);
                    out.push('.');
                    out.push_str(after);
                }
                _ => {
                    out.push_str(frac_part);
                    for _ in frac_part.len()..point {
                        out.push('0');
                    }
                    out.push_str(".0");
                }
            }
        } else {
            out.push_str("0.");
            for _ in 1..exp.unsigned_abs() {
                out.push('0');
            }
            out.push_str(int_part);
            out.push_str(frac_part);
        }
    } else {
        out.push_str(mantissa);
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let abs = exp.unsigned_abs();
        if abs < 10 {
            out.push('0');
        }
        let _ = write!(out, "{abs}");
    }
}
