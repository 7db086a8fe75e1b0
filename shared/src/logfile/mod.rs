//! CloudTrail log files: recognising their S3 keys, and reading `{"Records": [...]}` one record
//! at a time without holding the file.
//!
//! [`LogReader`] reads (already decompressed) JSON from any [`Read`](std::io::Read), in chunks,
//! and hands out each element of the top-level `Records` array as a [`RawRecord`]: the
//! record's bytes plus the positions of its top-level fields, found by a structural scan
//! (strings and nested values are stepped over, mostly with bit masks over 64-byte blocks;
//! see the private `scanner`). Nothing is parsed until someone asks for a field, so
//! fields no detection reads cost one scan and no allocation. Memory is one buffer (512 KiB,
//! growing only for a record larger than that, up to [`MAX_RECORD_BYTES`]; a larger record
//! is skipped and reported).
//!
//! [`open`] adds gzip decoding (detected from the magic bytes) and byte counting, so errors can
//! say how far a corrupt or truncated file was read.
//!
//! Modules: [`files`] (which keys and files are log files; the classifier itself is
//! [`crate::s3key`]), [`error`] (errors and progress), [`source`] (opening: gzip and
//! counting), [`record`] (one record and its fields), [`reader`] (the streaming reader), and
//! the private structural scanner.

pub use error::{LogError, Progress};
pub use files::{classify_key, find_log_files, KeyKind};
pub use reader::LogReader;
pub(crate) use record::Span;
pub use record::{kind_of_json, raw_str, Element, RawRecord};
pub use scanner::Field;
pub(crate) use scanner::{key_sig, plain_string_end, sig_at, skip_ws, value_end};
pub use source::{open, Counting, Opened, SourceStats};

/// Records larger than this are skipped (and counted as unreadable) rather than buffered.
pub const MAX_RECORD_BYTES: usize = 8 << 20;
/// The reader's buffer before any record needs more. Each refill is one read of the
/// decompressor, which also copies the last 32 KiB it wrote into its window: 512 KiB halves
/// those calls and copies against 256 KiB and still stays within a core's L2 cache (it
/// measured 1 % faster on the benchmark file; 1 MiB was slower than 512 KiB).
pub const INITIAL_BUFFER: usize = 512 << 10;

pub mod error;
pub mod files;
pub mod reader;
pub mod record;
mod scanner;
pub mod source;

#[cfg(test)]
mod tests;
