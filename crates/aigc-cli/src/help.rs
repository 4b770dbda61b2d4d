//! Each subcommand's help is its own: the choices and data sets of its family, and every
//! flag's default read from the family's config (so the help cannot drift from the library).

use aigc::data::music::EMBEDDED_MUSIC;
use aigc::data::text::EMBEDDED_CORPORA;
use aigc::families::diffusion::{DiffusionTrainConfig, Objective, SamplerKind, ScheduleKind};
use aigc::families::gan::{GanArch, GanTrainConfig};
use aigc::families::lm::{LmArch, TextTrainConfig};
use aigc::families::music::{MelodyArch, MusicTrainConfig};
use aigc::families::vae::{VaeArch, VaeTrainConfig};
use clap::{Command, CommandFactory};

use crate::args::Cli;

/// Config fields whose flag is not their name with dashes.
const RENAMED: [(&str, &str); 2] = [("order", "markov_order"), ("ema", "ema_decay")];

/// The command line with every family's own help.
pub fn command() -> Command {
    let data_help = |sets: &str, paths: &str| format!("{sets} (embedded or installed; `aigc data` lists them) or PATH ({paths})");
    let image_data = data_help("mnist, fashion-mnist, faces-100", "an image folder, an IDX folder or an IDX file");
    Cli::command().mut_subcommand("train", |train| {
        train
            .mut_subcommand("gan", |c| {
                let c = c
                    .mut_arg("arch", |a| a.help(format!("The networks: {} (the article's MLP GAN; DCGAN at 28, 32 or 64 px)", GanArch::choices())))
                    .mut_arg("data", |a| a.help(image_data.clone()));
                with_defaults(c, &GanTrainConfig::new(), aigc::families::gan::UNSET)
            })
            .mut_subcommand("vae", |c| {
                let c = c
                    .mut_arg("arch", |a| a.help(format!("The networks: {} (PyTorch's 784-400-20 MLP, or convolutions)", VaeArch::choices())))
                    .mut_arg("data", |a| a.help(image_data.clone()));
                with_defaults(c, &VaeTrainConfig::new(), aigc::families::vae::UNSET)
            })
            .mut_subcommand("diffusion", |c| {
                let c = c
                    .mut_arg("arch", |a| a.help("Not used: a diffusion model is a UNet (set --widths and --attention)"))
                    .mut_arg("objective", |a| a.help(format!("What the UNet predicts: {} (the noise, Ho et al.; or the velocity of flow matching)", Objective::choices())))
                    .mut_arg("schedule", |a| a.help(format!("The DDPM noise schedule: {}", ScheduleKind::choices())))
                    .mut_arg("sampler", |a| a.help(format!("The sampler of grids and evaluations: {} (ddpm/ddim for the ddpm objective, euler/heun for flow)", SamplerKind::choices())))
                    .mut_arg("data", |a| a.help(image_data.clone()));
                with_defaults(c, &DiffusionTrainConfig::new(), aigc::families::diffusion::UNSET)
            })
            .mut_subcommand("text", |c| {
                let c = c
                    .mut_arg("arch", |a| a.help(format!("The network: {} (gpt is nanoGPT's)", LmArch::choices())))
                    .mut_arg("data", |a| a.help(data_help(EMBEDDED_CORPORA, "a UTF-8 text file or a folder of .txt files")));
                with_defaults(c, &TextTrainConfig::new(), aigc::families::lm::UNSET)
            })
            .mut_subcommand("music", |c| {
                let c = c
                    .mut_arg("arch", |a| a.help(format!("The model: {} (markov: the keyed n-gram baseline, counted in seconds)", MelodyArch::choices())))
                    .mut_arg("data", |a| a.help(data_help(EMBEDDED_MUSIC, "an .abc or .mid file, or a folder of them")));
                with_defaults(c, &MusicTrainConfig::default(), &[])
            })
    })
}

/// Appends `[default: …]` to the help of every flag that sets a field of `defaults`; `unset`
/// says what an optional field that is unset by default means.
fn with_defaults<T: serde::Serialize>(command: Command, defaults: &T, unset: &[(&str, &str)]) -> Command {
    let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(defaults) else { return command };
    let flags: Vec<(clap::Id, String)> =
        command.get_arguments().filter_map(|a| a.get_long().map(|l| (a.get_id().clone(), l.to_string()))).collect();
    flags.into_iter().fold(command, |command, (id, long)| {
        let field = RENAMED.iter().find(|(flag, _)| *flag == long).map_or_else(|| long.replace('-', "_"), |(_, f)| f.to_string());
        let shown = match fields.get(&field) {
            Some(serde_json::Value::Null) => unset.iter().find(|(f, _)| *f == field).map_or_else(|| "unset".to_string(), |(_, v)| v.to_string()),
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(value) => value.to_string(),
            None => return command,
        };
        command.mut_arg(id, |a| {
            let help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
            a.help(format!("{help} [default: {shown}]"))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every flag of every subcommand says what it does.
    #[test]
    fn every_flag_has_help() {
        fn check(command: &Command, path: &str, missing: &mut Vec<String>) {
            for arg in command.get_arguments() {
                let builtin = ["help", "version"].contains(&arg.get_id().as_str());
                if !builtin && arg.get_help().is_none_or(|h| h.to_string().trim().is_empty()) {
                    missing.push(format!("{path} {}", arg.get_id()));
                }
            }
            for sub in command.get_subcommands() {
                check(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        check(&command(), "aigc", &mut missing);
        assert!(missing.is_empty(), "flags without help: {missing:?}");
    }
}
