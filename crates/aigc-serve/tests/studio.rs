//! The web studio in a real browser: headless Chromium driven through WebDriver (chromedriver)
//! loads the page from a running server and uses every tab, checking that what it asked for
//! appears (an image grid, streamed text, poems, a chat reply, a playable tune, a repaired image,
//! a stylised picture, a training job's chart and grid). With `AIGC_SCREENSHOTS=DIR` it saves a
//! screenshot of each tab there (the README's are in docs/studio/).
//!
//! Chromium and chromedriver come from Debian (`scripts/install-browser.sh`; `.ci/run` installs
//! them). Without them this test checks the page the server sends instead, and says so.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// The studio page as served, without a browser: every tab and the script are there.
fn check_page_without_browser(addr: std::net::SocketAddr) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut response = agent.get(format!("http://{addr}/")).call().unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.headers().get("content-type").unwrap().to_str().unwrap().starts_with("text/html"));
    let page = response.body_mut().read_to_string().unwrap();
    for tab in ["runs", "images", "text", "poem", "chat", "compose", "inpaint", "style", "train"] {
        assert!(page.contains(&format!("id=\"tab-{tab}\"")), "no {tab} tab");
    }
    assert!(page.contains("<script>") && !page.contains("src=\"http"), "the page loads nothing from elsewhere");
}

fn chromedriver() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("AIGC_CHROMEDRIVER") {
        return Some(path.into());
    }
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| PathBuf::from(d).join("chromedriver")).find(|p| p.is_file())
}

/// chromedriver on a free port, killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_driver(path: &PathBuf) -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(path).arg(format!("--port={port}")).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(20), "chromedriver did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Driver { child, url }
}

async fn text(client: &Client, id: &str) -> String {
    client.find(Locator::Id(id)).await.unwrap().text().await.unwrap()
}

