//! Language models: the character tokeniser, GPT's causality, training below the unigram
//! entropy, resumable training, repeatable sampling, and clear errors for bad input.

use std::collections::HashMap;
use std::ops::ControlFlow;

use aigc::burn::tensor::{Device, Int, Tensor, TensorData};
use aigc::data::text::{CharVocab, TextCorpus};
use aigc::families::lm::{GptConfig, LanguageModel, LmArch, TextEval, TextTrainConfig, train as train_text};
use aigc::run::{CheckpointChoice, RunDir};
use aigc::sample::text::{SamplingConfig, generate};
use aigc::service::text::text_model;
use aigc::train::TrainOptions;

fn options(resume: bool) -> TrainOptions {
    TrainOptions { resume, force: false, quiet: true, device: Device::flex(), feature_cache: None, control: None }
}

/// A small GPT that trains in seconds.
fn tiny_config(data: &str, steps: usize) -> TextTrainConfig {
    TextTrainConfig::new()
        .with_data(data.into())
        .with_steps(steps)
        .with_n_layer(2)
        .with_n_head(2)
        .with_n_embd(64)
        .with_block_size(32)
        .with_batch_size(16)
        .with_warmup_steps(20)
        .with_eval_every(steps)
        .with_eval_batches(10)
        .with_checkpoint_every(steps)
}

#[test]
fn tokeniser_round_trips_unicode_and_names_unknown_characters() {
    let text = "ROMEO: But soft!\n床前明月光，疑是地上霜。";
    let vocab = CharVocab::from_text(text);
    let ids = vocab.encode(text, "prompt").unwrap();
    assert_eq!(ids.len(), text.chars().count());
    assert_eq!(vocab.decode(&ids), text);
    let err = vocab.encode("JULIET: 春", "prompt").unwrap_err().to_string();
    assert!(err.starts_with("prompt: ") && err.contains("'J'"), "{err}");
    assert_eq!(vocab.encode_lossy("JULIET 光"), vocab.encode("E 光", "x").unwrap());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("vocab.json"), vocab.to_json()).unwrap();
    assert_eq!(CharVocab::load(&dir.path().join("vocab.json")).unwrap(), vocab);
}

#[test]
fn embedded_corpora_load_and_split() {
    for name in ["shakespeare", "tang-poems"] {
        let corpus = TextCorpus::load(name).unwrap();
        let (t, v) = (corpus.train.chars().count(), corpus.validation.chars().count());
        let share = v as f64 / (t + v) as f64;
        assert!((0.08..0.13).contains(&share), "{name}: validation share {share}");
        assert!(corpus.vocab().len() > 30, "{name}");
    }
    // The press samples of the Brown corpus: prose, tags stripped, a paragraph per line.
    let news = TextCorpus::load("news").unwrap();
    assert!(news.train.starts_with("The Fulton County Grand Jury said Friday an investigation of Atlanta's recent primary election produced \"no evidence\""));
    assert!(!news.train.contains("/at ") && !news.train.contains("``"), "tags and Brown quotes are gone");
    let words = news.train.split_whitespace().count() + news.validation.split_whitespace().count();
    assert!((170_000..190_000).contains(&words), "{words} words");
}

#[test]
fn bad_corpora_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, "").unwrap();
    let err = TextCorpus::load(empty.to_str().unwrap()).unwrap_err().to_string();
    assert!(err.starts_with("data: ") && err.contains("at least 100 characters"), "{err}");
    let latin1 = dir.path().join("latin1.txt");
    std::fs::write(&latin1, b"caf\xe9 ".repeat(50)).unwrap();
    let err = TextCorpus::load(latin1.to_str().unwrap()).unwrap_err().to_string();
    assert!(err.contains("latin1.txt") && err.contains("not UTF-8"), "{err}");
    let missing = dir.path().join("nope.txt");
    let err = TextCorpus::load(missing.to_str().unwrap()).unwrap_err().to_string();
    assert!(err.contains("nope.txt") && err.contains("not found"), "{err}");
}

