//! Deterministic RSA keys for the test PKI: each key comes from its own ChaCha20 stream seeded
//! by the world seed and the key's label, so keys can be made in parallel and in any order.

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use rsa::RsaPrivateKey;
use sha2::{Digest, Sha256};

/// A 32-byte value derived from the world seed and a label (keys, serial numbers).
pub(crate) fn derive(seed: u64, label: &str) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(b"vigie-pki/v1\0");
    hash.update(seed.to_be_bytes());
    hash.update(label.as_bytes());
    hash.finalize().into()
}

/// The RSA key named `label` in the world made from `seed`.
pub(crate) fn rsa_key(seed: u64, label: &str, bits: usize) -> Result<RsaPrivateKey, rsa::Error> {
    let mut rng = ChaCha20Rng::from_seed(derive(seed, label));
    RsaPrivateKey::new(&mut rng, bits)
}

/// Makes every `(label, bits)` key, spread over the machine's cores, in the order asked.
pub(crate) fn rsa_keys(
    seed: u64,
    wanted: &[(String, usize)],
) -> Result<Vec<RsaPrivateKey>, rsa::Error> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(wanted.len());
    let mut slots: Vec<Option<Result<RsaPrivateKey, rsa::Error>>> = Vec::new();
    slots.resize_with(wanted.len(), || None);
    // Largest keys first so the slow ones do not end up alone on one core at the end.
    let mut order: Vec<usize> = (0..wanted.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(wanted[i].1));
    let chunks: Vec<Vec<usize>> = (0..workers.max(1))
        .map(|w| {
            order
                .iter()
                .copied()
                .skip(w)
                .step_by(workers.max(1))
                .collect()
        })
        .collect();
    let results: Vec<Vec<(usize, Result<RsaPrivateKey, rsa::Error>)>> = std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .iter()
            .map(|chunk| {
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|&i| (i, rsa_key(seed, &wanted[i].0, wanted[i].1)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    for (i, key) in results.into_iter().flatten() {
        slots[i] = Some(key);
    }
    slots
        .into_iter()
        .map(|slot| slot.unwrap_or(Err(rsa::Error::Internal)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_depend_on_seed_and_label_only() {
        let wanted = vec![("a".to_owned(), 1024), ("b".to_owned(), 1024)];
        let both = rsa_keys(7, &wanted).unwrap();
        assert_eq!(both[1], rsa_key(7, "b", 1024).unwrap());
        assert_ne!(both[0], both[1]);
        assert_ne!(both[0], rsa_key(8, "a", 1024).unwrap());
    }
}
