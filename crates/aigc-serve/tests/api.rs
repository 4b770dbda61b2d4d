//! The HTTP API end to end: a real server on an ephemeral loopback port over runs of every
//! family (the library's old-run fixtures, plus a tiny conditional diffusion run trained here),
//! called with an HTTP client: every endpoint, streaming, cancelling, full queues, and each class
//! of bad request.

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

mod common;

use aigc::burn::tensor::Device;
use aigc_serve::{QueueLimits, RunningServer, ServeConfig, spawn};
use base64::Engine;
use common::{copy_dir, runs, server, server_with};
use serde_json::{Value, json};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(Duration::from_secs(120))).build().into()
}

/// A response's status, headers and body (JSON when it parses).
struct Reply {
    status: u16,
    headers: ureq::http::HeaderMap,
    bytes: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.bytes)))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts an API error: the status, the field named, and the message mentioning `words`.
    fn error(&self, status: u16, field: &str, words: &str) {
        let body = self.json();
        assert_eq!(self.status, status, "{body}");
        assert_eq!(body["field"], field, "{body}");
        let text = body["error"].as_str().unwrap();
        assert!(text.contains(words), "{text:?} does not mention {words:?}");
    }
}

fn reply(mut response: ureq::http::Response<ureq::Body>) -> Reply {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.body_mut().with_config().limit(64 << 20).read_to_vec().unwrap();
    Reply { status, headers, bytes }
}

fn get(server: &RunningServer, path: &str) -> Reply {
    reply(agent().get(format!("http://{}{path}", server.addr)).call().unwrap())
}

fn post(server: &RunningServer, path: &str, body: Value) -> Reply {
    reply(agent().post(format!("http://{}{path}", server.addr)).header("Content-Type", "application/json").send(body.to_string()).unwrap())
}

fn post_raw(server: &RunningServer, path: &str, content_type: &str, body: Vec<u8>) -> Reply {
    reply(agent().post(format!("http://{}{path}", server.addr)).header("Content-Type", content_type).send(&body[..]).unwrap())
}

/// Posts `len` bytes of JSON whitespace over a raw connection and reads the answer while the body
/// is still being sent: the server refuses an oversized body as soon as it has read past the
/// limit, and closes the connection, so a client that first sends everything meets a broken pipe
/// instead of the answer. Returns the status and the body of the answer.
fn post_oversized(server: &RunningServer, path: &str, len: usize) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(server.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let head = format!("POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n", server.addr);
    stream.write_all(head.as_bytes()).unwrap();
    let mut writer = stream.try_clone().unwrap();
    // The sender stops at the first write error: the server has answered and closed.
    let sender = std::thread::spawn(move || {
        let chunk = vec![b' '; 64 << 10];
        let mut sent = 0;
        while sent < len && writer.write_all(&chunk[..(len - sent).min(chunk.len())]).is_ok() {
            sent += chunk.len();
        }
    });
    let mut answer = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            // A reset after the answer has arrived (the server closed with body bytes unread).
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset && !answer.is_empty() => break,
            Err(e) => panic!("reading the answer to an oversized body: {e}"),
        }
    }
    sender.join().unwrap();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("not an HTTP answer: {text:?}"));
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

fn decode(b64: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(b64.as_str().unwrap()).unwrap()
}

fn png_size(png: &[u8]) -> (u32, u32) {
    let image = image::load_from_memory(png).unwrap();
    (image.width(), image.height())
}

/// A multipart/form-data body of text fields and files.
fn multipart(fields: &[(&str, &str)], files: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "aigc-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes());
    }
    for (name, bytes) in files {
        body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}.png\"\r\nContent-Type: image/png\r\n\r\n").as_bytes());
        body.extend(*bytes);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[test]
