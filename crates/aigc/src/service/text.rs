//! Text from a run that continues text: free generation (streamed token by token), fixed-form
//! poems, and a character chat.

use std::ops::ControlFlow;
use std::time::Instant;

use burn::tensor::Device;
use serde::Serialize;

use crate::apps::chat::{Chat, speakers};
use crate::apps::poem::{PoemForm, PoemRequest as PoemSpec, copied_line_fraction, write_poem};
use crate::data::text::TextCorpus;
use crate::error::{AigcError, Result};
use crate::families;
use crate::run::{CheckpointChoice, RunDir};
use crate::sample::text::{SamplingConfig, TextModel, generate as sample_tokens};

/// A text run's model: opened once, then asked many times.
pub fn text_model(run: &std::path::Path, checkpoint: CheckpointChoice, device: &Device) -> Result<TextModel> {
    families::open(run)?.text(checkpoint, device)
}

/// The most tokens one request generates, and the most poems.
pub const MAX_TOKENS: usize = 100_000;
pub const MAX_POEMS: usize = 1_000;

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateRequest {
    pub prompt: String,
    pub max_tokens: usize,
    pub sampling: SamplingConfig,
    pub seed: u64,
}

/// A generated continuation (the prompt not included) and what it took.
#[derive(Debug, Clone, Serialize)]
pub struct Generated {
    pub text: String,
    pub seed: u64,
    pub prompt_tokens: usize,
    pub tokens: usize,
    pub seconds: f64,
    /// `on_text` stopped it before `max_tokens`.
    pub stopped: bool,
}

/// Continues `request.prompt`, calling `on_text` with each token's text as it is drawn;
/// `on_text` returning `Break` stops it (the client went away).
pub fn generate(model: &TextModel, request: &GenerateRequest, mut on_text: impl FnMut(&str) -> ControlFlow<()>) -> Result<Generated> {
    request.sampling.validate()?;
    if request.max_tokens > MAX_TOKENS {
        return Err(AigcError::invalid("max_tokens", format!("at most {MAX_TOKENS} tokens per request, got {}", request.max_tokens)));
    }
    let prompt = model.tokenizer.encode(&request.prompt, "prompt")?;
    if prompt.is_empty() {
        return Err(AigcError::invalid("prompt", "must not be empty"));
    }
    let started = Instant::now();
    let mut text = String::new();
    let mut decoder = model.tokenizer.decoder();
    let mut flow = ControlFlow::Continue(());
    let tokens = sample_tokens(model.model.as_ref(), &prompt, request.max_tokens, request.sampling, request.seed, |t| {
        let piece = decoder.push(t);
        if piece.is_empty() {
            return ControlFlow::Continue(());
        }
        text.push_str(&piece);
        flow = on_text(&piece);
        flow
    });
    let rest = decoder.finish();
    if !rest.is_empty() && flow.is_continue() {
        text.push_str(&rest);
        let _ = on_text(&rest);
    }
    let tokens = tokens.len() - prompt.len();
    Ok(Generated { text, seed: request.seed, prompt_tokens: prompt.len(), tokens, seconds: started.elapsed().as_secs_f64(), stopped: tokens < request.max_tokens })
}

/// What to write: `n` poems of a form (seeds `seed`, `seed + 1`, …).
#[derive(Debug, Clone)]
pub struct PoemsRequest {
    /// 五言绝句, 七言绝句, 五言律诗, 七言律诗, or a ci tune of the run's corpus (浣溪沙).
    pub form: String,
    pub start: Option<char>,
    pub acrostic: Vec<char>,
    pub n: usize,
    pub sampling: SamplingConfig,
    pub seed: u64,
}

/// Poems and how they measure up.
#[derive(Debug, Clone, Serialize)]
pub struct Poems {
    pub poems: Vec<String>,
    pub form: PoemForm,
    /// Poems that have the form exactly.
    pub matching: usize,
    /// Share of lines copied verbatim from the training poems.
    pub copied_lines: f64,
    /// The run's last held-out loss: (step, nats per character).
    pub validation_loss: Option<(usize, f64)>,
}

/// Writes poems with a text run trained on Chinese poetry.
pub fn poems(run: &std::path::Path, model: &TextModel, request: &PoemsRequest) -> Result<Poems> {
    request.sampling.validate()?;
    if request.n > MAX_POEMS {
        return Err(AigcError::invalid("n", format!("at most {MAX_POEMS} poems per request, got {}", request.n)));
    }
    let corpus = TextCorpus::load(&model.data)?;
    let form = PoemForm::parse_with(&request.form, &corpus.train)?;
    let vocab = model.tokenizer.chars().ok_or_else(|| {
        AigcError::invalid("run", "a poem is written character by character under its form: it needs a character-level run (`--tokenizer char`), not a BPE one")
    })?;
    let spec = PoemSpec { form: form.clone(), start: request.start, acrostic: request.acrostic.clone(), sampling: request.sampling, seed: request.seed };
    let poems = (0..request.n)
        .map(|i| write_poem(model.model.as_ref(), vocab, &PoemSpec { seed: request.seed + i as u64, ..spec.clone() }))
        .collect::<Result<Vec<_>>>()?;
    let validation_loss = RunDir::new(run)
        .metrics()
        .read::<crate::families::lm::TextEval>()?
        .last()
        .map(|e| (e.step, e.val_loss));
    Ok(Poems {
        matching: poems.iter().filter(|p| form.matches(p)).count(),
        copied_lines: copied_line_fraction(&poems, &corpus.train),
        poems,
        form,
        validation_loss,
    })
}

/// A conversation with a text run trained on a play: `user` speaks, the model answers as `bot`.
#[derive(Debug, Clone)]
pub struct ChatRequest {
    pub user: String,
    pub bot: String,
    /// Longest reply, in characters.
    pub max_reply: usize,
    pub sampling: SamplingConfig,
    pub seed: u64,
}

/// Opens a chat (both names must speak in the training text).
pub fn chat<'a>(model: &'a TextModel, request: &ChatRequest) -> Result<Chat<'a>> {
    request.sampling.validate()?;
    let corpus = TextCorpus::load(&model.data)?;
    let mut chat = Chat::new(model.model.as_ref(), &model.tokenizer, &request.user, &request.bot, &speakers(&corpus.train), request.sampling, request.seed)?;
    chat.max_reply = request.max_reply;
    Ok(chat)
}
