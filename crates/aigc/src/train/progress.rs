//! The progress bar of long loops: position, rate, ETA and the current losses.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub fn progress_bar(total: u64, start: u64, quiet: bool, unit: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), if quiet {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    });
    let template = format!(
        "{{bar:30.cyan/blue}} {{pos}}/{{len}} {unit} [{{elapsed_precise}}<{{eta_precise}}, {{per_sec}}] {{msg}}"
    );
    bar.set_style(ProgressStyle::with_template(&template).expect("valid template").progress_chars("█▉▊▋▌▍▎▏ "));
    bar.set_position(start);
    bar.reset_eta();
    bar
}

/// A line above the bar. indicatif draws nothing when stderr is not a terminal (a log file, CI),
/// `println` included, so the line then goes to stderr directly, unless `quiet`.
pub fn println_above(bar: &ProgressBar, quiet: bool, line: impl AsRef<str>) {
    if !bar.is_hidden() {
        bar.println(line);
    } else if !quiet {
        eprintln!("{}", line.as_ref());
    }
}
