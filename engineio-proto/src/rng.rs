//! The seedable random generator behind session ids.
//!
//! Session ids must not be guessable, so the generator is ChaCha20 (RFC 8439,
//! from `rand_chacha`) keyed by the 32-byte seed the runtime draws from the
//! OS and passes in the config; tests pass a fixed seed and get the same ids
//! every run.

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

/// A generator of unguessable ids: the ChaCha20 keystream (RFC 8439) keyed
/// by a 32-byte seed. The engine draws session ids from it; the Socket.IO
/// layer draws socket ids and private session ids the same way. Same seed,
/// same ids: tests fix the seed, runtimes draw it from the OS.
#[derive(Clone)]
pub struct RandomIds {
    stream: ChaCha20Rng,
}

impl RandomIds {
    /// A generator keyed by `seed`.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self {
            stream: ChaCha20Rng::from_seed(seed),
        }
    }

    /// A new id of 20 URL-safe characters (15 random bytes in base64url),
    /// the shape of the official server's ids.
    pub fn next_id(&mut self) -> String {
        use base64::Engine as _;
        let mut bytes = [0u8; 15];
        self.fill(&mut bytes);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Fills `out` with random bytes.
    pub fn fill(&mut self, out: &mut [u8]) {
        self.stream.fill_bytes(out);
    }
}

impl std::fmt::Debug for RandomIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.write_str("RandomIds(..)")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn matches_rfc8439_block_function_vector() {
        // RFC 8439 section 2.3.2: key 00..1f, block counter 1, nonce
        // 00:00:00:09:00:00:00:4a:00:00:00:00. In the 64-bit-counter layout
        // rand_chacha uses, the first nonce word is the counter's high half
        // and the other two are the stream.
        let seed: Vec<u8> = (0u8..32).collect();
        let mut rng = RandomIds::from_seed(seed.try_into().unwrap());
        let counter = 1u128 | (0x0900_0000u128 << 32);
        rng.stream.set_word_pos(counter * 16);
        rng.stream.set_stream(0x4a00_0000);
        let mut block = [0u8; 64];
        rng.fill(&mut block);
        assert_eq!(
            &block[..16],
            &[
                0x10, 0xf1, 0xe7, 0xe4, 0xd1, 0x3b, 0x59, 0x15, 0x50, 0x0f, 0xdd, 0x1f, 0xa3, 0x20,
                0x71, 0xc4
            ]
        );
        assert_eq!(&block[60..], &[0xa2, 0x50, 0x3c, 0x4e]);
    }

    #[test]
    fn same_seed_same_ids_other_seed_other_ids() {
        let draw = |seed: [u8; 32]| -> Vec<String> {
            let mut rng = RandomIds::from_seed(seed);
            (0..50).map(|_| rng.next_id()).collect()
        };
        let (a, b, c) = (draw([7; 32]), draw([7; 32]), draw([8; 32]));
        assert_eq!(a, b);
        assert!(a.iter().all(|id| !c.contains(id)));
        let unique: std::collections::HashSet<&String> = a.iter().collect();
        assert_eq!(unique.len(), a.len());
        for id in &a {
            assert_eq!(id.len(), 20);
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            );
        }
    }

    #[test]
    fn same_calls_same_bytes() {
        let mut a = RandomIds::from_seed([7; 32]);
        let mut b = RandomIds::from_seed([7; 32]);
        let (mut x, mut y) = ([0u8; 100], [0u8; 100]);
        a.fill(&mut x[..30]);
        a.fill(&mut x[30..]);
        b.fill(&mut y[..30]);
        b.fill(&mut y[30..]);
        assert_eq!(x, y);
        assert_ne!(x[..50], x[50..]);
    }
}
