//! Opening a source: gzip detection (from the magic bytes) and byte counting.

use std::io::{self, BufReader, Read};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// Counters shared between a source wrapper and the reader that reports progress.
#[derive(Debug, Clone, Default)]
pub struct SourceStats {
    bytes: Arc<AtomicU64>,
    failed: Arc<AtomicBool>,
}

impl SourceStats {
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
    /// True once a read from the underlying source failed.
    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }
}

/// Counts bytes read from the wrapped source and remembers whether it failed.
pub struct Counting<R> {
    inner: R,
    stats: SourceStats,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.stats.bytes.fetch_add(n as u64, Ordering::Relaxed);
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                self.stats.failed.store(true, Ordering::Relaxed);
                Err(e)
            }
        }
    }
}

/// A source ready for [`LogReader`](super::LogReader): decompressed when it starts with the gzip magic bytes.
pub struct Opened {
    pub reader: Box<dyn Read + Send>,
    pub gzip: bool,
    pub stats: SourceStats,
}

/// Wraps a raw source (a file, an S3 body): counts its bytes and adds gzip decoding when the
/// data starts with the gzip magic bytes, so `.json.gz` and `.json` are both accepted.
pub fn open<R: Read + Send + 'static>(source: R) -> io::Result<Opened> {
    let stats = SourceStats::default();
    let mut counting = Counting {
        inner: source,
        stats: stats.clone(),
    };
    // The magic bytes, however the source hands them out: a read may return a single byte
    // (a stream's chunk boundary), and one byte is not enough to tell gzip from JSON.
    let mut head = [0u8; 2];
    let mut got = 0;
    while got < head.len() {
        match counting.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    let gzip = head[..got] == [0x1f, 0x8b];
    let buffered = BufReader::with_capacity(
        64 << 10,
        io::Cursor::new(head[..got].to_vec()).chain(counting),
    );
    let reader: Box<dyn Read + Send> = if gzip {
        Box::new(flate2::bufread::MultiGzDecoder::new(buffered))
    } else {
        Box::new(buffered)
    };
    Ok(Opened {
        reader,
        gzip,
        stats,
    })
}
