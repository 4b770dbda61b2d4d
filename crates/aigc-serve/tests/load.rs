//! A bounded load test on loopback: 50 concurrent clients send 2,000 requests of the cheap
//! endpoints (run list, one run, a sample grid file, the queue, Ollama's tags) mixed with text
//! generations and image grids on two models. Every answer must be a 200 or a documented
//! 429/503 (a full queue); the server's memory must stay bounded. Prints p50/p99 latencies per
//! kind (`cargo test --release -p aigc-serve --test load -- --nocapture`; the README's table).

mod common;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::json;

const CLIENTS: usize = 50;
const CHEAP_REQUESTS: usize = 2000;
/// Every this many cheap requests a client also asks for a generation.
const GENERATE_EVERY: usize = 10;

/// Resident memory of this process (the server runs in it), in MiB.
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next()).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    kib / 1024.0
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

#[test]
fn fifty_clients_get_answers_or_documented_refusals_with_bounded_memory() {
    let server = common::server();
    let base = format!("http://{}", server.addr);
    let cheap: Vec<(&str, String)> = vec![
        ("GET /api/runs", "/api/runs".into()),
        ("GET /api/runs/{name}", "/api/runs/text-gpt".into()),
        ("GET /api/runs/{name}/files/…", "/api/runs/diffusion-cond/files/samples/step-000002.png".into()),
        ("GET /api/queue", "/api/queue".into()),
        ("GET /api/tags", "/api/tags".into()),
    ];
    // Warm up (the first listing reads every manifest from disk).
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    for (_, path) in &cheap {
        assert_eq!(agent.get(format!("{base}{path}")).call().unwrap().status().as_u16(), 200);
    }
    let before = rss_mib();
    let latencies: Mutex<BTreeMap<&str, Vec<Duration>>> = Mutex::default();
    let statuses: Mutex<BTreeMap<(&str, u16), usize>> = Mutex::default();
    let started = Instant::now();
    std::thread::scope(|scope| {
        for client in 0..CLIENTS {
            let (cheap, base, latencies, statuses) = (&cheap, &base, &latencies, &statuses);
            scope.spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(Duration::from_secs(120))).build().into();
                let record = |kind: &'static str, t: Instant, status: u16| {
                    latencies.lock().unwrap().entry(kind).or_default().push(t.elapsed());
                    *statuses.lock().unwrap().entry((kind, status)).or_default() += 1;
                };
                for i in 0..CHEAP_REQUESTS / CLIENTS {
                    let (kind, path) = &cheap[(client + i) % cheap.len()];
                    let t = Instant::now();
                    let mut r = agent.get(format!("{base}{path}")).call().unwrap();
                    let _ = r.body_mut().read_to_vec();
                    record(kind, t, r.status().as_u16());
                    if i % GENERATE_EVERY == GENERATE_EVERY - 1 {
                        let t = Instant::now();
                        let (kind, path, body) = if client % 2 == 0 {
                            ("POST generate (50 tokens)", "/api/runs/text-gpt/generate", json!({"prompt": "ROMEO:", "max_tokens": 50, "stream": false}))
                        } else {
                            ("POST images (16, 8 px)", "/api/runs/gan-mlp/images", json!({"n": 16, "class": 1}))
                        };
                        let mut r = agent.post(format!("{base}{path}")).header("Content-Type", "application/json").send(body.to_string()).unwrap();
                        let _ = r.body_mut().read_to_vec();
                        record(kind, t, r.status().as_u16());
                    }
                }
            });
        }
    });
    let wall = started.elapsed().as_secs_f64();
    let after = rss_mib();
    let statuses = statuses.into_inner().unwrap();
    let mut latencies = latencies.into_inner().unwrap();
    println!("{CLIENTS} clients, {} requests in {wall:.1} s; resident memory {before:.0} → {after:.0} MiB", latencies.values().map(Vec::len).sum::<usize>());
    println!("| request | n | p50 ms | p99 ms | answers |");
    println!("|---|---|---|---|---|");
    for (kind, times) in latencies.iter_mut() {
        times.sort();
        let answers: Vec<String> = statuses.iter().filter(|((k, _), _)| k == kind).map(|((_, s), n)| format!("{n}× {s}")).collect();
        println!("| {kind} | {} | {:.1} | {:.1} | {} |", times.len(), percentile(times, 0.5), percentile(times, 0.99), answers.join(", "));
    }
    for ((kind, status), n) in &statuses {
        assert!([200, 429, 503].contains(status), "{n} answers {status} to {kind}");
        if kind.starts_with("GET") {
            assert_eq!(*status, 200, "{kind} is never queued");
        }
    }
    assert_eq!(latencies.values().map(Vec::len).sum::<usize>(), CHEAP_REQUESTS + CHEAP_REQUESTS / GENERATE_EVERY);
    assert!(statuses.iter().any(|((k, s), _)| k.starts_with("POST") && *s == 200), "some generations ran");
    assert!(after - before < 300.0, "resident memory grew by {:.0} MiB", after - before);
}
