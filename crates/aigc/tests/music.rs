//! Music: the embedded folk corpus parses with a stated skip rate; ABC and MIDI round trips;
//! composition always fills every bar of the meter and renders to a WAV of the right length
//! that is not silent; a trained model beats the Markov baseline on held-out tunes; malformed
//! ABC and MIDI get clear errors.

use aigc::apps::compose::{ComposeRequest, compose, parse_key, parse_meter};
use aigc::burn::tensor::Device;
use aigc::data::music::MusicCorpus;
use aigc::families::lm::TextEval;
use aigc::families::music::{MelodyArch, MelodyModel, MusicData, MusicTrainConfig, train as train_music};
use aigc::music::abc::{parse_collection, parse_tune, write_abc};
use aigc::music::audio::{render, tune_seconds, wav_bytes};
use aigc::music::metrics::bar_lengths;
use aigc::music::midi::{read_midi, write_midi};
use aigc::music::tokens::grid_units;
use aigc::music::{Event, Key};
use aigc::run::RunDir;
use aigc::sample::text::SamplingConfig;
use aigc::train::TrainOptions;

fn options(resume: bool) -> TrainOptions {
    TrainOptions { resume, force: false, quiet: true, device: Device::flex(), feature_cache: None, control: None }
}

#[test]
fn every_folk_tune_parses_but_two_and_round_trips_through_abc() {
    let corpus = MusicCorpus::load("folk").unwrap();
    let read = corpus.train.len() + corpus.validation.len();
    // O'Neill X:745 (`K:Bn`) and X:9 (a `>` before `||`) are the only tunes the parser rejects.
    assert_eq!((read, corpus.skipped()), (1838, 2), "{}", corpus.report());
    assert!(corpus.report().contains("2 skipped (0.1%)"));
    for tune in corpus.train.iter().chain(&corpus.validation) {
        let again = parse_tune(&write_abc(tune)).unwrap_or_else(|e| panic!("X:{} {}: {e}", tune.number, tune.title));
        assert_eq!(again.events, tune.events, "X:{} {}", tune.number, tune.title);
        assert_eq!((again.meter, again.key), (tune.meter, tune.key));
    }
}

/// MIDI written for a tune reads back as the same melody (tunes without pickups, whose bars
/// start at time 0 as MIDI's do, and with durations on MIDI reading's 1/48 grid).
#[test]
fn tunes_round_trip_through_midi() {
    let corpus = MusicCorpus::load("folk").unwrap();
    let mut checked = 0;
    for tune in &corpus.train {
        let bars = bar_lengths(&tune.events);
        let Some(meter) = tune.meter else { continue };
        let on_grid = tune.events.iter().all(|e| matches!(e, Event::Bar) || grid_units(e.duration()).is_some_and(|u| u % 2 == 0));
        let whole_bars = bars.len() > 2 && bars[..bars.len() - 1].iter().all(|b| *b == meter.bar_length());
        if !on_grid || !whole_bars {
            continue;
        }
        let back = read_midi(&write_midi(tune, 120.0, 73)).unwrap();
        let strip = |e: &[Event]| e.iter().copied().filter(|e| !matches!(e, Event::Bar)).collect::<Vec<_>>();
        assert_eq!(strip(&back.events), strip(&tune.events), "X:{} {}", tune.number, tune.title);
        assert_eq!(back.meter, tune.meter);
        checked += 1;
    }
    assert!(checked > 200, "only {checked} tunes checked");
}

fn markov_model(order: usize) -> (MusicData, MelodyModel) {
    let config = MusicTrainConfig { arch: MelodyArch::Markov, markov_order: order, ..MusicTrainConfig::default() };
    let data = MusicData::load(&config, None).unwrap();
    let model = MelodyModel::Markov(data.markov(order));
    (data, model)
}

