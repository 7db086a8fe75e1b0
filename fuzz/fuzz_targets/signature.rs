//! Digest signatures: log-integrity's public-key parsing (DER, PKCS#1 or SPKI, and documents
//! in ListPublicKeys' shape) and RSA-SHA256 signature checking, over arbitrary bytes.
//!
//! Oracles: never a panic; a known signature verifies only its own message and no other bytes
//! pass as a signature of it; a signature made with the private key over any message verifies,
//! with the key read from either DER form; the same signature does not verify once one bit
//! of the message changes or for any other signature bytes; a key document that does not
//! parse gives an error that names what is wrong.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rand::rngs::StdRng;
use rand::SeedableRng;
use rsa::pkcs1::EncodeRsaPublicKey;
use rsa::pkcs8::EncodePublicKey;
use rsa::{Pkcs1v15Sign, RsaPrivateKey};
use sha2::{Digest as _, Sha256};
use std::sync::OnceLock;
use trailwarden_fuzz::keys::{KeySet, PublicKey};

struct Pair {
    private: RsaPrivateKey,
    /// The same public key read back from PKCS#1 and from SPKI DER.
    public: [PublicKey; 2],
    /// A message and its signature, made once.
    message: Vec<u8>,
    signature: Vec<u8>,
}

fn sign(private: &RsaPrivateKey, message: &[u8]) -> Vec<u8> {
    private
        .sign(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(message))
        .expect("signing")
}

fn pair() -> &'static Pair {
    static PAIR: OnceLock<Pair> = OnceLock::new();
    PAIR.get_or_init(|| {
        // 1024 bits keeps signing cheap enough for fuzzing; the code does not depend on size.
        let private = RsaPrivateKey::new(&mut StdRng::seed_from_u64(7), 1024).expect("keygen");
        let public = private.to_public_key();
        let pkcs1 = public.to_pkcs1_der().expect("PKCS#1 DER");
        let spki = public.to_public_key_der().expect("SPKI DER");
        let message = b"2024-05-14T12:00:00Z\nlog-bucket/AWSLogs/digest.json.gz\nab\nnull".to_vec();
        let signature = sign(&private, &message);
        Pair {
            message,
            signature,
            public: [
                PublicKey::from_der("pkcs1", pkcs1.as_bytes()).expect("PKCS#1 DER reads back"),
                PublicKey::from_der("spki", spki.as_bytes()).expect("SPKI DER reads back"),
            ],
            private,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let [flip, message @ ..] = data else {
        return;
    };

    // Arbitrary bytes as a key, and as a key document.
    if let Ok(k) = PublicKey::from_der("fuzz", message) {
        let _ = k.verify(message, message);
    }
    match KeySet::from_json(message) {
        Ok(set) => {
            for k in &set.keys {
                let _ = set.find(&k.fingerprint).expect("a listed key is found");
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }

    // The input as a message under a known signature, and as a signature of a known message.
    let p = pair();
    for k in &p.public {
        assert_eq!(
            k.verify(message, &p.signature),
            message == p.message.as_slice()
        );
        assert_eq!(
            k.verify(&p.message, message),
            message == p.signature.as_slice()
        );
    }

    // A real signature over the input verifies; nothing else does. Signing is the slow part
    // of this target, so only one input in sixteen is signed.
    if flip & 0x0f != 0 {
        return;
    }
    let signature = sign(&p.private, message);
    for k in &p.public {
        assert!(
            k.verify(message, &signature),
            "{}: own signature rejected",
            k.fingerprint
        );
        assert!(!k.verify(message, message) || message == signature.as_slice());
        let mut short = signature.clone();
        short.pop();
        assert!(
            !k.verify(message, &short),
            "{}: truncated signature accepted",
            k.fingerprint
        );
        if !message.is_empty() {
            let mut edited = message.to_vec();
            let i = *flip as usize % edited.len();
            edited[i] ^= 1 << (flip % 8);
            assert!(
                !k.verify(&edited, &signature),
                "{}: edited message accepted",
                k.fingerprint
            );
        }
    }
});
