//! Library errors name config keys and request fields (`batch_size`, `checkpoint`); users of the
//! command line know flags (`--batch-size`). [`explain`] renames every field an error names, the
//! one at fault and those written in backticks, to its flag when the tool has one.

use aigc::AigcError;
use clap::CommandFactory;

use crate::args::Cli;

/// Fields whose flag is not their name with dashes.
const RENAMED: [(&str, &str); 5] =
    [("markov_order", "--order"), ("ema_decay", "--ema"), ("user", "--as"), ("bot", "--with"), ("max_reply", "--max-tokens")];

/// The error as one line in the command line's terms.
pub fn explain(error: &AigcError) -> String {
    let flags = long_flags();
    let flag = |field: &str| -> Option<String> {
        if let Some((_, flag)) = RENAMED.iter().find(|(f, _)| *f == field) {
            return Some(flag.to_string());
        }
        let name = field.replace('_', "-");
        flags.contains(&name).then(|| format!("--{name}"))
    };
    let text = match error {
        AigcError::Invalid { field, problem } => format!("{}: {}", flag(field).unwrap_or_else(|| field.clone()), aigc::error::shown(problem)),
        AigcError::Unsupported { run, offers, .. } => {
            let commands: Vec<String> = COMMANDS
                .iter()
                .filter(|(verb, _)| offers.contains(verb))
                .map(|(_, command)| format!("`aigc {command} --run {}`", aigc::error::shown(run.display())))
                .collect();
            match commands.is_empty() {
                true => error.to_string(),
                false => format!("{error} (try {})", commands.join(" or ")),
            }
        }
        other => other.to_string(),
    };
    rename_quoted(&text, &flag)
}

/// The commands that use each capability a run can offer (as the library words them).
const COMMANDS: [(&str, &str); 4] = [("draw images", "sample"), ("inpaint images", "inpaint"), ("generate text", "generate"), ("compose melodies", "compose")];

/// Every long flag of the tool, its subcommands included.
fn long_flags() -> Vec<String> {
    fn collect(command: &clap::Command, out: &mut Vec<String>) {
        out.extend(command.get_arguments().filter_map(|a| a.get_long()).map(String::from));
        for sub in command.get_subcommands() {
            collect(sub, out);
        }
    }
    let mut flags = Vec::new();
    collect(&Cli::command(), &mut flags);
    flags
}

/// Replaces each `` `field` `` by its flag (or the bare field when it has none); other quoted
/// text (commands, file names) stays as it is.
fn rename_quoted(text: &str, flag: &dyn Fn(&str) -> Option<String>) -> String {
    let is_field = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit());
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('`') {
        let Some(len) = rest[start + 1..].find('`') else { break };
        let inner = &rest[start + 1..start + 1 + len];
        out.push_str(&rest[..start]);
        match is_field(inner) {
            true => out.push_str(&flag(inner).unwrap_or_else(|| inner.to_string())),
            false => out.push_str(&rest[start..start + len + 2]),
        }
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_become_flags() {
        let e = AigcError::invalid("batch_size", "must be at least 1");
        assert_eq!(explain(&e), "--batch-size: must be at least 1");
        let e = AigcError::invalid("markov_order", "must be between 1 and 32");
        assert_eq!(explain(&e), "--order: must be between 1 and 32");
        let e = AigcError::invalid("out", "runs/x already holds a run; set `resume` to continue it, or choose another `out`");
        assert_eq!(explain(&e), "--out: runs/x already holds a run; set --resume to continue it, or choose another --out");
        // Config keys without a flag, and quoted commands, stay as they are.
        let e = AigcError::invalid("gp_lambda", "see `aigc eval --real DIR` and `n_critic`");
        assert_eq!(explain(&e), "gp_lambda: see `aigc eval --real DIR` and n_critic");
        // A run asked for what it cannot do names the command that fits it.
        let e = AigcError::Unsupported { run: "runs/m".into(), family: "music (markov)".into(), wanted: "draw images".into(), offers: "compose melodies".into() };
        assert_eq!(explain(&e), "runs/m: a music (markov) run cannot draw images; it can compose melodies (try `aigc compose --run runs/m`)");
    }
}
