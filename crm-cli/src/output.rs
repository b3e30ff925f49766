//! Standard output and logging for every command.
//!
//! Output goes through [`Stdout`], never `println!`: `println!` panics when the reader has gone
//! (`crm-connect demo | head`), while a command whose reader closed the pipe has nothing left to
//! do and ends quietly with success, as Unix tools do.
//!
//! Logging is off unless `RUST_LOG` (or `CRM_LOG`, which takes precedence) is set: without it no
//! subscriber is installed, so neither the SDK's `tracing` events nor the `log` records of its
//! dependencies (rustls, hyper) reach stderr.

use std::ffi::OsString;
use std::io::{self, IsTerminal, Write};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

/// Standard output that ends the process quietly (exit 0) when the reader closed the pipe, and
/// with exit 2 and a message on stderr when stdout cannot be written for another reason.
pub(crate) struct Stdout;

impl Stdout {
    fn failed(e: &io::Error) -> ! {
        if e.kind() == io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        let _ = writeln!(io::stderr(), "error: cannot write to stdout: {e}");
        std::process::exit(2);
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        io::stdout().lock().write(buf).or_else(|e| Self::failed(&e))
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stdout().lock().flush().or_else(|e| Self::failed(&e))
    }
}

/// `println!` through [`Stdout`].
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        // `Stdout` ends the process itself on a write error; there is nothing to handle here.
        let _ = writeln!($crate::output::Stdout, $($arg)*);
    }};
}
pub(crate) use outln;

/// The environment variables that turn logging on, in order of precedence.
pub(crate) const LOG_VARS: [&str; 2] = ["CRM_LOG", "RUST_LOG"];

/// Installs the stderr logger when `CRM_LOG` or `RUST_LOG` holds filter directives; does
/// nothing otherwise.
pub(crate) fn init_logging() {
    let Some(directives) = LOG_VARS
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
    else {
        return;
    };
    let ansi = colour(io::stderr().is_terminal(), std::env::var_os("NO_COLOR"));
    // A directive that does not parse is skipped (and reported by the filter) rather than
    // failing the command.
    let filter = EnvFilter::builder().parse_lossy(directives);
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(ansi)
        // One line per finished span: every CRM call (`crm.call`) with its status and attempts.
        .with_span_events(FmtSpan::CLOSE)
        .try_init();
}

/// Colour codes only on a terminal, and not when `NO_COLOR` is set to anything but the empty
/// string (<https://no-color.org>).
pub(crate) fn colour(stderr_is_terminal: bool, no_color: Option<OsString>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::colour;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour(true, None));
        assert!(colour(true, Some("".into())));
        assert!(!colour(true, Some("1".into())));
        assert!(!colour(false, None));
        assert!(!colour(false, Some("1".into())));
    }
}