fn runs_are_listed_and_described_by_name_through_the_one_dispatch() {
    let server = server();
    let list = get(&server, "/api/runs");
    assert_eq!(list.status, 200);
    let runs = list.json()["runs"].as_array().unwrap().clone();
    let find = |name: &str| runs.iter().find(|r| r["name"] == name).unwrap_or_else(|| panic!("{name} not listed: {runs:?}")).clone();
    for (name, family, can) in [
        ("gan-mlp", "gan", "images"),
        ("vae-mlp", "vae", "inpainting"),
        ("diffusion-cond", "diffusion", "images"),
        ("text-gpt", "text", "text"),
        ("text-lstm", "text", "text"),
        ("music-lstm", "music", "melodies"),
        ("music-markov", "music", "melodies"),
    ] {
        let run = find(name);
        assert_eq!(run["family"], family, "{run}");
        assert!(run["capabilities"].as_array().unwrap().iter().any(|c| c == can), "{run}");
    }
    assert_eq!(find("diffusion-cond")["step"], 2);
    // The fixtures' `aigc eval` reports, as `aigc report` tables them.
    let eval = find("gan-mlp")["eval"].clone();
    assert!(eval["fid"].as_f64().unwrap() > 0.0 && eval["recall"].is_number() && eval["step"] == 20, "{eval}");
    assert!(find("text-gpt")["eval"].is_null());
    assert!(find("text-gpt")["last_losses"].as_object().unwrap().keys().any(|k| k.ends_with("loss")));
    // No server path anywhere in the listing.
    let root = runs_root_text();
    assert!(!String::from_utf8_lossy(&list.bytes).contains(&root), "the listing shows the server's folder");

    let described = get(&server, "/api/runs/diffusion-cond");
    assert_eq!(described.status, 200);
    let d = described.json();
    assert!(d["config"].as_str().unwrap().contains("conditional = true"), "{}", d["config"]);
    assert!(!d["metrics"].as_array().unwrap().is_empty());
    assert!(d["samples"].as_array().unwrap().iter().any(|s| s == "samples/step-000002.png"), "{}", d["samples"]);
    assert!(!String::from_utf8_lossy(&described.bytes).contains(&root));
    assert!(d["files"].as_array().unwrap().iter().all(|f| !f.as_str().unwrap().starts_with("checkpoints/")), "weights are not listed");

    let grid = get(&server, "/api/runs/diffusion-cond/files/samples/step-000002.png");
    assert_eq!((grid.status, grid.header("content-type")), (200, Some("image/png")));
    assert!(png_size(&grid.bytes).0 > 28);
    let config = get(&server, "/api/runs/text-gpt/files/config.toml");
    assert!(String::from_utf8_lossy(&config.bytes).contains("n_embd = 16"));
    get(&server, "/api/runs/text-gpt/files/checkpoints/step-000020/model.mpk").error(404, "file", "checkpoints are not served");
    get(&server, "/api/runs/text-gpt/files/no-such.png").error(404, "file", "no file");

    let tags = get(&server, "/api/tags").json();
    let models: Vec<&str> = tags["models"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    for name in ["poems-gpt", "text-gpt", "text-lstm"] {
        assert!(models.contains(&name), "{models:?}");
    }
    assert!(!models.contains(&"gan-mlp"));
    assert_eq!(get(&server, "/api/version").json()["name"], "aigc");
}

fn runs_root_text() -> String {
    std::fs::canonicalize(runs()).unwrap().display().to_string()
}

#[test]
fn names_resolve_only_inside_the_runs_folder() {
    let server = server();
    get(&server, "/api/runs/no-such-run").error(404, "run", "no run");
    get(&server, "/api/runs/..%2F..%2Fetc").error(400, "run", "not a run name");
    get(&server, "/api/runs/%2Fetc").error(400, "run", "not a run name");
    get(&server, "/api/runs/.hidden").error(400, "run", "not a run name");
    get(&server, "/api/runs/text-gpt/files/..%2F..%2Fetc%2Fpasswd").error(400, "file", "not a file of the run");
    get(&server, "/api/runs/text-gpt/files/%2E%2E/gan-mlp/config.toml").error(400, "file", "not a file of the run");
    #[cfg(unix)]
    {
        // A link inside the runs folder to a folder outside it is not a run.
        let outside = tempfile::tempdir().unwrap();
        copy_dir(&runs().join("text-gpt"), &outside.path().join("secret"));
        let link = runs().join("zz-link-out");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(outside.path().join("secret"), &link).unwrap();
        get(&server, "/api/runs/zz-link-out").error(404, "run", "no run");
        post(&server, "/api/runs/zz-link-out/generate", json!({"prompt": "ROMEO:", "stream": false})).error(404, "run", "no run");
        std::fs::remove_file(&link).unwrap();
    }
}

#[test]
fn images_come_as_base64_grids_or_png_with_the_seed_echoed() {
    let server = server();
    let a = post(&server, "/api/runs/gan-mlp/images", json!({"n": 20, "seed": 7, "class": 3, "individual": true, "scale": 2}));
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.bytes));
    let body = a.json();
    assert_eq!((body["seed"].as_u64(), body["n"].as_u64(), a.header("x-seed")), (Some(7), Some(20), Some("7")));
    assert_eq!(body["images"].as_array().unwrap().len(), 20);
    assert_eq!(png_size(&decode(&body["images"][0])), (16, 16), "8 px images at scale 2");
    // The same seed draws the same grid; −1 draws a seed and says which.
    let again = post(&server, "/api/runs/gan-mlp/images", json!({"n": 20, "seed": 7, "class": 3, "scale": 2})).json();
    assert_eq!(again["grid"], body["grid"]);
    let random = post(&server, "/api/runs/gan-mlp/images", json!({"n": 4, "seed": -1, "class": 1})).json();
    let drawn = random["seed"].as_u64().unwrap();
    let repeated = post(&server, "/api/runs/gan-mlp/images", json!({"n": 4, "seed": drawn, "class": 1})).json();
    assert_eq!(repeated["grid"], random["grid"]);

    let png = reply(
        agent()
            .post(format!("http://{}/api/runs/diffusion-cond/images", server.addr))
            .header("Content-Type", "application/json")
            .header("Accept", "image/png")
            .send(json!({"n": 4, "seed": 3, "class": 2, "guidance": 2.0, "sample_steps": 3}).to_string())
            .unwrap(),
    );
    assert_eq!((png.status, png.header("content-type"), png.header("x-seed")), (200, Some("image/png"), Some("3")));
    assert_eq!(png_size(&png.bytes), (2 * 28 + 3 * 2, 2 * 28 + 3 * 2), "a 2 × 2 grid of 28 px images, 2 px apart and framed");
    let strip = post(&server, "/api/runs/diffusion-cond/images", json!({"n": 1, "seed": 3, "class": 2, "strip": true, "sample_steps": 3})).json();
    assert_eq!(strip["cols"], 10);
    let walk = post(&server, "/api/runs/vae-mlp/images", json!({"n": 10, "seed": 1, "interpolate": true})).json();
    assert!(walk["animation"].is_string(), "an interpolation comes with its animation");

    for (body, field, words) in [
        (json!({"n": 0}), "n", "between 1 and 256"),
        (json!({"n": 100000}), "n", "between 1 and 256"),
        (json!({"n": "four"}), "n", "invalid type"),
        (json!({"seed": -5}), "seed", "−1"),
        (json!({"scale": 9}), "scale", "between 1 and 8"),
        (json!({"class": 10}), "class", "not a class"),
        (json!({"sample_steps": 0}), "sample_steps", "between 1"),
        (json!({"colour": true}), "colour", "unknown field"),
        (json!({"checkpoint": "newest"}), "checkpoint", "newest"),
    ] {
        post(&server, "/api/runs/gan-mlp/images", body.clone()).error(400, field, words);
    }
    post(&server, "/api/runs/vae-mlp/images", json!({"guidance": 2.0})).error(400, "guidance", "guidance");
    post(&server, "/api/runs/diffusion-cond/images", json!({"n": 1, "class": 1, "sample_steps": 51})).error(400, "sample_steps", "50");
    post(&server, "/api/runs/text-gpt/images", json!({})).error(400, "run", "draw images");
}