#[test]
fn composed_bars_fill_the_meter_and_render_to_audio() {
    let (data, model) = markov_model(5);
    let sampling = SamplingConfig { temperature: 1.0, top_k: 0, top_p: 1.0 };
    for (key, meter, primer) in [("G", "6/8", Some("GAB")), ("Ador", "4/4", None), ("D", "3/4", Some("d2 fe")), ("Emin", "2/4", None), ("A", "9/8", None)] {
        let request = ComposeRequest {
            key: parse_key(key).unwrap(),
            meter: parse_meter(meter).unwrap(),
            bars: 12,
            primer: primer.map(String::from),
            sampling,
            seed: 7,
            pitch_range: data.pitch_range(),
        };
        let (_, tune) = compose(&model, &data.vocab, &request).unwrap();
        // 12 full bars, or a pickup, 11 full bars and a last bar that completes the pickup's
        let bars = bar_lengths(&tune.events);
        let full = request.meter.bar_length();
        let inner = &bars[1..bars.len() - 1];
        assert!(inner.iter().all(|b| *b == full), "{key} {meter}: {bars:?}");
        if bars.len() == 12 {
            assert!(bars[0] == full && bars[11] == full, "{key} {meter}: {bars:?}");
        } else {
            assert_eq!(bars.len(), 13, "{key} {meter}: {bars:?}");
            assert_eq!(bars[0].checked_add(bars[12]), Some(full), "{key} {meter}: {bars:?}");
        }
        // the written ABC parses back to the same tune
        assert_eq!(parse_tune(&write_abc(&tune)).unwrap().events, tune.events);
        let seconds = tune_seconds(&tune, 120.0);
        assert!((seconds - 12.0 * request.meter.bar_length().to_f64() * 2.0).abs() < 1e-9, "{seconds}");
        let samples = render(&tune, 120.0, 8_000);
        assert!(samples.len() as f64 >= seconds * 8_000.0);
        let rms = (samples.iter().map(|s| (*s as f64).powi(2)).sum::<f64>() / samples.len() as f64).sqrt();
        assert!(rms > 0.05, "{key} {meter}: RMS {rms}");
        let reader = hound::WavReader::new(std::io::Cursor::new(wav_bytes(&samples, 8_000).unwrap())).unwrap();
        assert_eq!(reader.len() as usize, samples.len());
    }
    // bad keys, meters and primers
    let err = |r: aigc::Result<Key>| r.unwrap_err().to_string();
    assert!(err(parse_key("H")).starts_with("key: "));
    assert!(parse_meter("5/0").unwrap_err().to_string().starts_with("meter: "));
    let request = ComposeRequest {
        key: parse_key("G").unwrap(),
        meter: parse_meter("6/8").unwrap(),
        bars: 4,
        primer: Some("G8".into()),
        sampling,
        seed: 1,
        pitch_range: data.pitch_range(),
    };
    assert!(compose(&model, &data.vocab, &request).unwrap_err().to_string().starts_with("primer: "));
}

/// A small LSTM (2×128) trained for 600 steps beats an order-3 keyed Markov chain on held-out
/// tunes by more than 0.1 nats per event (measured: 2.40 vs 2.65), and the Markov chain gets
/// better with order (3 → 5: 2.40). The README's full runs beat the order-5 chain.
#[test]
fn a_trained_lstm_beats_the_markov_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = MusicTrainConfig { markov_order: 3, ..MusicTrainConfig::default() };
    config.lm = config.lm.with_steps(600).with_hidden(128).with_eval_every(600).with_checkpoint_every(600);
    let summary = train_music(&config, dir.path(), &options(false)).unwrap();
    assert!(summary.nll_per_event < summary.markov_nll_per_event - 0.1, "{summary:?}");
    let (data, order5) = markov_model(5);
    let (nll5, events) = order5.held_out_nll(&data.validation, &data.vocab);
    assert_eq!(events, summary.held_out_events);
    assert!(nll5 / (events as f64) < summary.markov_nll_per_event, "order 5 {} vs order 3 {}", nll5 / events as f64, summary.markov_nll_per_event);
}

/// A melody run stopped halfway and resumed ends where a straight run does: the same held-out
/// likelihood (`music.json`) and the same evaluations, to the last bit.
#[test]
fn resumed_melody_training_equals_straight_training() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = MusicTrainConfig::default();
    config.lm = config.lm.with_steps(20).with_hidden(32).with_n_layer(1).with_block_size(32).with_batch_size(4).with_eval_every(10).with_checkpoint_every(10).with_lr_decay_steps(Some(20));
    let (straight, split) = (dir.path().join("straight"), dir.path().join("split"));
    let a = train_music(&config, &straight, &options(false)).unwrap();
    let mut half = config.clone();
    half.lm = half.lm.with_steps(10);
    train_music(&half, &split, &options(false)).unwrap();
    let b = train_music(&config, &split, &options(true)).unwrap();
    assert_eq!(a, b, "held-out likelihoods differ after resume");
    let evals = |run: &std::path::Path| RunDir::new(run).metrics().read::<TextEval>().unwrap();
    assert_eq!(evals(&straight), evals(&split));
    assert_eq!(evals(&split).iter().map(|e| e.step).collect::<Vec<_>>(), vec![10, 20]);
}

