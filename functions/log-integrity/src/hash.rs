//! SHA-256 of an object's uncompressed content, computed while its bytes stream past.
//!
//! CloudTrail hashes log files and digests *before* compressing them. [`ContentHasher`]
//! takes the stored (gzip) bytes in chunks of any size, inflates them as they come and hashes
//! the output, so memory stays bounded whatever the file size. Content that does not start
//! with the gzip magic bytes is hashed as it is (a copy someone decompressed).

use sha2::{Digest as _, Sha256};
use std::io::{self, Read, Write};

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// What was hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hashed {
    /// SHA-256 of the uncompressed content.
    pub sha256: [u8; 32],
    /// Bytes as stored.
    pub stored_bytes: u64,
    /// Bytes after decompression.
    pub content_bytes: u64,
    /// The uncompressed content, when the hasher was made with [`ContentHasher::keeping`].
    pub content: Option<Vec<u8>>,
}

impl Hashed {
    pub fn hex(&self) -> String {
        hex::encode(self.sha256)
    }
}

struct Sink {
    sha: Sha256,
    len: u64,
    keep: Option<Vec<u8>>,
    limit: u64,
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.len += buf.len() as u64;
        if let Some(k) = &mut self.keep {
            if self.len > self.limit {
                return Err(io::Error::other(format!(
                    "content is larger than {} bytes",
                    self.limit
                )));
            }
            k.extend_from_slice(buf);
        }
        self.sha.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

enum Mode {
    /// Fewer than two bytes seen: gzip or not is still open.
    Undecided(Sink, Vec<u8>),
    Gzip(Box<flate2::write::MultiGzDecoder<Sink>>),
    Plain(Sink),
    /// An earlier write failed; the error was returned then.
    Failed,
}

/// Streams stored bytes in, gives the SHA-256 of the uncompressed content out.
pub struct ContentHasher {
    mode: Mode,
    stored: u64,
}

impl std::fmt::Debug for ContentHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContentHasher")
            .field("stored", &self.stored)
            .finish_non_exhaustive()
    }
}

impl Default for ContentHasher {
    fn default() -> Self {
        ContentHasher::new()
    }
}

impl ContentHasher {
    /// Hashes only; nothing is kept.
    pub fn new() -> Self {
        Self::with_sink(None, u64::MAX)
    }

    /// Hashes and keeps the uncompressed content (for digests, which must be parsed), failing
    /// once it grows beyond `limit` bytes.
    pub fn keeping(limit: u64) -> Self {
        Self::with_sink(Some(Vec::new()), limit)
    }

    fn with_sink(keep: Option<Vec<u8>>, limit: u64) -> Self {
        ContentHasher {
            mode: Mode::Undecided(
                Sink {
                    sha: Sha256::new(),
                    len: 0,
                    keep,
                    limit,
                },
                Vec::with_capacity(2),
            ),
            stored: 0,
        }
    }

    /// Feeds the next chunk of stored bytes. An error means the content is not valid gzip
    /// (or exceeds the limit); the hasher is then unusable.
    pub fn update(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.stored += chunk.len() as u64;
        let r = self.update_inner(chunk);
        if r.is_err() {
            self.mode = Mode::Failed;
        }
        r
    }

    fn update_inner(&mut self, chunk: &[u8]) -> io::Result<()> {
        match &mut self.mode {
            Mode::Gzip(d) => d.write_all(chunk),
            Mode::Plain(s) => s.write_all(chunk),
            Mode::Failed => Err(io::Error::other("hasher already failed")),
            Mode::Undecided(_, head) => {
                head.extend_from_slice(chunk);
                if head.len() < 2 {
                    return Ok(());
                }
                self.decide()
            }
        }
    }