#[test]
fn gpt_is_causal() {
    let device = Device::flex();
    device.seed(3);
    let model = LanguageModel::Gpt(GptConfig::new(20).with_block_size(16).with_n_layer(2).with_n_head(2).with_n_embd(32).init(&device));
    let ids: Vec<i64> = (0..16).map(|i| (i * 7 % 20) as i64).collect();
    let logits = |ids: &[i64]| {
        let x = Tensor::<2, Int>::from_data(TensorData::new(ids.to_vec(), [1, 16]), &device);
        model.forward(x).into_data().convert::<f32>().try_into_vec::<f32>().unwrap()
    };
    let base = logits(&ids);
    for t in [0, 5, 15] {
        let mut changed = ids.clone();
        changed[t] = (changed[t] + 3) % 20;
        let out = logits(&changed);
        let per_pos = 20;
        assert_eq!(&out[..t * per_pos], &base[..t * per_pos], "changing token {t} changed an earlier output");
        assert_ne!(&out[t * per_pos..(t + 1) * per_pos], &base[t * per_pos..(t + 1) * per_pos], "token {t} has no effect on its own position");
    }
}

/// Entropy (nats) of the character distribution of `text`.
fn unigram_entropy(text: &str) -> f64 {
    let mut counts: HashMap<char, usize> = HashMap::new();
    for c in text.chars() {
        *counts.entry(c).or_default() += 1;
    }
    let n = text.chars().count() as f64;
    counts.values().map(|&c| -(c as f64 / n) * (c as f64 / n).ln()).sum()
}

#[test]
fn training_drops_validation_loss_below_the_unigram_entropy_and_samples_repeat() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let outcome = train_text(&tiny_config("shakespeare", 300), &out, &options(false)).unwrap();
    let eval = outcome.last_eval.unwrap();
    let corpus = TextCorpus::load("shakespeare").unwrap();
    let entropy = unigram_entropy(&corpus.validation);
    // Measured: unigram entropy 3.3 nats, validation loss after 300 steps about 2.2.
    assert!(eval.val_loss < entropy - 0.6, "validation loss {} vs unigram entropy {entropy}", eval.val_loss);

    let text = text_model(&out, CheckpointChoice::Latest, &Device::flex()).unwrap();
    let (model, vocab) = (text.model.as_ref(), &text.vocab);
    let prompt = vocab.encode("ROMEO:", "prompt").unwrap();
    let sampling = SamplingConfig { temperature: 0.8, top_k: 10, top_p: 0.95 };
    let a = generate(model, &prompt, 40, sampling, 7, |_| ControlFlow::Continue(()));
    let b = generate(model, &prompt, 40, sampling, 7, |_| ControlFlow::Continue(()));
    assert_eq!(a, b, "same seed, different text");
    let c = generate(model, &prompt, 40, sampling, 8, |_| ControlFlow::Continue(()));
    assert_ne!(a, c, "different seeds, same text");
    // top-k 1 is greedy: every token is the argmax of the model's next-token logits.
    let greedy = generate(model, &prompt, 10, SamplingConfig { top_k: 1, ..Default::default() }, 1, |_| ControlFlow::Continue(()));
    for i in prompt.len()..greedy.len() {
        let logits = model.next_logits(&greedy[..i]);
        let argmax = (0..logits.len()).max_by(|&x, &y| logits[x].total_cmp(&logits[y])).unwrap() as u32;
        assert_eq!(greedy[i], argmax);
    }
    // A prompt longer than the window is cropped to its last 32 characters (documented).
    let long = vocab.encode_lossy(&corpus.validation[..500]);
    assert_eq!(generate(model, &long, 5, sampling, 1, |_| ControlFlow::Continue(())).len(), long.len() + 5);
}

#[test]
fn resumed_training_equals_straight_training() {
    let dir = tempfile::tempdir().unwrap();
    let (straight, split) = (dir.path().join("straight"), dir.path().join("split"));
    let config = tiny_config("shakespeare", 40).with_eval_every(20).with_checkpoint_every(20).with_lr_decay_steps(Some(40));
    train_text(&config, &straight, &options(false)).unwrap();
    // Stopped after 20 steps (same schedule), then resumed to 40.
    train_text(&config.clone().with_steps(20), &split, &options(false)).unwrap();
    train_text(&config, &split, &options(true)).unwrap();
    let evals = |run: &std::path::Path| RunDir::new(run).metrics().read::<TextEval>().unwrap();
    let (a, b) = (evals(&straight), evals(&split));
    assert_eq!(a.last().unwrap().step, 40);
    assert_eq!(a.last(), b.last(), "resumed run differs from the straight run");
}