#[test]
fn malformed_abc_and_midi_get_clear_errors() {
    let (tunes, skips) = parse_collection("X:1\nT:ok\nM:6/8\nK:G\nGAB cde|\n\nX:2\nT:bad\nM:6/8\nK:G\nGA999999B|\n\nX:3\nT:cut\nM:4/4\n");
    assert_eq!(tunes.len(), 1);
    assert_eq!(skips.len(), 2, "{skips:?}");
    assert!(skips.iter().all(|s| !s.reason.is_empty()));
    let midi = write_midi(&tunes[0], 120.0, 0);
    for (bytes, expected) in [(&b""[..], "MIDI"), (&b"RIFF\0\0\0\0garbage"[..], "MIDI"), (&midi[..midi.len() - 7], "truncated")] {
        let err = read_midi(bytes).unwrap_err().to_string();
        assert!(err.contains(expected), "{err}");
    }
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.abc");
    std::fs::write(&bad, "X:1\nT:only a header\n").unwrap();
    let err = MusicCorpus::load(bad.to_str().unwrap()).unwrap_err().to_string();
    assert!(err.starts_with("data: ") && err.contains("0 tunes"), "{err}");
    let err = MusicCorpus::load("/no/such/folder").unwrap_err().to_string();
    assert!(err.contains("/no/such/folder"), "{err}");
}

/// Small collections train: two tunes (one trains, one is held out) whose held-out tune is the
/// only one in 3/4 with a dotted half note, and four tunes. The vocabulary comes from every tune,
/// so nothing is dropped; a held-out tune shorter than the window is measured in a shorter one;
/// the model learns (its loss falls well below guessing) and composes in the held-out meter.
#[test]
fn collections_of_two_and_four_tunes_train_and_compose() {
    use aigc::families::lm::TextMetrics;
    let dir = tempfile::tempdir().unwrap();
    let jig = "X:1\nT:Jig\nM:6/8\nL:1/8\nK:G\nGAB cBA|GAB d2B|cBA BAG|A3 D3|GAB cBA|GAB d2e|dcB AGF|G3 G3|]\n";
    let waltz = "X:2\nT:Waltz\nM:3/4\nL:1/8\nK:D\nd2 f2 a2|d6|c2 e2 g2|c6|]\n";
    let reel = "X:3\nT:Reel\nM:4/4\nL:1/8\nK:D\nDFAF DFAF|GBdB GBdB|ABce dcBA|d2f2 d4|]\n";
    let hornpipe = "X:4\nT:Air\nM:4/4\nL:1/8\nK:Ador\nA2 B2 c2 d2|e4 d4|c2 B2 A2 G2|A8|]\n";
    for (name, tunes) in [("two", vec![jig, waltz]), ("four", vec![jig, reel, hornpipe, waltz])] {
        let path = dir.path().join(format!("{name}.abc"));
        std::fs::write(&path, tunes.join("\n")).unwrap();
        let mut config = MusicTrainConfig::default();
        config.lm = config.lm.with_data(path.display().to_string()).with_steps(80).with_hidden(64).with_n_layer(1).with_batch_size(8).with_eval_every(80).with_checkpoint_every(80);
        let out = dir.path().join(name);
        let summary = train_music(&config, &out, &options(false)).unwrap();
        assert_eq!((summary.tunes_read, summary.held_out_tunes), (tunes.len(), 1), "{summary:?}");
        let data = MusicData::load(&config, None).unwrap();
        assert!(data.untokenisable.is_empty(), "{:?}", data.untokenisable);
        let logged: Vec<TextMetrics> = RunDir::new(&out).metrics().read().unwrap();
        let (first, last) = (logged.first().unwrap().loss, logged.last().unwrap().loss);
        let guessing = (data.vocab.len() as f64).ln();
        eprintln!("{name}: loss {first:.3} -> {last:.3} (guessing {guessing:.3}), held-out {:.3} nats/event", summary.nll_per_event);
        assert!(last < 0.6 * guessing, "{name}: loss {first} -> {last}, guessing is {guessing}");
        let opened = aigc::families::open(&out).unwrap();
        let melodies = opened.melodies(aigc::run::CheckpointChoice::Latest, &Device::flex()).unwrap();
        let request = ComposeRequest {
            key: parse_key("D").unwrap(),
            meter: parse_meter("3/4").unwrap(),
            bars: 4,
            primer: None,
            sampling: SamplingConfig { temperature: 0.8, top_k: 0, top_p: 1.0 },
            seed: 1,
            pitch_range: melodies.pitch_range(),
        };
        let (_, tune) = compose(melodies.model(), melodies.vocab(), &request).unwrap();
        let bars = bar_lengths(&tune.events);
        let full = request.meter.bar_length();
        assert!(bars.len() >= 4 && bars[1..bars.len() - 1].iter().all(|b| *b == full), "{name}: bars of 3/4, got {bars:?}");
    }
}