    /// Leaves the undecided state, replaying the buffered head.
    fn decide(&mut self) -> io::Result<()> {
        let Mode::Undecided(sink, head) = std::mem::replace(&mut self.mode, Mode::Failed) else {
            return Ok(());
        };
        if head.len() >= 2 && head[..2] == GZIP_MAGIC {
            let mut d = Box::new(flate2::write::MultiGzDecoder::new(sink));
            d.write_all(&head)?;
            self.mode = Mode::Gzip(d);
        } else {
            let mut s = sink;
            s.write_all(&head)?;
            self.mode = Mode::Plain(s);
        }
        Ok(())
    }

    /// Ends the stream: checks the gzip trailer and returns the hash.
    pub fn finish(mut self) -> io::Result<Hashed> {
        if matches!(self.mode, Mode::Undecided(..)) {
            self.decide()?;
        }
        let sink = match self.mode {
            Mode::Gzip(d) => d.finish()?,
            Mode::Plain(s) => s,
            Mode::Undecided(..) | Mode::Failed => {
                return Err(io::Error::other("hasher already failed"))
            }
        };
        Ok(Hashed {
            sha256: sink.sha.finalize().into(),
            stored_bytes: self.stored,
            content_bytes: sink.len,
            content: sink.keep,
        })
    }

    /// Hashes everything a reader yields, 64 KiB at a time.
    pub fn read_all<R: Read>(mut self, mut r: R) -> io::Result<Hashed> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.update(&buf[..n])?;
        }
        self.finish()
    }
}

/// SHA-256 of bytes, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{write::GzEncoder, Compression};

    fn gzip(b: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn hashes_uncompressed_content_whatever_the_chunking() {
        let content: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let want = sha256_hex(&content);
        let gz = gzip(&content);
        for chunk in [1usize, 2, 3, 1000, 65_536, gz.len()] {
            let mut h = ContentHasher::new();
            for c in gz.chunks(chunk) {
                h.update(c).unwrap();
            }
            let got = h.finish().unwrap();
            assert_eq!(got.hex(), want, "chunk size {chunk}");
            assert_eq!(got.content_bytes, content.len() as u64);
            assert_eq!(got.stored_bytes, gz.len() as u64);
            assert!(got.content.is_none());
        }
    }

    #[test]
    fn plain_content_and_empty_content_hash_as_is() {
        let h = ContentHasher::keeping(100)
            .read_all(&b"{\"a\":1}"[..])
            .unwrap();
        assert_eq!(h.hex(), sha256_hex(b"{\"a\":1}"));
        assert_eq!(h.content.as_deref(), Some(&b"{\"a\":1}"[..]));
        let h = ContentHasher::new().finish().unwrap();
        assert_eq!(h.hex(), sha256_hex(b""));
        let h = ContentHasher::new().read_all(&b"x"[..]).unwrap();
        assert_eq!(h.hex(), sha256_hex(b"x"));
    }

    #[test]
    fn multi_member_gzip_is_one_content() {
        let mut gz = gzip(b"hello ");
        gz.extend(gzip(b"world"));
        let h = ContentHasher::new().read_all(&gz[..]).unwrap();
        assert_eq!(h.hex(), sha256_hex(b"hello world"));
    }

    #[test]
    fn truncated_or_corrupt_gzip_is_an_error() {
        let gz = gzip(&[7u8; 10_000]);
        let cut = &gz[..gz.len() - 4];
        assert!(ContentHasher::new().read_all(cut).is_err());
        let mut bad = gz.clone();
        let n = bad.len();
        bad[n - 6] ^= 0xff; // CRC
        assert!(ContentHasher::new().read_all(&bad[..]).is_err());
    }

    #[test]
    fn keeping_stops_at_the_limit() {
        let gz = gzip(&[b'a'; 5000]);
        let e = ContentHasher::keeping(4096).read_all(&gz[..]).unwrap_err();
        assert!(e.to_string().contains("larger than 4096"), "{e}");
        // Without keeping, size is no problem.
        assert!(ContentHasher::new().read_all(&gz[..]).is_ok());
    }
}