/// Waits (up to four minutes: a training job) until `check` of element `id`'s text holds.
async fn wait_text(client: &Client, id: &str, what: &str, check: impl Fn(&str) -> bool) -> String {
    let started = Instant::now();
    loop {
        let t = text(client, id).await;
        if check(&t) {
            return t;
        }
        if started.elapsed() > Duration::from_secs(240) {
            let errors = client.execute("return [...document.querySelectorAll('.error')].map(e => e.id + ': ' + e.textContent).join('\\n')", vec![]).await.unwrap();
            panic!("#{id} never showed {what}: {t:?}; errors: {errors}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The natural width of the first image inside `id` once it has loaded.
async fn wait_image(client: &Client, id: &str) -> u64 {
    let script = format!("const i = document.querySelector('#{id} img'); return i && i.complete ? i.naturalWidth : 0;");
    let started = Instant::now();
    loop {
        let width = client.execute(&script, vec![]).await.unwrap().as_u64().unwrap_or(0);
        if width > 0 {
            return width;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "no image appeared in #{id}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn set(client: &Client, id: &str, value: &str) {
    client.execute("const e = document.getElementById(arguments[0]); e.value = arguments[1]; e.dispatchEvent(new Event('change'));", vec![json!(id), json!(value)]).await.unwrap();
}

async fn click(client: &Client, id: &str) {
    client.find(Locator::Id(id)).await.unwrap().click().await.unwrap();
}

async fn tab(client: &Client, name: &str) {
    client.find(Locator::Css(&format!("nav button[data-tab='{name}']"))).await.unwrap().click().await.unwrap();
}

async fn screenshot(client: &Client, name: &str) {
    if let Some(dir) = std::env::var_os("AIGC_SCREENSHOTS") {
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        std::fs::write(dir.join(format!("{name}.png")), client.screenshot().await.unwrap()).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tab_of_the_studio_works_in_headless_chromium() {
    // `AIGC_STUDIO_RUNS=DIR`: real runs of the same names (scripts/studio-screenshots.sh makes
    // them) for screenshots worth looking at; otherwise the tiny test runs.
    let custom = std::env::var_os("AIGC_STUDIO_RUNS").map(PathBuf::from);
    let server = match &custom {
        Some(dir) => aigc_serve::spawn(&aigc_serve::ServeConfig {
            runs: dir.clone(),
            addr: "127.0.0.1:0".parse().unwrap(),
            token: None,
            device: aigc::burn::tensor::Device::flex(),
            queues: aigc_serve::QueueLimits::default(),
        })
        .unwrap(),
        None => common::server(),
    };
    let (sample_steps, image_n, gan_config) = match custom {
        Some(_) => ("20", "20", r#"{"data": "mnist", "steps": 1500, "sample_every": 250, "checkpoint_every": 500}"#),
        None => ("4", "8", r#"{"data": "mnist", "image_size": 8, "steps": 200, "batch_size": 16, "sample_every": 50, "checkpoint_every": 100}"#),
    };
    check_page_without_browser(server.addr);
    let Some(driver_path) = chromedriver() else {
        eprintln!("note: chromedriver not found (scripts/install-browser.sh installs Chromium and it); checked the page without a browser");
        return;
    };
    let driver = start_driver(&driver_path);
    let capabilities = json!({
        "goog:chromeOptions": { "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000"] }
    });
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let client = ClientBuilder::new(connector).capabilities(capabilities.as_object().unwrap().clone()).connect(&driver.url).await.expect("a Chromium session");
    let page = format!("http://{}/", server.addr);

    // Runs: the table lists the runs; one opens with its chart and grids.
    client.goto(&page).await.unwrap();
    wait_text(&client, "status", "the run count", |t| t.ends_with(" runs")).await;
    let rows = client.find_all(Locator::Css("#runs-body tr")).await.unwrap();
    assert!(rows.len() >= 5, "{} runs listed", rows.len());
    client.find(Locator::XPath("//tr[td[1][text()='diffusion-cond']]")).await.unwrap().click().await.unwrap();
    wait_image(&client, "run-detail").await;
    screenshot(&client, "runs").await;

    // Images: a class of the conditional diffusion run.
    tab(&client, "images").await;
    set(&client, "img-run", "diffusion-cond").await;
    set(&client, "img-n", image_n).await;
    set(&client, "img-seed", "3").await;
    set(&client, "img-class", "7").await;
    set(&client, "img-steps", sample_steps).await;
    click(&client, "img-go").await;
    let width = wait_image(&client, "img-out").await;
    assert!(width > 4 * 28, "a grid of 28 px images enlarged 4×: {width} px wide");
    wait_text(&client, "img-info", "the seed", |t| t.contains("seed 3")).await;
    screenshot(&client, "images").await;

    // Text: streamed into the page.
    tab(&client, "text").await;
    set(&client, "txt-run", "text-gpt").await;
    set(&client, "txt-max", "120").await;
    set(&client, "txt-seed", "2").await;
    click(&client, "txt-go").await;
    wait_text(&client, "txt-info", "the token count", |t| t.starts_with("120 tokens")).await;
    let out = text(&client, "txt-out").await;
    assert!(out.starts_with("ROMEO:") && out.chars().count() >= 120, "{out:?}");
    screenshot(&client, "text").await;

    // Poems with an acrostic.
    tab(&client, "poem").await;
    set(&client, "poem-run", "poems-gpt").await;
    set(&client, "poem-acrostic", "春夏秋冬").await;
    set(&client, "poem-seed", "1").await;
    click(&client, "poem-go").await;
    wait_text(&client, "poem-info", "the form check", |t| t.starts_with("2 of 2 have the form")).await;
    let poems = text(&client, "poem-out").await;
    assert!(poems.starts_with('春'), "{poems:?}");
    screenshot(&client, "poem").await;

    // Chat: two turns, the second sent with the first as history.
    tab(&client, "chat").await;
    set(&client, "chat-run", "text-gpt").await;
    for (turn, line) in ["Good morrow, fair maid.", "What light through yonder window breaks?"].into_iter().enumerate() {
        set(&client, "chat-line", line).await;
        click(&client, "chat-go").await;
        let started = Instant::now();
        // The reply streams in; the turn is over when the button is enabled again.
        let busy = || async { client.execute("return document.getElementById('chat-go').disabled", vec![]).await.unwrap() == json!(true) };
        while client.find_all(Locator::Css("#chat-log p")).await.unwrap().len() < 2 * (turn + 1) || busy().await {
            assert!(started.elapsed() < Duration::from_secs(60), "no reply to {line:?}: {}", text(&client, "chat-error").await);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let said = client.find_all(Locator::Css("#chat-log p")).await.unwrap();
        assert_eq!(said[2 * turn].text().await.unwrap(), format!("ROMEO: {line}"));
        assert!(said[2 * turn + 1].text().await.unwrap().starts_with("JULIET: "));
    }
    screenshot(&client, "chat").await;

    // Compose: an audio player with the WAV, and the ABC.
    tab(&client, "compose").await;
    set(&client, "mus-run", "music-markov").await;
    set(&client, "mus-bars", "8").await;
    set(&client, "mus-seed", "2").await;
    click(&client, "mus-go").await;
    wait_text(&client, "mus-out", "the tune", |t| t.contains("K:G")).await;
    let audio = client.execute("const a = document.querySelector('#mus-out audio'); return a ? a.src.slice(0, 20) : '';", vec![]).await.unwrap();
    assert_eq!(audio, "data:audio/wav;base6");
    screenshot(&client, "compose").await;

    // Inpaint: load a held-out digit, paint a mask with the mouse, repair.
    tab(&client, "inpaint").await;
    set(&client, "inp-run", "vae-mlp").await;
    click(&client, "inp-load").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    client
        .execute(
            "const c = document.getElementById('inp-canvas'), r = c.getBoundingClientRect();
             const at = (type, f) => c.dispatchEvent(new MouseEvent(type, { bubbles: true, clientX: r.left + f * r.width, clientY: r.top + r.height / 2 }));
             at('mousedown', 0.3); for (let f = 0.3; f <= 0.7; f += 0.05) at('mousemove', f); window.dispatchEvent(new MouseEvent('mouseup'));",
            vec![],
        )
        .await
        .unwrap();
    click(&client, "inp-go").await;
    wait_text(&client, "inp-info", "the filled pixels", |t| t.contains("hole pixels filled by vae")).await;
    let holes: u64 = text(&client, "inp-info").await.split_whitespace().next().unwrap().parse().unwrap();
    assert!(holes > 0 && holes < 64, "the painted stroke, not the whole image: {holes}");
    wait_image(&client, "inp-out").await;
    screenshot(&client, "inpaint").await;

    // Style: a texture with progress.
    tab(&client, "style").await;
    set(&client, "sty-style", "brick").await;
    set(&client, "sty-size", "64").await;
    set(&client, "sty-steps", "30").await;
    click(&client, "sty-go").await;
    wait_text(&client, "sty-info", "the losses", |t| t.starts_with("style loss")).await;
    wait_image(&client, "sty-out").await;
    screenshot(&client, "style").await;

    // Train: a small GAN job, watched live to its end.
    tab(&client, "train").await;
    set(&client, "trn-family", "gan").await;
    set(&client, "trn-run", "studio-gan").await;
    set(&client, "trn-config", gan_config).await;
    click(&client, "trn-go").await;
    wait_text(&client, "job-title", "the finished job", |t| t.ends_with("done")).await;
    wait_image(&client, "job-grid").await;
    let steps = serde_json::from_str::<serde_json::Value>(gan_config).unwrap()["steps"].clone();
    assert!(text(&client, "job-info").await.starts_with(&format!("step {steps} / {steps}")));
    screenshot(&client, "train").await;

    client.close().await.unwrap();
    drop(driver);
}
