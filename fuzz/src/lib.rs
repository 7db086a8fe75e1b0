//! Helpers shared by the fuzz targets.
//!
//! log-integrity's digest model, content hasher and signature checking are compiled here from
//! the function crate's own source files (`#[path]`): those files use no AWS SDK, but the
//! crate as a whole does, and building the SDK with fuzzing instrumentation would cost more
//! time than the fuzzing itself. The digest check as a whole (`check.rs`, `store.rs`) reads
//! through the SDK, so it is exercised by the crate's own tests and by
//! `tests/tests/bad_input.rs`, not here.
#![forbid(unsafe_code)]

use std::io::{self, Read, Write};

#[path = "../../functions/log-integrity/src/digest.rs"]
pub mod digest;
#[path = "../../functions/log-integrity/src/hash.rs"]
pub mod hash;
#[path = "../../functions/log-integrity/src/keys.rs"]
pub mod keys;

/// A fuzz input read as a stored object: bit 0 of its first byte says whether we gzip the
/// body ourselves (so the fuzzer reaches content inside gzip), its second byte seeds the chunk
/// sizes ([`Chunked::new`]), the rest is the body.
pub struct Stored<'a> {
    /// We gzipped the body.
    pub gzipped: bool,
    /// The seed of the chunk sizes.
    pub seed: u8,
    /// The input after its first two bytes.
    pub body: &'a [u8],
    /// What is stored: the body, gzipped when `gzipped`.
    pub stored: Vec<u8>,
}

impl<'a> Stored<'a> {
    /// The input read as above; `None` when it is shorter than two bytes.
    pub fn from_input(data: &'a [u8]) -> Option<Stored<'a>> {
        let [mode, seed, body @ ..] = data else {
            return None;
        };
        let gzipped = mode & 1 == 1;
        Some(Stored {
            gzipped,
            seed: *seed,
            body,
            stored: if gzipped { gzip(body) } else { body.to_vec() },
        })
    }
}

/// A reader that hands its data out in chunks of varying size (taken from `sizes`, cycling),
/// so that every resume path of a streaming parser is exercised.
pub struct Chunked {
    data: Vec<u8>,
    pos: usize,
    sizes: Vec<usize>,
    turn: usize,
}

impl Chunked {
    pub fn new(data: Vec<u8>, seed: u8) -> Self {
        // A few sizes derived from one byte: 1..=64 and a large one.
        let s = seed as usize;
        let sizes = vec![(s % 64) + 1, (s / 4 % 7) + 1, 4096, (s % 13) + 1];
        Chunked {
            data,
            pos: 0,
            sizes,
            turn: 0,
        }
    }
}

impl Read for Chunked {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = self.sizes[self.turn % self.sizes.len()];
        self.turn += 1;
        let n = want.min(buf.len()).min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Gzip-compresses bytes.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("writing to a Vec cannot fail");
    e.finish().expect("writing to a Vec cannot fail")
}

/// True when `s` is a subject SNS accepts: printable ASCII, under 100 characters, not empty.
pub fn valid_subject(s: &str) -> bool {
    !s.is_empty() && s.len() < 100 && s.bytes().all(|b| (0x20..0x7f).contains(&b))
}
