//! Progress on standard error for the long waits a person sits through: importing a
//! history, saving or restoring a large snapshot. Drawn only when standard error is a
//! terminal (and the caller asked for it); otherwise every method does nothing.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

/// A progress bar or counter, possibly hidden.
pub struct Progress(ProgressBar);

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

impl Progress {
    fn new(bar: ProgressBar, shown: bool) -> Self {
        if shown && std::io::stderr().is_terminal() {
            bar.set_draw_target(ProgressDrawTarget::stderr());
            bar.enable_steady_tick(Duration::from_millis(200));
        } else {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        Progress(bar)
    }

    /// A bar of `total` items with their rate and the time left.
    pub fn items(shown: bool, what: &str, total: u64, unit: &str) -> Self {
        let bar = ProgressBar::new(total).with_style(style(&format!(
            "{{msg}} [{{bar:30}}] {{human_pos}}/{{human_len}} {unit} ({{per_sec}}, {{eta}} left)"
        )));
        bar.set_message(what.to_string());
        Self::new(bar, shown)
    }

    /// A bar of `total` bytes.
    pub fn bytes(shown: bool, what: &str, total: u64) -> Self {
        let bar = ProgressBar::new(total).with_style(style(
            "{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left)",
        ));
        bar.set_message(what.to_string());
        Self::new(bar, shown)
    }

    /// A counter of bytes whose total is not known.
    pub fn bytes_open(shown: bool, what: &str) -> Self {
        let bar = ProgressBar::no_length()
            .with_style(style("{spinner} {msg}: {bytes} ({bytes_per_sec})"));
        bar.set_message(what.to_string());
        Self::new(bar, shown)
    }

    /// A spinner for a step whose size is not known.
    pub fn step(shown: bool, what: &str) -> Self {
        let bar = ProgressBar::no_length().with_style(style("{spinner} {msg} ({elapsed})"));
        bar.set_message(what.to_string());
        Self::new(bar, shown)
    }

    /// Advances by `n`.
    pub fn add(&self, n: u64) {
        self.0.inc(n);
    }

    /// Sets the text before the bar.
    pub fn message(&self, m: String) {
        self.0.set_message(m);
    }

    /// Sets the position.
    pub fn set(&self, n: u64) {
        self.0.set_position(n);
    }

    /// Removes it from the terminal.
    pub fn done(&self) {
        self.0.finish_and_clear();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}