#[test]
fn malformed_requests_get_json_errors_never_a_panic() {
    let server = server();
    let path = "/api/runs/text-gpt/generate";
    post_raw(&server, path, "application/json", b"{\"prompt\": ".to_vec()).error(400, "prompt", "EOF");
    post_raw(&server, path, "application/json", b"[1, 2]".to_vec()).error(400, "body", "expected a JSON object");
    post_raw(&server, path, "application/json", b"{\"prompt\": \"a\"} trailing".to_vec()).error(400, "body", "trailing");
    post_raw(&server, path, "application/json", vec![0xff, 0xfe, 0x00]).error(400, "body", "");
    post_raw(&server, path, "text/plain", b"ROMEO:".to_vec()).error(415, "content-type", "application/json");
    let big = json!({"prompt": "x".repeat(70_000)}).to_string().into_bytes();
    post_raw(&server, path, "application/json", big).error(413, "body", "64 KiB");
    let (status, body) = post_oversized(&server, "/api/runs/vae-mlp/inpaint", 9 << 20);
    assert_eq!(status, 413, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["field"], "body", "{body}");
    get(&server, "/api/nothing-here").error(404, "path", "no such API endpoint");
    get(&server, "/api/runs/text-gpt/generate").error(405, "method", "method");
    // The server still answers.
    assert_eq!(get(&server, "/api/runs").status, 200);
}

#[test]
fn text_streams_as_ndjson_in_ollamas_shape_and_repeats_with_its_seed() {
    let server = server();
    let url = format!("http://{}/api/runs/text-gpt/generate", server.addr);
    let mut response = agent().post(&url).header("Content-Type", "application/json").send(json!({"prompt": "ROMEO:", "max_tokens": 30, "seed": 4}).to_string()).unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers().get("content-type").unwrap(), "application/x-ndjson");
    let lines: Vec<Value> = BufReader::new(response.body_mut().as_reader()).lines().map(|l| serde_json::from_str(&l.unwrap()).unwrap()).collect();
    assert_eq!(lines.len(), 31, "30 tokens and the final line");
    assert!(lines[..30].iter().all(|l| l["done"] == false && l["model"] == "text-gpt" && l["response"].is_string()));
    let last = &lines[30];
    assert_eq!((last["done"].as_bool(), last["eval_count"].as_u64(), last["prompt_eval_count"].as_u64(), last["seed"].as_u64()), (Some(true), Some(30), Some(6), Some(4)));
    assert!(last["total_duration"].as_u64().unwrap() >= last["eval_duration"].as_u64().unwrap());
    let streamed: String = lines[..30].iter().map(|l| l["response"].as_str().unwrap()).collect();
    assert_eq!(streamed.chars().count(), 30);

    let whole = post(&server, "/api/runs/text-gpt/generate", json!({"prompt": "ROMEO:", "max_tokens": 30, "seed": 4, "stream": false})).json();
    assert_eq!(whole["response"], streamed.as_str(), "the same seed gives the same text, streamed or not");
    // Ollama's own endpoint, with the run's name as the model.
    let ollama = post(&server, "/api/generate", json!({"model": "text-gpt", "prompt": "ROMEO:", "stream": false, "options": {"seed": 4, "num_predict": 30}, "keep_alive": "5m"})).json();
    assert_eq!(ollama["response"], streamed.as_str());
    post(&server, "/api/generate", json!({"model": "nope", "prompt": "x"})).error(404, "model", "no run");

    // Server-sent events.
    let mut events = agent().post(&url).header("Content-Type", "application/json").header("Accept", "text/event-stream").send(json!({"prompt": "ROMEO:", "max_tokens": 5, "seed": 4}).to_string()).unwrap();
    assert!(events.headers().get("content-type").unwrap().to_str().unwrap().starts_with("text/event-stream"));
    let text = events.body_mut().read_to_string().unwrap();
    assert_eq!(text.matches("event: token").count(), 5, "{text}");
    assert_eq!(text.matches("event: done").count(), 1, "{text}");

    for (body, field, words) in [
        (json!({"prompt": ""}), "prompt", "must not be empty"),
        (json!({}), "body", "missing field `prompt`"),
        (json!({"prompt": "ROMEO:", "max_tokens": 0}), "max_tokens", "between 1 and 4096"),
        (json!({"prompt": "ROMEO:", "max_tokens": 5000}), "max_tokens", "between 1 and 4096"),
        (json!({"prompt": "ROMEO:", "temperature": -1}), "temperature", "≥ 0"),
        (json!({"prompt": "ROMEO:", "top_p": 0}), "top_p", "(0, 1]"),
        (json!({"prompt": "x".repeat(9000)}), "prompt", "at most 8192"),
        (json!({"prompt": "数"}), "prompt", "数"),
    ] {
        post(&server, "/api/runs/text-gpt/generate", body.clone()).error(400, field, words);
    }
    post(&server, "/api/runs/gan-mlp/generate", json!({"prompt": "x"})).error(400, "run", "generate text");
}

