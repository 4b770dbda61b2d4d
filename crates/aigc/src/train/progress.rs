//! Progress of long loops: on a terminal an indicatif bar (position, rate, ETA, the current
//! losses); when stderr is a file or a pipe (`aigc demo > log 2>&1`, CI), a plain line every
//! [`PLAIN_EVERY`] and at the end, so a log shows the job advancing. `quiet` shows nothing;
//! `NO_COLOR` drops the bar's colours.

use std::cell::RefCell;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often a plain progress line is written.
pub const PLAIN_EVERY: Duration = Duration::from_secs(10);

/// Whether output may use colours: stderr is a terminal and `NO_COLOR` is not set.
pub fn colours() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// A progress display (see the module docs).
pub struct Progress {
    bar: ProgressBar,
    plain: Option<Plain>,
    quiet: bool,
}

struct Plain {
    total: u64,
    unit: String,
    started: Instant,
    start: u64,
    last_line: RefCell<Instant>,
    message: RefCell<String>,
}

pub fn progress_bar(total: u64, start: u64, quiet: bool, unit: &str) -> Progress {
    let terminal = std::io::stderr().is_terminal();
    let target = if quiet || !terminal { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stderr() };
    let bar = ProgressBar::with_draw_target(Some(total), target);
    let style = if colours() { "{bar:30.cyan/blue}" } else { "{bar:30}" };
    let template = format!("{style} {{pos}}/{{len}} {unit} [{{elapsed_precise}}<{{eta_precise}}, {{per_sec}}] {{msg}}");
    bar.set_style(ProgressStyle::with_template(&template).expect("valid template").progress_chars("█▉▊▋▌▍▎▏ "));
    bar.set_position(start);
    bar.reset_eta();
    let plain = (!quiet && !terminal).then(|| Plain {
        total,
        unit: unit.to_string(),
        started: Instant::now(),
        start,
        last_line: RefCell::new(Instant::now()),
        message: RefCell::new(String::new()),
    });
    Progress { bar, plain, quiet }
}

impl Progress {
    pub fn set_position(&self, position: u64) {
        self.bar.set_position(position);
        if let Some(plain) = &self.plain {
            let due = plain.last_line.borrow().elapsed() >= PLAIN_EVERY || position >= plain.total;
            if due && position > plain.start {
                *plain.last_line.borrow_mut() = Instant::now();
                eprintln!("{}", plain.line(position));
            }
        }
    }

    pub fn inc(&self, delta: u64) {
        self.set_position(self.bar.position() + delta);
    }

    pub fn set_message(&self, message: impl Into<String>) {
        let message = message.into();
        if let Some(plain) = &self.plain {
            plain.message.borrow_mut().clone_from(&message);
        }
        self.bar.set_message(message);
    }

    /// A line above the bar (or on its own line without a terminal), unless quiet.
    pub fn println(&self, line: impl AsRef<str>) {
        if !self.bar.is_hidden() {
            self.bar.println(line);
        } else if !self.quiet {
            eprintln!("{}", line.as_ref());
        }
    }

    pub fn finish_and_clear(&self) {
        self.bar.finish_and_clear();
    }
}

impl Plain {
    /// `steps 500/3000 (16.7%), 19.8 steps/s, 2m06s left: D 1.230 G 0.840 …`
    fn line(&self, position: u64) -> String {
        let seconds = self.started.elapsed().as_secs_f64().max(1e-9);
        let rate = (position - self.start) as f64 / seconds;
        let left = self.total.saturating_sub(position) as f64 / rate.max(1e-9);
        let share = 100.0 * position as f64 / self.total.max(1) as f64;
        let message = self.message.borrow();
        let tail = if message.is_empty() { String::new() } else { format!(": {message}") };
        format!("{} {position}/{} ({share:.1}%), {rate:.1} {}/s, {} left{tail}", self.unit, self.total, self.unit, clock(left))
    }
}

/// Seconds as `1h02m`, `2m06s` or `9s`.
fn clock(seconds: f64) -> String {
    let s = seconds.round() as u64;
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m{s:02}s"),
        (h, m, _) => format!("{h}h{m:02}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_say_where_the_job_is() {
        assert_eq!((clock(9.4), clock(126.0), clock(3720.0)), ("9s".into(), "2m06s".into(), "1h02m".into()));
        let plain = Plain {
            total: 3000,
            unit: "steps".into(),
            started: Instant::now() - Duration::from_secs(25),
            start: 0,
            last_line: RefCell::new(Instant::now()),
            message: RefCell::new("D 1.230 G 0.840".into()),
        };
        let line = plain.line(500);
        assert!(line.starts_with("steps 500/3000 (16.7%), 20.0 steps/s, ") && line.ends_with("left: D 1.230 G 0.840"), "{line}");
    }
}
