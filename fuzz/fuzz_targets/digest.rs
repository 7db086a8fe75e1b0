//! Digest files: log-integrity's content hasher over arbitrary stored bytes (gzip or plain,
//! in chunks), then digest parsing and the string CloudTrail signs.
//!
//! Oracles: never a panic; hashing in chunks equals hashing at once; the hash is the SHA-256
//! of the kept content; gzip content equals what flate2 inflates; a parsed digest gives a
//! string to sign that starts with its end time and names its object.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sha2::{Digest as _, Sha256};
use std::io::Read;
use trailwarden_fuzz::digest::{self, Digest, DigestName};
use trailwarden_fuzz::hash::ContentHasher;
use trailwarden_fuzz::{Chunked, Stored};

const LIMIT: u64 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Some(input) = Stored::from_input(data) else {
        return;
    };

    let chunked =
        ContentHasher::keeping(LIMIT).read_all(Chunked::new(input.stored.clone(), input.seed));
    let mut whole = ContentHasher::keeping(LIMIT);
    let whole = whole.update(&input.stored).and_then(|_| whole.finish());
    match (&chunked, &whole) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "chunking changed the hash"),
        (Err(_), Err(_)) => {}
        _ => panic!("chunking changed the outcome: {chunked:?} vs {whole:?}"),
    }
    let hashed = match chunked {
        Ok(h) => h,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    let content = hashed.content.clone().expect("keeping() keeps the content");
    assert_eq!(hashed.sha256, <[u8; 32]>::from(Sha256::digest(&content)));
    assert_eq!(hashed.content_bytes, content.len() as u64);
    assert_eq!(hashed.stored_bytes, input.stored.len() as u64);
    if input.stored.starts_with(&[0x1f, 0x8b]) {
        let mut inflated = Vec::new();
        flate2::read::MultiGzDecoder::new(&input.stored[..])
            .read_to_end(&mut inflated)
            .expect("flate2 agrees the gzip data is valid");
        assert_eq!(inflated, content);
    } else {
        assert_eq!(content, input.stored);
    }

    let _ = digest::is_digest_key(&String::from_utf8_lossy(input.body));
    let _ = DigestName::parse(&String::from_utf8_lossy(input.body));
    match Digest::parse(&content) {
        Ok(d) => {
            let start = d.start().expect("parse checked the start time");
            let end = d.end().expect("parse checked the end time");
            let _ = (start <= end, d.starts_chain(), d.region());
            let s = digest::string_to_sign(&d, &hashed.hex());
            assert!(s.starts_with(&d.digest_end_time));
            assert!(s.contains(&format!("{}/{}", d.digest_s3_bucket, d.digest_s3_object)));
            assert!(s.ends_with(d.previous_digest_signature.as_deref().unwrap_or("null")));
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