/// Reads NDJSON lines until one has `done`, or `n` lines.
fn read_lines(reader: &mut impl BufRead, n: usize) -> Vec<Value> {
    let mut out = Vec::new();
    for _ in 0..n {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            break;
        }
        out.push(serde_json::from_str(&line).unwrap());
    }
    out
}

fn queue(server: &RunningServer) -> Value {
    get(server, "/api/queue").json()
}

/// Polls until `check` holds (a few seconds at most).
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < Duration::from_secs(60), "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn one_job_per_model_runs_at_a_time_full_queues_refuse_and_a_disconnect_cancels() {
    let server = server_with(None, QueueLimits { waiting_per_model: 1, total: 3 });
    let url = |run: &str| format!("http://{}/api/runs/{run}/generate", server.addr);
    let long = json!({"prompt": "ROMEO:", "max_tokens": 4096, "seed": 1}).to_string();
    // Two long generations hold their models (read one line each, so both are running).
    let mut a = agent().post(url("text-gpt")).header("Content-Type", "application/json").send(&long).unwrap();
    let mut a_lines = BufReader::new(a.body_mut().as_reader());
    assert_eq!(read_lines(&mut a_lines, 1).len(), 1);
    let mut b = agent().post(url("text-lstm")).header("Content-Type", "application/json").send(&long).unwrap();
    let mut b_lines = BufReader::new(b.body_mut().as_reader());
    assert_eq!(read_lines(&mut b_lines, 1).len(), 1);
    // A third waits for text-gpt.
    let waiting_url = url("text-gpt");
    let waiting = std::thread::spawn(move || {
        let r = agent().post(waiting_url).header("Content-Type", "application/json").send(json!({"prompt": "JULIET:", "max_tokens": 3, "stream": false}).to_string()).unwrap();
        reply(r)
    });
    eventually("the third job waits", || queue(&server)["jobs"]["text-gpt"] == 2);
    let jobs = queue(&server)["jobs"].clone();
    assert_eq!(jobs, json!({"text-gpt": 2, "text-lstm": 1}));
    // text-gpt's queue is full; then the server is.
    let full = post(&server, "/api/runs/text-gpt/generate", json!({"prompt": "x", "stream": false}));
    full.error(429, "queue", "the queue is full");
    assert_eq!(full.json()["queue_length"], 2);
    post(&server, "/api/runs/gan-mlp/images", json!({"n": 1})).error(503, "queue", "busy");
    // Closing the first stream cancels its generation: the waiting job runs, in its place.
    let cancelled_before = queue(&server)["cancelled"].as_u64().unwrap();
    drop(a_lines);
    drop(a);
    let third = waiting.join().unwrap();
    assert_eq!((third.status, third.header("x-queue-position")), (200, Some("1")), "{}", String::from_utf8_lossy(&third.bytes));
    assert_eq!(third.json()["eval_count"], 3);
    eventually("the abandoned generation is counted", || queue(&server)["cancelled"].as_u64().unwrap() > cancelled_before);
    drop(b_lines);
    drop(b);
    eventually("every queue empties", || queue(&server)["jobs"] == json!({}));
    assert_eq!(queue(&server)["cancelled"].as_u64().unwrap(), cancelled_before + 2, "both long generations stopped early");
}

