//! Hash throughput through the crate's own [`Hasher`] and [`Digest::of`].
//!
//! Every byte a registry stores passes through one of these, so their rate is the ceiling for
//! blob pushes. `cargo bench --bench hashing`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tower_oci::protocol::{Algorithm, Digest, Hasher};

/// Deterministic non-repeating bytes (xorshift64*), so no input is suspiciously regular.
fn buffer(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

fn hasher_1mib(c: &mut Criterion) {
    let data = buffer(1 << 20);
    let mut group = c.benchmark_group("hasher_update_1MiB");
    group.throughput(Throughput::Bytes(data.len() as u64));
    for algorithm in [Algorithm::Sha256, Algorithm::Sha512] {
        group.bench_with_input(BenchmarkId::from_parameter(algorithm), &data, |b, data| {
            b.iter(|| {
                let mut hasher = Hasher::new(algorithm);
                hasher.update(black_box(data));
                hasher.finalize()
            })
        });
    }
    group.finish();
}

fn digest_of_1kib(c: &mut Criterion) {
    let data = buffer(1 << 10);
    let mut group = c.benchmark_group("digest_of_1KiB");
    group.throughput(Throughput::Bytes(data.len() as u64));
    for algorithm in [Algorithm::Sha256, Algorithm::Sha512] {
        group.bench_with_input(BenchmarkId::from_parameter(algorithm), &data, |b, data| {
            b.iter(|| Digest::of(algorithm, black_box(data)))
        });
    }
    group.finish();
}

criterion_group!(benches, hasher_1mib, digest_of_1kib);
criterion_main!(benches);