#[test]
fn poems_always_have_the_requested_form_and_chat_answers_in_turn() {
    use aigc::apps::chat::{Chat, speakers};
    use aigc::apps::poem::{PoemForm, PoemRequest, write_poem};

    let dir = tempfile::tempdir().unwrap();
    let device = Device::flex();
    // A barely trained model: the form must hold by construction, whatever the model prefers.
    let poems = dir.path().join("poems");
    train_text(&tiny_config("tang-poems", 30), &poems, &options(false)).unwrap();
    let text = text_model(&poems, CheckpointChoice::Latest, &device).unwrap();
    let (model, vocab) = (text.model.as_ref(), &text.vocab);
    for (form, acrostic) in [("五言绝句", ""), ("七言绝句", "春夏秋冬"), ("五言律诗", "山水"), ("七言律詩", "")] {
        let form = PoemForm::parse(form).unwrap();
        for seed in 0..2 {
            let request = PoemRequest {
                form,
                start: None,
                acrostic: acrostic.chars().collect(),
                sampling: SamplingConfig { temperature: 1.0, top_k: 50, top_p: 0.95 },
                seed,
            };
            let poem = write_poem(model, vocab, &request).unwrap();
            assert!(form.matches(&poem), "{poem} is not a {form:?}");
            let line_starts: Vec<char> = poem.split(['，', '。']).filter_map(|l| l.chars().next()).collect();
            assert!(acrostic.chars().zip(&line_starts).all(|(a, b)| a == *b), "{poem}: acrostic {acrostic}");
        }
    }
    let bad = PoemRequest { form: PoemForm::parse("五言绝句").unwrap(), start: Some('x'), acrostic: vec![], sampling: SamplingConfig::default(), seed: 0 };
    assert!(write_poem(model, vocab, &bad).unwrap_err().to_string().starts_with("start: "));

    let play = dir.path().join("play");
    train_text(&tiny_config("shakespeare", 30), &play, &options(false)).unwrap();
    let text = text_model(&play, CheckpointChoice::Latest, &device).unwrap();
    let (model, vocab) = (text.model.as_ref(), &text.vocab);
    let cast = speakers(&TextCorpus::load(&text.data).unwrap().train);
    let sampling = SamplingConfig { temperature: 0.8, top_k: 20, top_p: 1.0 };
    let err = Chat::new(model, vocab, "ROMEO", "GODOT", &cast, sampling, 1).err().unwrap().to_string();
    assert!(err.starts_with("bot: ") && err.contains("GODOT"), "{err}");
    let mut chat = Chat::new(model, vocab, "romeo", "Juliet", &cast, sampling, 1).unwrap();
    chat.max_reply = 60;
    let mut streamed = String::new();
    let reply = chat.reply("But soft, what light through yonder window breaks?", |c| {
        streamed.push(c);
        ControlFlow::Continue(())
    }).unwrap();
    assert!(!reply.contains("\n\n") && reply.chars().count() <= 60);
    assert_eq!(streamed.trim_end(), reply);
    assert!(chat.reply("Ω", |_| ControlFlow::Continue(())).unwrap_err().to_string().starts_with("line: "));
}

#[test]
fn recurrent_models_train_below_the_unigram_entropy() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_config("shakespeare", 150).with_arch(LmArch::Lstm).with_hidden(64).with_n_layer(1).with_lr(3e-3).with_min_lr(3e-4);
    let outcome = train_text(&config, &dir.path().join("lstm"), &options(false)).unwrap();
    let entropy = unigram_entropy(&TextCorpus::load("shakespeare").unwrap().validation);
    let val = outcome.last_eval.unwrap().val_loss;
    // Measured: about 2.6 nats after 150 steps (unigram entropy 3.3).
    assert!(val < entropy - 0.4, "LSTM validation loss {val} vs unigram entropy {entropy}");
    let gru = config.with_arch(LmArch::Gru).with_steps(20).with_eval_every(20).with_checkpoint_every(20);
    assert!(train_text(&gru, &dir.path().join("gru"), &options(false)).unwrap().last_eval.unwrap().val_loss.is_finite());
}