#[test]
fn poems_chats_and_tunes() {
    let server = server();
    let poem = post(&server, "/api/runs/poems-gpt/poem", json!({"form": "五言绝句", "acrostic": "春夏秋冬", "n": 2, "seed": 1}));
    assert_eq!(poem.status, 200, "{}", poem.json());
    let p = poem.json();
    assert_eq!((p["matching"].as_u64(), p["form"]["lines"].as_u64(), p["seed"].as_u64()), (Some(2), Some(4), Some(1)), "{p}");
    for text in p["poems"].as_array().unwrap() {
        let lines: Vec<&str> = text.as_str().unwrap().split(['，', '。']).filter(|l| !l.is_empty()).collect();
        let heads: String = lines.iter().map(|l| l.chars().next().unwrap()).collect();
        assert_eq!(heads, "春夏秋冬", "{text}");
    }
    // A Shakespeare model cannot write the form: a clear error.
    let poem = post(&server, "/api/runs/text-gpt/poem", json!({"form": "五言绝句", "seed": 1}));
    assert_eq!(poem.status, 400, "{}", poem.json());
    post(&server, "/api/runs/text-gpt/poem", json!({"form": "sonnet"})).error(400, "form", "sonnet");
    post(&server, "/api/runs/text-gpt/poem", json!({"n": 17})).error(400, "n", "between 1 and 16");
    post(&server, "/api/runs/text-gpt/poem", json!({"start": "春天"})).error(400, "start", "one character");
    post(&server, "/api/runs/poems-gpt/poem", json!({"acrostic": "春夏秋冬春夏秋冬春"})).error(400, "acrostic", "characters for a poem of 4 lines");

    let history = json!([{"line": "Good morrow.", "reply": "Good morrow, sir."}]);
    let chat = |seed: u64| post(&server, "/api/runs/text-gpt/chat", json!({"user": "ROMEO", "bot": "JULIET", "history": history, "line": "What light is this?", "max_reply": 40, "seed": seed}));
    let first = chat(3);
    assert_eq!(first.status, 200, "{}", first.json());
    let answer = first.json();
    assert_eq!((answer["user"].as_str(), answer["bot"].as_str(), answer["seed"].as_u64()), (Some("ROMEO"), Some("JULIET"), Some(3)));
    assert!(answer["reply"].as_str().unwrap().chars().count() <= 40);
    assert_eq!(chat(3).json()["reply"], answer["reply"], "a chat turn repeats with its seed");
    // Streamed, the reply comes a character at a time, then the same record.
    let mut streamed = agent()
        .post(format!("http://{}/api/runs/text-gpt/chat", server.addr))
        .header("Content-Type", "application/json")
        .send(json!({"user": "ROMEO", "bot": "JULIET", "history": history, "line": "What light is this?", "max_reply": 40, "seed": 3, "stream": true}).to_string())
        .unwrap();
    let lines: Vec<Value> = BufReader::new(streamed.body_mut().as_reader()).lines().map(|l| serde_json::from_str(&l.unwrap()).unwrap()).collect();
    let (last, pieces) = lines.split_last().unwrap();
    assert_eq!((last["done"].as_bool(), &last["reply"]), (Some(true), &answer["reply"]));
    let joined: String = pieces.iter().map(|l| l["response"].as_str().unwrap()).collect();
    assert_eq!(joined.trim_end(), answer["reply"].as_str().unwrap());
    post(&server, "/api/runs/text-gpt/chat", json!({"user": "ROMEO", "bot": "GODOT", "line": "Hello"})).error(400, "bot", "GODOT");
    post(&server, "/api/runs/text-gpt/chat", json!({"user": "ROMEO", "bot": "JULIET", "line": " "})).error(400, "line", "empty");
    let long = json!([{"line": "x".repeat(5000), "reply": "y".repeat(5000)}]);
    post(&server, "/api/runs/text-gpt/chat", json!({"user": "ROMEO", "bot": "JULIET", "history": long, "line": "Hi"})).error(400, "history", "8192");

    for run in ["music-markov", "music-lstm"] {
        let tune = post(&server, &format!("/api/runs/{run}/compose"), json!({"key": "D", "meter": "6/8", "bars": 4, "seed": 2}));
        assert_eq!(tune.status, 200, "{run}: {}", tune.json());
        let t = tune.json();
        let abc = t["abc"].as_str().unwrap();
        assert!(abc.contains("K:D") && abc.contains("M:6/8"), "{abc}");
        assert!(decode(&t["midi"]).starts_with(b"MThd"));
        let wav = decode(&t["wav"]);
        assert!(wav.starts_with(b"RIFF") && &wav[8..12] == b"WAVE");
        assert!(t["seconds"].as_f64().unwrap() > 1.0);
    }
    post(&server, "/api/runs/music-markov/compose", json!({"bars": 65})).error(400, "bars", "between 1 and 64");
    post(&server, "/api/runs/music-markov/compose", json!({"key": "H"})).error(400, "key", "H");
    post(&server, "/api/runs/music-markov/compose", json!({"tempo": 1000})).error(400, "tempo", "400");
    post(&server, "/api/runs/vae-mlp/compose", json!({})).error(400, "run", "melodies");
}

