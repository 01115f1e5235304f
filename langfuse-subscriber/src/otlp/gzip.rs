//! gzip of request bodies.

use flate2::{Compress, FlushCompress, Status as DeflateStatus};

/// Level 1: on OTLP spans it compresses nearly as well as the default level 6 at a
/// fraction of the CPU (see the measurements in BENCHMARKS.md).
pub(crate) const GZIP_LEVEL: u32 = 1;

/// gzip with one deflate state for the life of the destination (a fresh encoder per
/// batch would allocate and clear ~300 KiB of tables each time).
pub(crate) struct Gzip {
    deflate: Compress,
}

const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];

impl Gzip {
    pub(crate) fn new(level: flate2::Compression) -> Self {
        Gzip {
            deflate: Compress::new(level, false),
        }
    }

    pub(crate) fn compress(&mut self, pieces: &[&[u8]]) -> Result<Vec<u8>, String> {
        self.deflate.reset();
        let total: usize = pieces.iter().map(|p| p.len()).sum();
        let mut out = Vec::with_capacity(total / 4 + 64);
        out.extend_from_slice(&GZIP_HEADER);
        let mut crc = flate2::Crc::new();
        for piece in pieces {
            crc.update(piece);
            self.deflate_into(piece, &mut out, FlushCompress::None)?;
        }
        self.deflate_into(&[], &mut out, FlushCompress::Finish)?;
        out.extend_from_slice(&crc.sum().to_le_bytes());
        out.extend_from_slice(&crc.amount().to_le_bytes());
        Ok(out)
    }

    fn deflate_into(
        &mut self,
        mut input: &[u8],
        out: &mut Vec<u8>,
        flush: FlushCompress,
    ) -> Result<(), String> {
        loop {
            if out.capacity() - out.len() < 4096 {
                out.reserve(4096.max(input.len() / 2));
            }
            let (in_before, out_before) = (self.deflate.total_in(), out.len());
            let status = self
                .deflate
                .compress_vec(input, out, flush)
                .map_err(|e| format!("gzip failed: {e}"))?;
            let consumed = (self.deflate.total_in() - in_before) as usize;
            input = input.get(consumed..).unwrap_or_default();
            let done = match flush {
                FlushCompress::Finish => status == DeflateStatus::StreamEnd,
                _ => input.is_empty(),
            };
            if done {
                return Ok(());
            }
            if consumed == 0 && out.len() == out_before && status == DeflateStatus::BufError {
                return Err("gzip made no progress".to_owned());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::*;

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .expect("valid gzip");
        out
    }

    #[test]
    fn gzip_of_the_pieces_is_their_concatenation_and_the_state_is_reused() {
        let mut gzip = Gzip::new(flate2::Compression::new(GZIP_LEVEL));
        let big: Vec<u8> = (0..300_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        for pieces in [
            vec![&b"head"[..], &big[..], &b""[..]],
            vec![&b""[..], &b""[..], &b""[..]],
            vec![&b"a"[..], &b"b"[..], &b"c"[..]],
        ] {
            let compressed = gzip.compress(&pieces).expect("compresses");
            assert_eq!(gunzip(&compressed), pieces.concat());
        }
    }
}
