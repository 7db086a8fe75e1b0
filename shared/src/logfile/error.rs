//! Why a log file could not be read to the end, and how far it was read.

use serde::Serialize;
use std::fmt;

/// How far a file was read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// Elements of `Records` handed out so far.
    pub records: u64,
    /// Decompressed bytes consumed.
    pub bytes: u64,
    /// Compressed bytes read from the source (when known).
    pub compressed_bytes: Option<u64>,
}

impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.compressed_bytes {
            Some(c) => write!(
                f,
                "after {} records, {} bytes of JSON ({} compressed bytes read)",
                self.records, self.bytes, c
            ),
            None => write!(f, "after {} records, {} bytes", self.records, self.bytes),
        }
    }
}

/// Why a log file could not be read to the end.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    /// The source itself failed (network, disk): worth retrying.
    #[error("reading failed {progress}: {message}")]
    Read { message: String, progress: Progress },
    /// The gzip stream is corrupt or cut short.
    #[error("corrupt or truncated gzip data {progress}: {message}")]
    Gzip { message: String, progress: Progress },
    /// The JSON ends before the `Records` array and the top-level object are closed.
    #[error("truncated file: the JSON ends {progress} before the Records array is closed")]
    Truncated { progress: Progress },
    /// Broken JSON structure the reader cannot get past.
    #[error("malformed JSON {progress}: {message}")]
    Syntax { message: String, progress: Progress },
    /// Valid JSON, but not a CloudTrail log file.
    #[error("not a CloudTrail log file: {message}")]
    NotLogFile { message: String },
}

impl LogError {
    /// True for failures of the source (retrying may help), false for bad content.
    pub fn is_transient(&self) -> bool {
        matches!(self, LogError::Read { .. })
    }

    /// How far reading got, when the error happened while reading records.
    pub fn progress(&self) -> Option<Progress> {
        match self {
            LogError::Read { progress, .. }
            | LogError::Gzip { progress, .. }
            | LogError::Truncated { progress }
            | LogError::Syntax { progress, .. } => Some(*progress),
            LogError::NotLogFile { .. } => None,
        }
    }
}