/// An 8 × 8 PNG: white where `white` holds.
fn png(white: impl Fn(u32, u32) -> bool) -> Vec<u8> {
    let image = image::GrayImage::from_fn(8, 8, |x, y| image::Luma([if white(x, y) { 255 } else { 0 }]));
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

#[test]
fn inpainting_takes_uploads_or_held_out_images_and_style_streams_progress() {
    let server = server();
    let path = "/api/runs/vae-mlp/inpaint";
    let photo = png(|x, _| x < 4);
    let mask = png(|x, y| (2..6).contains(&x) && (2..6).contains(&y));
    let (kind, body) = multipart(&[("samples", "2"), ("seed", "1")], &[("image", &photo), ("mask", &mask)]);
    let repaired = post_raw(&server, path, &kind, body);
    assert_eq!(repaired.status, 200, "{}", String::from_utf8_lossy(&repaired.bytes));
    let r = repaired.json();
    assert_eq!((r["method"].as_str(), r["holes"].as_u64(), r["columns"].as_u64()), (Some("vae"), Some(16), Some(4)));
    assert_eq!(png_size(&decode(&r["grid"])).1 > 8, true);
    let held = post(&server, path, json!({"heldout": 3, "rect": "0,0,4,8", "samples": 1}));
    assert_eq!(held.status, 200, "{}", held.json());
    assert_eq!(held.json()["holes"], 32);

    let (kind, body) = multipart(&[], &[("image", b"not a png")]);
    post_raw(&server, path, &kind, body).error(400, "image", "unreadable image");
    let (kind, body) = multipart(&[("colour", "red")], &[]);
    post_raw(&server, path, &kind, body).error(400, "colour", "unknown field");
    let (kind, body) = multipart(&[("samples", "99")], &[("image", &photo)]);
    post_raw(&server, path, &kind, body).error(400, "samples", "between 1 and 16");
    let (kind, body) = multipart(&[("steps", "many")], &[("image", &photo)]);
    post_raw(&server, path, &kind, body).error(400, "steps", "many");
    post(&server, path, json!({})).error(400, "image", "held-out");
    post(&server, path, json!({"heldout": 1_000_000})).error(400, "heldout", "held-out images");
    post(&server, path, json!({"heldout": 1, "rect": "9,9"})).error(400, "rect", "x,y,w,h");
    post(&server, path, json!({"image": "@@@"})).error(400, "image", "base64");
    post(&server, "/api/runs/gan-mlp/inpaint", json!({"heldout": 1})).error(400, "run", "inpaint");

    // Style transfer: embedded pictures by name only, uploads otherwise; events on request.
    let styled = post(&server, "/api/style", json!({"style_name": "brick", "content_name": "chelsea", "size": 32, "steps": 4, "seed": 1}));
    assert_eq!(styled.status, 200, "{}", String::from_utf8_lossy(&styled.bytes));
    let s = styled.json();
    assert_eq!(png_size(&decode(&s["image"])).0, 32);
    assert!(s["report"]["style_after"].as_f64().unwrap() < s["report"]["style_before"].as_f64().unwrap());
    let (kind, body) = multipart(&[("size", "16"), ("steps", "4"), ("every", "2")], &[("style", &photo)]);
    let mut events = agent().post(format!("http://{}/api/style", server.addr)).header("Content-Type", &kind).header("Accept", "text/event-stream").send(&body[..]).unwrap();
    let text = events.body_mut().with_config().limit(16 << 20).read_to_string().unwrap();
    assert!(text.matches("event: progress").count() >= 2, "{text}");
    assert_eq!(text.matches("event: done").count(), 1, "{text}");
    post(&server, "/api/style", json!({"style_name": "/etc/passwd"})).error(400, "style_name", "not an embedded picture");
    post(&server, "/api/style", json!({"content_name": "chelsea"})).error(400, "style", "style image");
    post(&server, "/api/style", json!({"style_name": "brick", "size": 4096})).error(400, "size", "512");
    post(&server, "/api/style", json!({"style_name": "brick", "steps": 0})).error(400, "steps", "between 1");
}

#[test]
fn a_token_guards_the_api() {
    let server = server_with(Some("s3cret"), QueueLimits::default());
    let url = format!("http://{}/api/runs", server.addr);
    let denied = reply(agent().get(&url).call().unwrap());
    denied.error(401, "authorization", "Bearer");
    assert_eq!(denied.header("www-authenticate"), Some("Bearer"));
    reply(agent().get(&url).header("Authorization", "Bearer wrong").call().unwrap()).error(401, "authorization", "Bearer");
    assert_eq!(reply(agent().get(&url).header("Authorization", "Bearer s3cret").call().unwrap()).status, 200);
    // Off loopback, no token is refused before anything listens.
    let open = ServeConfig { runs: runs().to_path_buf(), addr: "0.0.0.0:0".parse().unwrap(), token: None, device: Device::flex(), queues: QueueLimits::default() };
    assert!(spawn(&open).err().unwrap().to_string().contains("token"));
    let missing = ServeConfig { runs: runs().join("no-such-folder"), addr: "127.0.0.1:0".parse().unwrap(), token: None, device: Device::flex(), queues: QueueLimits::default() };
    assert!(spawn(&missing).err().unwrap().to_string().starts_with("runs: "));
}

/// A tiny character GPT on the embedded plays (steps set by the caller).
fn tiny_text(steps: usize) -> Value {
    json!({
        "data": "shakespeare", "steps": steps, "n_layer": 1, "n_head": 2, "n_embd": 16, "block_size": 16, "batch_size": 8,
        "lr": 3e-3, "warmup_steps": 5, "lr_decay_steps": 5000, "log_every": 1, "eval_every": 1000, "eval_batches": 2, "checkpoint_every": 1000,
    })
}

fn job(server: &RunningServer, id: u64) -> Value {
    get(server, &format!("/api/jobs/{id}")).json()
}

fn wait_for(server: &RunningServer, id: u64, status: &str) -> Value {
    let mut last = Value::Null;
    eventually(&format!("job {id} is {status}"), || {
        last = job(server, id);
        assert!(last["status"] != "failed" || status == "failed", "{last}");
        last["status"] == status
    });
    last
}

/// The `loss` of every logged training step of a run.
fn losses(run: &str) -> Vec<(u64, f64)> {
    let text = std::fs::read_to_string(runs().join(run).join("metrics.jsonl")).unwrap();
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r.get("loss").is_some())
        .map(|r| (r["step"].as_u64().unwrap(), r["loss"].as_f64().unwrap()))
        .collect()
}

