//! Key verification cost: parse (shape + checksum) and constant-time hash compare, against a
//! plain SHA-256 of the same key as the baseline, and lookup among many keys to show it is
//! O(1) in the number of keys.

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use mcpgw_shared::apikey;

fn bench(c: &mut Criterion) {
    let key = apikey::mint().expect("mint");
    let raw = key.raw.expose().to_owned();
    let mut g = c.benchmark_group("api_key");
    g.bench_function("baseline_sha256", |b| {
        b.iter(|| apikey::hash(black_box(&raw)))
    });
    g.bench_function("parse_checksum", |b| {
        b.iter(|| apikey::parse(black_box(&raw)).is_ok())
    });
    g.bench_function("parse_and_verify", |b| {
        b.iter(|| {
            let _prefix = apikey::parse(black_box(&raw)).expect("valid");
            apikey::verify(black_box(&raw), &key.hash)
        });
    });
    for n in [10usize, 100_000] {
        let mut index: HashMap<String, apikey::KeyHash> = (0..n)
            .map(|_| {
                let k = apikey::mint().expect("mint");
                (k.key_prefix, k.hash)
            })
            .collect();
        index.insert(key.key_prefix.clone(), key.hash);
        g.bench_function(format!("lookup_and_verify_{n}_keys"), |b| {
            b.iter(|| {
                let prefix = apikey::parse(black_box(&raw)).expect("valid");
                index.get(prefix).is_some_and(|h| apikey::verify(&raw, h))
            });
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
