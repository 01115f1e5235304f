//! String escaping in the two styles (a lookup table, eight bytes at a time when
//! nothing needs escaping).

#[allow(unused_imports)]
use super::*;
// ---------------------------------------------------------------------------
// String escaping
// ---------------------------------------------------------------------------

/// Table entry meaning: byte needs no escape.
pub(super) const NO: u8 = 0;
/// Table entry meaning: control character written as `\u00XX`.
pub(super) const UU: u8 = b'u';
/// Table entry meaning: non-ASCII lead byte, written as `\uXXXX` (IO only).
pub(super) const NA: u8 = b'U';

pub(super) const fn escape_table(escape_non_ascii: bool) -> [u8; 256] {
    let mut t = [NO; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = UU;
        i += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    if escape_non_ascii {
        // Python's ASCII escaper keeps only ' '..='~' raw, so DEL is escaped.
        t[0x7f] = UU;
        let mut i = 0x80;
        while i < 0x100 {
            t[i] = NA;
            i += 1;
        }
    }
    t
}

pub(super) static ESCAPE_IO: [u8; 256] = escape_table(true);
pub(super) static ESCAPE_METADATA: [u8; 256] = escape_table(false);

pub(super) const HEX: &[u8; 16] = b"0123456789abcdef";

#[inline]
pub(super) fn push_u16_escape(out: &mut String, unit: u16) {
    out.push_str("\\u");
    out.push(HEX[usize::from(unit >> 12)] as char);
    out.push(HEX[usize::from((unit >> 8) & 0xf)] as char);
    out.push(HEX[usize::from((unit >> 4) & 0xf)] as char);
    out.push(HEX[usize::from(unit & 0xf)] as char);
}

/// True when none of the 8 bytes in `x` needs escaping: no control character, quote
/// or backslash, and for the IO style (ASCII output) no DEL and no non-ASCII byte.
#[inline(always)]
pub(super) fn chunk_is_plain(x: u64, io: bool) -> bool {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    // Any byte of `v` zero / below `n` (exact as an "any" test for n <= 0x80).
    let has_zero = |v: u64| v.wrapping_sub(LO) & !v & HI;
    let below_0x20 = x.wrapping_sub(LO * 0x20) & !x & HI;
    let mut special =
        below_0x20 | has_zero(x ^ (LO * u64::from(b'"'))) | has_zero(x ^ (LO * u64::from(b'\\')));
    if io {
        special |= (x & HI) | has_zero(x ^ (LO * 0x7f));
    }
    special == 0
}

/// Appends the body of a JSON string (without quotes), escaped per `style`.
pub(super) fn write_escaped(out: &mut String, s: &str, style: JsonStyle) {
    let table = match style {
        JsonStyle::Io => &ESCAPE_IO,
        JsonStyle::Metadata => &ESCAPE_METADATA,
    };
    let bytes = s.as_bytes();
    let io = style == JsonStyle::Io;
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        // Skip 8 plain bytes at a time; the table below handles the rest.
        if let Some(chunk) = bytes.get(i..i + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            if chunk_is_plain(u64::from_le_bytes(word), io) {
                i += 8;
                continue;
            }
        }
        let esc = table[usize::from(bytes[i])];
        if esc == NO {
            i += 1;
            continue;
        }
        // `i` is always a char boundary here: escapes only start at ASCII
        // bytes or at the lead byte of a character skipped as a whole.
        out.push_str(s.get(start..i).unwrap_or_default());
        match esc {
            NA => match s.get(i..).and_then(|rest| rest.chars().next()) {
                Some(c) => {
                    let mut units = [0u16; 2];
                    for unit in c.encode_utf16(&mut units) {
                        push_u16_escape(out, *unit);
                    }
                    i += c.len_utf8();
                }
                None => i += 1,
            },
            UU => {
                push_u16_escape(out, u16::from(bytes[i]));
                i += 1;
            }
            short => {
                out.push('\\');
                out.push(short as char);
                i += 1;
            }
        }
        start = i;
    }
    out.push_str(s.get(start..).unwrap_or_default());
}

/// `fmt::Write` adapter escaping everything written through it
/// (for `collect_str`, so `Display` values need no temporary `String`).
pub(super) struct EscapeWriter<'a> {
    out: &'a mut String,
    style: JsonStyle,
}

impl fmt::Write for EscapeWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_escaped(self.out, s, self.style);
        Ok(())
    }
}

pub(super) fn write_display_str<D: Display + ?Sized>(
    out: &mut String,
    value: &D,
    style: JsonStyle,
) -> Result<(), Error> {
    out.push('"');
    let mut w = EscapeWriter {
        out: &mut *out,
        style,
    };
    write!(w, "{value}").map_err(|_| Error)?;
    out.push('"');
    Ok(())
}