#[test]
fn training_jobs_report_progress_and_stop_with_a_checkpoint_that_resumes_exactly() {
    let server = server();
    // A job that runs to its end, watched through its events; the model learns.
    let started = post(&server, "/api/train", json!({"family": "text", "run": "api-train-a", "config": tiny_text(60)}));
    assert_eq!(started.status, 202, "{}", started.json());
    let a = started.json();
    assert_eq!((a["run"].as_str(), a["config"]["steps"].as_u64()), (Some("api-train-a"), Some(60)));
    let id = a["id"].as_u64().unwrap();
    let mut events = agent().get(format!("http://{}/api/jobs/{id}/events", server.addr)).call().unwrap();
    let text = events.body_mut().read_to_string().unwrap();
    assert!(text.contains("event: done"), "{text}");
    let done = wait_for(&server, id, "done");
    assert_eq!((done["step"].as_u64(), done["total_steps"].as_u64()), (Some(60), Some(60)));
    assert!(done["metrics"].is_object() && done["grid"].is_null(), "{done}");
    let logged = losses("api-train-a");
    let mean = |s: &[(u64, f64)]| s.iter().map(|(_, l)| l).sum::<f64>() / s.len() as f64;
    assert!(mean(&logged[50..]) < mean(&logged[..5]) - 0.5, "the loss fell by half a nat: {logged:?}");
    let listed = get(&server, "/api/runs").json();
    assert!(listed["runs"].as_array().unwrap().iter().any(|r| r["name"] == "api-train-a" && r["step"] == 60));

    // A long job stopped mid-way keeps the step it reached; resuming it to step k + 10 gives
    // the losses of an uninterrupted run to k + 10.
    let long = post(&server, "/api/train", json!({"family": "text", "run": "api-train-b", "config": tiny_text(100_000)})).json();
    let id = long["id"].as_u64().unwrap();
    eventually("the long job has taken 12 steps", || job(&server, id)["step"].as_u64().unwrap_or(0) >= 12);
    let stopping = reply(agent().delete(format!("http://{}/api/jobs/{id}", server.addr)).call().unwrap());
    assert_eq!(stopping.status, 202);
    let stopped = wait_for(&server, id, "stopped");
    let k = stopped["step"].as_u64().unwrap();
    assert!(k < 100_000);
    assert_eq!(losses("api-train-b").last().unwrap().0, k);
    reply(agent().delete(format!("http://{}/api/jobs/{id}", server.addr)).call().unwrap()).error(409, "job", "already ended");
    let resumed = post(&server, "/api/train", json!({"family": "text", "run": "api-train-b", "resume": true, "config": {"steps": k + 10}}));
    assert_eq!(resumed.status, 202, "{}", resumed.json());
    wait_for(&server, resumed.json()["id"].as_u64().unwrap(), "done");
    let straight = post(&server, "/api/train", json!({"family": "text", "run": "api-train-c", "config": tiny_text(k as usize + 10)})).json();
    wait_for(&server, straight["id"].as_u64().unwrap(), "done");
    assert_eq!(losses("api-train-b"), losses("api-train-c"), "stopped and resumed = uninterrupted");

    for (body, status, field, words) in [
        (json!({"family": "gpt"}), 400, "family", "expected one of"),
        (json!({"family": "text", "config": {"lr_x": 1}}), 400, "config.lr_x", "unknown config key"),
        (json!({"family": "text", "config": {"step": 5}}), 400, "config.step", "did you mean steps?"),
        (json!({"family": "text", "config": {"steps": "many"}}), 400, "config.steps", "invalid type"),
        (json!({"family": "text", "config": {"batch_size": 0}}), 400, "config.batch_size", ""),
        (json!({"family": "text", "config": {"data": "/etc/passwd"}}), 400, "config.data", "by name"),
        (json!({"family": "text", "run": "api-train-a"}), 409, "run", "resume"),
        (json!({"family": "text", "run": "never-trained", "resume": true}), 404, "run", "no run"),
        (json!({"family": "text", "run": "../x"}), 400, "run", "not a run name"),
    ] {
        post(&server, "/api/train", body).error(status, field, words);
    }
    get(&server, "/api/jobs/999").error(404, "job", "no job");
    get(&server, "/api/jobs/x").error(400, "path", "");
    assert!(get(&server, "/api/jobs").json()["jobs"].as_array().unwrap().len() >= 4);
}

#[test]
fn a_client_that_leaves_stops_its_diffusion_sampling() {
    let server = server();
    let body = |steps: usize| json!({"n": 256, "class": 1, "guidance": 0, "sampler": "ddim", "sample_steps": steps, "seed": 1}).to_string();
    let url = format!("http://{}/api/runs/diffusion-cond/images", server.addr);
    // What 10 steps of 256 images cost; the run's whole 50-step schedule takes five times that.
    let started = Instant::now();
    let r = agent().post(&url).header("Content-Type", "application/json").send(body(10)).unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let ten = started.elapsed();
    let impatient: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(ten / 5)).build().into();
    let left = Instant::now();
    match impatient.post(&url).header("Content-Type", "application/json").send(body(50)) {
        Err(ureq::Error::Timeout(_)) => {}
        other => panic!("the client should have given up waiting: {:?}", other.map(|r| r.status())),
    }
    eventually("the sampling stops", || queue(&server)["jobs"] == json!({}));
    let after = left.elapsed();
    println!("10 steps of 256 images: {ten:?}; the abandoned 50-step job ended {after:?} after it was asked for");
    // Uninterrupted it would end about 5 × `ten` after it was asked for.
    assert!(after < ten, "the abandoned job ran on: {after:?} (10 of its 50 steps take {ten:?})");
}

/// Closes a streaming response and waits until every queue is empty: how long that took.
fn leave(server: &RunningServer, response: ureq::http::Response<ureq::Body>, what: &str) -> Duration {
    drop(response);
    let left = Instant::now();
    eventually(&format!("{what} stops"), || queue(server)["jobs"] == json!({}));
    left.elapsed()
}

