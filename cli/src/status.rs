//! One line of progress on standard error, redrawn in place: only on a terminal (a log or a
//! pipe gets none), at most every 200 ms unless forced, erased before a warning and at the end.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

pub struct StatusLine {
    on: bool,
    drawn: Option<Instant>,
    /// Something is on the line (erased by [`StatusLine::clear`]).
    shown: bool,
}

impl StatusLine {
    /// A line that shows when `wanted` (text output) and standard error is a terminal.
    pub fn new(wanted: bool) -> StatusLine {
        StatusLine {
            on: wanted && std::io::stderr().is_terminal(),
            drawn: None,
            shown: false,
        }
    }

    /// Redraws the line with `text()` (not called when nothing is drawn): now when `force`,
    /// else when the last drawing is 200 ms old.
    pub fn draw(&mut self, force: bool, text: impl FnOnce() -> String) {
        if !self.on
            || (!force
                && self
                    .drawn
                    .is_some_and(|t| t.elapsed() < Duration::from_millis(200)))
        {
            return;
        }
        self.drawn = Some(Instant::now());
        self.shown = true;
        eprint!("\r\x1b[K{}", text());
    }

    /// Erases the line (before a warning or a line of output, and at the end).
    pub fn clear(&mut self) {
        if self.shown {
            self.shown = false;
            eprint!("\r\x1b[K");
        }
    }
}
