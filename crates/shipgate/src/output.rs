//! The one place that writes to the terminal: data to standard output, messages to
//! standard error, colour only when wanted.

#![allow(clippy::print_stdout)]

use std::io::{IsTerminal, Write};

use crate::cli::ColorChoice;
use crate::env_vars;
use crate::exit::Failure;

pub struct Output {
    color: bool,
}

impl Output {
    pub fn new(choice: ColorChoice) -> Self {
        let no_color = std::env::var_os(env_vars::NO_COLOR).is_some_and(|value| !value.is_empty());
        let color = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => !no_color && std::io::stderr().is_terminal(),
        };
        Output { color }
    }

    pub fn color(&self) -> bool {
        self.color
    }

    /// The command's result, for people or programs, to standard output.
    pub fn data(&self, text: &str) -> Result<(), Failure> {
        let mut stdout = std::io::stdout().lock();
        match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
            Ok(()) => Ok(()),
            // A closed pipe (`shipgate schema | head`) is the reader's choice, not a failure.
            Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            Err(error) => Err(Failure::internal(anyhow::Error::new(error).context("cannot write to standard output"))),
        }
    }

    /// Diagnostics, progress and other messages, to standard error.
    pub fn message(&self, text: &str) {
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }

    /// `error: …`, a `caused by: …` line per cause, then `hint: …`.
    pub fn failure(&self, failure: &Failure) {
        let (red, bold, reset) = if self.color { ("\x1b[1;31m", "\x1b[1m", "\x1b[0m") } else { ("", "", "") };
        let mut text = format!("{red}error{reset}{bold}:{reset} {}\n", failure.error);
        for cause in failure.error.chain().skip(1) {
            text.push_str(&format!("  caused by: {cause}\n"));
        }
        if let Some(hint) = &failure.hint {
            text.push_str(&format!("{bold}hint:{reset} {hint}\n"));
        }
        self.message(&text);
    }
}