#[test]
fn a_client_that_leaves_stops_its_style_transfer() {
    let server = server();
    let mut events = agent()
        .post(format!("http://{}/api/style", server.addr))
        .header("Content-Type", "application/json")
        .header("Accept", "text/event-stream")
        .send(json!({"style_name": "gravel", "content_name": "coffee", "size": 128, "steps": 1000}).to_string())
        .unwrap();
    let mut reader = BufReader::new(events.body_mut().as_reader());
    // The time between two steps' events.
    let mut stamps = Vec::new();
    let mut line = String::new();
    while stamps.len() < 3 {
        line.clear();
        assert!(reader.read_line(&mut line).unwrap() > 0, "the stream ended early");
        if line.starts_with("event: progress") {
            stamps.push(Instant::now());
        }
    }
    let step = stamps[2] - stamps[1];
    drop(reader);
    let after = leave(&server, events, "the style job");
    println!("a style step: {step:?}; the abandoned 1,000-step job ended {after:?} after its client left");
    assert!(after < step * 500, "the abandoned job ran on for {after:?} (a step takes {step:?})");
}

#[test]
fn inpainting_streams_progress_and_stops_when_its_client_leaves() {
    let server = server();
    let url = format!("http://{}/api/runs/gan-uncond/inpaint", server.addr);
    let mut events = agent()
        .post(&url)
        .header("Content-Type", "application/json")
        .header("Accept", "text/event-stream")
        .send(json!({"heldout": 2, "samples": 2, "steps": 300, "seed": 1}).to_string())
        .unwrap();
    let text = events.body_mut().with_config().limit(16 << 20).read_to_string().unwrap();
    let progress: Vec<Value> = text
        .split("\n\n")
        .filter(|e| e.starts_with("event: progress"))
        .map(|e| serde_json::from_str(e.split_once("data: ").unwrap().1).unwrap())
        .collect();
    assert!(!progress.is_empty() && progress.iter().all(|p| p["total"] == 300), "{text}");
    assert!(progress.windows(2).all(|w| w[0]["done"].as_u64() < w[1]["done"].as_u64()));
    let done: Value = serde_json::from_str(text.split("event: done\ndata: ").nth(1).unwrap().trim()).unwrap();
    assert_eq!((done["method"].as_str(), done["columns"].as_u64()), (Some("latent"), Some(4)));
    assert!(done["context_loss"]["after"].as_f64().unwrap() < done["context_loss"]["before"].as_f64().unwrap());

    // A long optimisation whose client leaves after its first progress event stops.
    let mut events = agent()
        .post(&url)
        .header("Content-Type", "application/json")
        .header("Accept", "text/event-stream")
        .send(json!({"heldout": 2, "samples": 16, "steps": 2000}).to_string())
        .unwrap();
    let mut reader = BufReader::new(events.body_mut().as_reader());
    let mut line = String::new();
    let started = Instant::now();
    let (mut first, mut second) = (None, None);
    while second.is_none() {
        line.clear();
        assert!(reader.read_line(&mut line).unwrap() > 0, "the stream ended early");
        if let Some(data) = line.strip_prefix("data: ") {
            let p: Value = serde_json::from_str(data).unwrap();
            let stamp = (started.elapsed(), p["done"].as_u64().unwrap());
            if first.is_none() { first = Some(stamp) } else { second = Some(stamp) }
        }
    }
    let ((t1, d1), (t2, d2)) = (first.unwrap(), second.unwrap());
    let per_step = (t2 - t1) / (d2 - d1).max(1) as u32;
    drop(reader);
    let after = leave(&server, events, "the inpainting");
    println!("an inpainting step: {per_step:?}; the abandoned 2,000-step job ended {after:?} after its client left, at about step {d2}");
    assert!(after < per_step * 1000, "the abandoned job ran on for {after:?} (a step takes {per_step:?})");
}

#[test]
fn the_openapi_document_lists_every_endpoint_and_each_answers() {
    let server = server();
    let doc = get(&server, "/api/openapi.json").json();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    let mut listed: Vec<String> = Vec::new();
    for (path, methods) in paths {
        for method in methods.as_object().unwrap().keys() {
            listed.push(format!("{} {path}", method.to_uppercase()));
            // Every documented endpoint is routed: whatever it answers to an empty body, it is
            // not the "no such endpoint" fallback nor a wrong method.
            let url = format!("http://{}{}", server.addr, path.replace("{name}", "text-gpt").replace("{path}", "config.toml").replace("{k}", "0").replace("{id}", "999"));
            let response = match method.as_str() {
                "get" => agent().get(&url).call(),
                "delete" => agent().delete(&url).call(),
                "post" => agent().post(&url).header("Content-Type", "application/json").send("{}"),
                other => panic!("undocumented method {other}"),
            };
            let r = reply(response.unwrap());
            let body: Value = serde_json::from_slice(&r.bytes).unwrap_or(Value::Null);
            assert!(r.status != 405 && body["field"] != "path", "{method} {path}: {} {body}", r.status);
        }
    }
    listed.sort();
    let routed = [
        "DELETE /api/jobs/{id}", "GET /api/jobs", "GET /api/jobs/{id}", "GET /api/jobs/{id}/events", "GET /api/openapi.json", "GET /api/queue", "GET /api/runs",
        "GET /api/runs/{name}", "GET /api/runs/{name}/files/{path}", "GET /api/runs/{name}/heldout/{k}", "GET /api/tags", "GET /api/version",
        "POST /api/generate", "POST /api/runs/{name}/chat", "POST /api/runs/{name}/compose", "POST /api/runs/{name}/generate", "POST /api/runs/{name}/images",
        "POST /api/runs/{name}/inpaint", "POST /api/runs/{name}/poem", "POST /api/style", "POST /api/train",
    ];
    assert_eq!(listed, routed, "the document and the router's endpoints differ");
}
