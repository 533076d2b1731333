//! The seedable random generator behind session ids.
//!
//! Session ids must not be guessable, so the generator is ChaCha20 (RFC 8439)
//! keyed by the 32-byte seed the runtime draws from the OS and passes in the
//! config; tests pass a fixed seed and get the same ids every run.

// Indices here are constants or bounded by fixed array sizes; no input from
// a peer reaches this module.
#![allow(clippy::indexing_slicing)]

/// A generator of unguessable ids: the ChaCha20 keystream (RFC 8439) keyed
/// by a 32-byte seed. The engine draws session ids from it; the Socket.IO
/// layer draws socket ids and private session ids the same way. Same seed,
/// same ids: tests fix the seed, runtimes draw it from the OS.
#[derive(Clone)]
pub struct RandomIds {
    key: [u32; 8],
    counter: u64,
    block: [u8; 64],
    used: usize,
}

impl RandomIds {
    /// A generator keyed by `seed`.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let mut key = [0u32; 8];
        for (word, chunk) in key.iter_mut().zip(seed.chunks_exact(4)) {
            *word = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        }
        Self {
            key,
            counter: 0,
            block: [0; 64],
            used: 64,
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
        for byte in out {
            if self.used == self.block.len() {
                self.block = chacha20_block(&self.key, self.counter, [0; 2]);
                self.counter = self.counter.wrapping_add(1);
                self.used = 0;
            }
            *byte = self.block[self.used];
            self.used += 1;
        }
    }
}

impl std::fmt::Debug for RandomIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.write_str("RandomIds(..)")
    }
}

fn quarter_round(s: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
    s[a] = s[a].wrapping_add(s[b]);
    s[d] = (s[d] ^ s[a]).rotate_left(16);
    s[c] = s[c].wrapping_add(s[d]);
    s[b] = (s[b] ^ s[c]).rotate_left(12);
    s[a] = s[a].wrapping_add(s[b]);
    s[d] = (s[d] ^ s[a]).rotate_left(8);
    s[c] = s[c].wrapping_add(s[d]);
    s[b] = (s[b] ^ s[c]).rotate_left(7);
}

/// One 64-byte ChaCha20 block. The 64-bit block counter fills words 12-13
/// and the nonce words 14-15 (the original layout; RFC 8439's 32-bit counter
/// with a 96-bit nonce is the same function with the words split otherwise).
fn chacha20_block(key: &[u32; 8], counter: u64, nonce: [u32; 2]) -> [u8; 64] {
    let mut init = [0u32; 16];
    init[..4].copy_from_slice(&[0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574]);
    init[4..12].copy_from_slice(key);
    init[12] = counter as u32;
    init[13] = (counter >> 32) as u32;
    init[14] = nonce[0];
    init[15] = nonce[1];
    let mut s = init;
    for _ in 0..10 {
        quarter_round(&mut s, 0, 4, 8, 12);
        quarter_round(&mut s, 1, 5, 9, 13);
        quarter_round(&mut s, 2, 6, 10, 14);
        quarter_round(&mut s, 3, 7, 11, 15);
        quarter_round(&mut s, 0, 5, 10, 15);
        quarter_round(&mut s, 1, 6, 11, 12);
        quarter_round(&mut s, 2, 7, 8, 13);
        quarter_round(&mut s, 3, 4, 9, 14);
    }
    let mut out = [0u8; 64];
    for (i, chunk) in out.chunks_exact_mut(4).enumerate() {
        chunk.copy_from_slice(&s[i].wrapping_add(init[i]).to_le_bytes());
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn matches_rfc8439_block_function_vector() {
        // RFC 8439 section 2.3.2: key 00..1f, counter 1, nonce
        // 00:00:00:09:00:00:00:4a:00:00:00:00. In the 64-bit-counter layout
        // the first nonce word is the counter's high half.
        let seed: Vec<u8> = (0u8..32).collect();
        let rng = RandomIds::from_seed(seed.try_into().unwrap());
        let counter = 1u64 | (0x0900_0000u64 << 32);
        let block = chacha20_block(&rng.key, counter, [0x4a00_0000, 0]);
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
    fn same_seed_same_stream_other_seed_other_stream() {
        let mut a = RandomIds::from_seed([7; 32]);
        let mut b = RandomIds::from_seed([7; 32]);
        let mut c = RandomIds::from_seed([8; 32]);
        let (mut x, mut y, mut z) = ([0u8; 100], [0u8; 100], [0u8; 100]);
        a.fill(&mut x);
        b.fill(&mut y[..30]);
        b.fill(&mut y[30..]);
        c.fill(&mut z);
        assert_eq!(x, y);
        assert_ne!(x, z);
    }
}
