//! The phone's keyboard and display in a terminal (issue 11 item 1): softkeys and prompts on
//! the driver, passwords masked with `*`, log lines kept off the prompt line.
//!
//! - [`Keyboard`] is stdin, non-blocking and registered with the driver's poll. When stdin is a
//!   terminal it is put in non-canonical mode without echo (the phone echoes, masked where it
//!   must); `ISIG` stays on, so Ctrl-C still raises SIGINT, which the driver turns into a
//!   [`crate::driver::Fact::Signal`]. The terminal's settings and stdin's flags are restored
//!   when the keyboard is dropped (normal exit, an error return, a panic unwinding, a signal
//!   handled by the driver) or by [`Keyboard::restore`].
//! - [`Display`] owns every write to stdout and stderr. The input line (a prompt's label and
//!   what was typed, or a craft command being typed) stays at the bottom of the terminal: a
//!   display or log line erases it, is written, and the input line is drawn again below it.
//!   [`Display::tracing_writer`] is a `tracing` writer going through the same path, so a log
//!   warning never lands in the middle of `Password: ****`.
//! - When stdout is not a terminal (tests, pipes), nothing is redrawn or echoed: a prompt's
//!   label is printed once as its own line.

use std::io::{self, Write};
use std::os::fd::{AsFd as _, AsRawFd as _, BorrowedFd, RawFd};
use std::sync::{Arc, Mutex, MutexGuard};

use rustix::fs::{OFlags, fcntl_getfl, fcntl_setfl};
use rustix::termios::{self, LocalModes, OptionalActions, SpecialCodeIndex, Termios};

/// The longest input line kept (a password, a craft command).
pub const MAX_LINE: usize = 256;
/// The longest escape sequence parsed (F-keys are 3–5 bytes).
const MAX_ESCAPE: usize = 8;

/// What the keyboard produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyEvent {
    /// A line was entered (Enter): the answer to a prompt, or a craft command.
    Line(String),
    /// A softkey: F1–F4 (also sent by terminals as `ESC O P`…`ESC O S` or `ESC [ 11~`…).
    Softkey(u8),
    /// Stdin ended (Ctrl-D on an empty line at a terminal, end of a pipe).
    Eof,
}

/// How the input line is echoed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Echo {
    /// As typed.
    Clear,
    /// One `*` per character (passwords).
    Masked,
}

/// Turns keyboard bytes into [`KeyEvent`]s and keeps the line being typed.
#[derive(Debug, Default)]
pub struct LineEditor {
    line: String,
    /// Bytes of an unfinished UTF-8 character.
    partial: Vec<u8>,
    /// An escape sequence being read (starting with ESC).
    escape: Vec<u8>,
    /// The last byte was CR: a following LF ends no second line.
    after_cr: bool,
}

impl LineEditor {
    /// The line typed so far.
    #[must_use]
    pub fn line(&self) -> &str {
        &self.line
    }

    /// Forgets the line typed so far.
    pub fn clear(&mut self) {
        self.line.clear();
        self.partial.clear();
    }

    /// Feeds bytes read from the keyboard; returns the events they complete.
    pub fn feed(&mut self, bytes: &[u8], events: &mut Vec<KeyEvent>) {
        for &b in bytes {
            let after_cr = std::mem::take(&mut self.after_cr);
            if !self.escape.is_empty() {
                self.escape.push(b);
                if let Some(done) = escape_done(&self.escape) {
                    if let Some(n) = done {
                        events.push(KeyEvent::Softkey(n));
                    }
                    self.escape.clear();
                } else if self.escape.len() >= MAX_ESCAPE {
                    self.escape.clear();
                }
                continue;
            }
            match b {
                0x1b => self.escape.push(b),
                b'\r' => {
                    self.after_cr = true;
                    events.push(KeyEvent::Line(std::mem::take(&mut self.line)));
                    self.partial.clear();
                }
                b'\n' if after_cr => {}
                b'\n' => {
                    events.push(KeyEvent::Line(std::mem::take(&mut self.line)));
                    self.partial.clear();
                }
                0x7f | 0x08 => {
                    self.partial.clear();
                    self.line.pop();
                }
                // Ctrl-U: kill the line.
                0x15 => self.clear(),
                // Ctrl-D on an empty line: end of input.
                0x04 if self.line.is_empty() => events.push(KeyEvent::Eof),
                b if b < 0x20 => {}
                b => {
                    self.partial.push(b);
                    match std::str::from_utf8(&self.partial) {
                        Ok(s) => {
                            if self.line.chars().count() < MAX_LINE {
                                self.line.push_str(s);
                            }
                            self.partial.clear();
                        }
                        Err(e) if e.error_len().is_some() || self.partial.len() >= 4 => {
                            self.partial.clear();
                        }
                        Err(_) => {}
                    }
                }
            }
        }
    }
}

/// `None` while the sequence goes on; `Some(Some(n))` for softkey n; `Some(None)` for a
/// finished sequence that is no softkey (arrows, other keys).
fn escape_done(seq: &[u8]) -> Option<Option<u8>> {
    match seq {
        [0x1b] => None,
        [0x1b, b'O'] | [0x1b, b'['] => None,
        [0x1b, b'O', k] => Some(match k {
            b'P'..=b'S' => Some(k - b'P' + 1),
            _ => None,
        }),
        [0x1b, b'[', rest @ ..] => {
            let last = *rest.last()?;
            if !(0x40..=0x7e).contains(&last) {
                return None;
            }
            Some(match rest {
                b"11~" => Some(1),
                b"12~" => Some(2),
                b"13~" => Some(3),
                b"14~" => Some(4),
                _ => None,
            })
        }
        // ESC then another key: Alt-key; ignore.
        _ => Some(None),
    }
}

/// The prompt on the input line.
#[derive(Debug, Clone)]
struct Prompt {
    label: String,
    echo: Echo,
}

struct Screen {
    out: Box<dyn Write + Send>,
    err: Box<dyn Write + Send>,
    /// Redraw the input line (stdout is a terminal).
    tty: bool,
    prompt: Option<Prompt>,
    editor: LineEditor,
    /// The input line is on the screen now.
    drawn: bool,
}

impl Screen {
    /// The input line as shown: the prompt's label and `typed`, masked for a password.
    fn render(&self, typed: &str) -> String {
        let (label, echo) = match &self.prompt {
            Some(p) => (p.label.as_str(), p.echo),
            None => ("", Echo::Clear),
        };
        let shown = match echo {
            Echo::Clear => typed.to_string(),
            Echo::Masked => "*".repeat(typed.chars().count()),
        };
        format!("{label}{shown}")
    }

    fn input_text(&self) -> Option<String> {
        let typed = self.editor.line();
        if self.prompt.is_none() && typed.is_empty() {
            return None;
        }
        Some(self.render(typed))
    }

    fn erase(&mut self) {
        if self.tty && self.drawn {
            let _ = self.out.write_all(b"\r\x1b[2K");
            let _ = self.out.flush();
            self.drawn = false;
        }
    }

    fn draw(&mut self) {
        if !self.tty {
            return;
        }
        self.erase();
        if let Some(text) = self.input_text() {
            let _ = self.out.write_all(text.as_bytes());
            self.drawn = true;
        }
        let _ = self.out.flush();
    }

    fn write_lines(&mut self, to_err: bool, text: &str) {
        self.erase();
        let w = if to_err { &mut self.err } else { &mut self.out };
        let _ = w.write_all(text.as_bytes());
        if !text.ends_with('\n') {
            let _ = w.write_all(b"\n");
        }
        let _ = w.flush();
        self.draw();
    }
}

/// The display: every line the phone prints goes through it. Cheap to clone.
#[derive(Clone)]
pub struct Display(Arc<Mutex<Screen>>);

impl std::fmt::Debug for Display {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Display")
    }
}

impl Default for Display {
    fn default() -> Self {
        Display::new()
    }
}

impl Display {
    /// The display on stdout and stderr; the input line is redrawn when stdout is a terminal.
    #[must_use]
    pub fn new() -> Display {
        let tty = termios::isatty(io::stdout().as_fd());
        Display::with_sinks(Box::new(io::stdout()), Box::new(io::stderr()), tty)
    }

    /// A display writing to `out` (display lines, the input line) and `err` (logs).
    #[must_use]
    pub fn with_sinks(
        out: Box<dyn Write + Send>,
        err: Box<dyn Write + Send>,
        tty: bool,
    ) -> Display {
        Display(Arc::new(Mutex::new(Screen {
            out,
            err,
            tty,
            prompt: None,
            editor: LineEditor::default(),
            drawn: false,
        })))
    }

    fn screen(&self) -> MutexGuard<'_, Screen> {
        // A panic while printing leaves the screen usable: take it anyway.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Prints a display line (stdout), above the input line.
    pub fn line(&self, text: &str) {
        self.screen().write_lines(false, text);
    }

    /// Prints a log line (stderr), above the input line.
    pub fn log(&self, text: &str) {
        self.screen().write_lines(true, text);
    }

    /// Shows a prompt (`Password: `) on the input line, echoing what is typed as `echo` says;
    /// what was typed before is forgotten. Without a terminal, the label is printed once.
    pub fn prompt(&self, label: &str, echo: Echo) {
        let mut s = self.screen();
        s.editor.clear();
        s.prompt = Some(Prompt {
            label: label.to_string(),
            echo,
        });
        if s.tty {
            s.draw();
        } else {
            let _ = writeln!(s.out, "{label}");
            let _ = s.out.flush();
        }
    }

    /// Removes the prompt (answered, or no longer asked).
    pub fn end_prompt(&self) {
        let mut s = self.screen();
        s.prompt = None;
        s.draw();
    }

    /// Clears the input line and forgets the prompt and what was typed: before the phone
    /// exits, so the shell's prompt does not land on a half-typed line.
    pub fn close(&self) {
        let mut s = self.screen();
        s.prompt = None;
        s.editor.clear();
        s.erase();
    }

    /// Feeds keyboard bytes: edits and redraws the input line, returns the completed events.
    /// A line entered at a prompt ends the prompt.
    pub fn keys(&self, bytes: &[u8]) -> Vec<KeyEvent> {
        let mut s = self.screen();
        let mut events = Vec::new();
        s.editor.feed(bytes, &mut events);
        for e in &events {
            let KeyEvent::Line(typed) = e else { continue };
            // What was entered stays on screen (masked for a password), as a line of its own.
            let shown = s.render(typed);
            s.prompt = None;
            if s.tty {
                s.erase();
                if !shown.is_empty() {
                    let _ = writeln!(s.out, "{shown}");
                }
            }
        }
        s.draw();
        events
    }

    /// A `tracing` writer through this display: each event becomes log lines above the input
    /// line.
    #[must_use]
    pub fn tracing_writer(&self) -> TracingWriter {
        TracingWriter(self.clone())
    }
}

/// Sends `tracing` events through `display` (log lines above the input line, never inside a
/// prompt), at `filter` (`info`, `debug`, `phone=trace`...; a bad filter means `info`). A second
/// call in one process keeps the first subscriber.
pub fn init_tracing(display: &Display, filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = termios::isatty(io::stderr().as_fd());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(display.tracing_writer())
        .try_init();
}

/// `tracing_subscriber::fmt().with_writer(display.tracing_writer())`.
#[derive(Clone, Debug)]
pub struct TracingWriter(Display);

/// One log event being formatted; written to the display when dropped.
#[derive(Debug)]
pub struct LogLine {
    display: Display,
    buf: Vec<u8>,
}

impl Write for LogLine {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        if !self.buf.is_empty() {
            self.display.log(&String::from_utf8_lossy(&self.buf));
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for TracingWriter {
    type Writer = LogLine;

    fn make_writer(&'a self) -> LogLine {
        LogLine {
            display: self.0.clone(),
            buf: Vec::new(),
        }
    }
}

/// Stdin as the phone's keyboard.
pub struct Keyboard {
    /// The terminal settings to restore (stdin is a terminal).
    saved_termios: Option<Termios>,
    /// Stdin's file status flags before O_NONBLOCK.
    saved_flags: Option<OFlags>,
    restored: bool,
}

impl std::fmt::Debug for Keyboard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyboard")
            .field("tty", &self.saved_termios.is_some())
            .finish()
    }
}

fn stdin_fd() -> BorrowedFd<'static> {
    rustix::stdio::stdin()
}

impl Keyboard {
    /// Takes stdin: non-blocking, and at a terminal non-canonical without echo.
    ///
    /// # Errors
    /// Stdin's flags or the terminal's settings cannot be changed.
    pub fn open() -> io::Result<Keyboard> {
        let fd = stdin_fd();
        let mut kb = Keyboard {
            saved_termios: None,
            saved_flags: None,
            restored: false,
        };
        if termios::isatty(fd) {
            let saved = termios::tcgetattr(fd)?;
            let mut raw = saved.clone();
            raw.local_modes &= !(LocalModes::ICANON | LocalModes::ECHO);
            raw.local_modes |= LocalModes::ISIG;
            raw.special_codes[SpecialCodeIndex::VMIN] = 1;
            raw.special_codes[SpecialCodeIndex::VTIME] = 0;
            termios::tcsetattr(fd, OptionalActions::Now, &raw)?;
            kb.saved_termios = Some(saved);
        }
        let flags = fcntl_getfl(fd)?;
        fcntl_setfl(fd, flags | OFlags::NONBLOCK)?;
        kb.saved_flags = Some(flags);
        Ok(kb)
    }

    /// Reads what was typed; `Ok(0)` at the end of input.
    ///
    /// # Errors
    /// `WouldBlock` when nothing was typed.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        rustix::io::read(stdin_fd(), buf).map_err(io::Error::from)
    }

    /// Puts the terminal and stdin back as they were (also done on drop).
    pub fn restore(&mut self) {
        if std::mem::replace(&mut self.restored, true) {
            return;
        }
        let fd = stdin_fd();
        if let Some(t) = &self.saved_termios {
            let _ = termios::tcsetattr(fd, OptionalActions::Now, t);
        }
        if let Some(f) = self.saved_flags {
            let _ = fcntl_setfl(fd, f);
        }
    }

    /// Stdin's descriptor (for the driver's poll).
    #[must_use]
    pub fn raw_fd(&self) -> RawFd {
        stdin_fd().as_raw_fd()
    }
}

impl Drop for Keyboard {
    fn drop(&mut self) {
        self.restore();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn feed(e: &mut LineEditor, b: &[u8]) -> Vec<KeyEvent> {
        let mut v = Vec::new();
        e.feed(b, &mut v);
        v
    }

    #[test]
    fn lines_edits_and_softkeys() {
        let mut e = LineEditor::default();
        assert_eq!(feed(&mut e, b"1001"), vec![]);
        assert_eq!(e.line(), "1001");
        assert_eq!(
            feed(&mut e, b"x\x7f\r\n"),
            vec![KeyEvent::Line("1001".into())]
        );
        assert_eq!(
            feed(&mut e, b"a\nb\r\nc\r"),
            vec![
                KeyEvent::Line("a".into()),
                KeyEvent::Line("b".into()),
                KeyEvent::Line("c".into())
            ]
        );
        assert_eq!(feed(&mut e, b"\n"), vec![], "the LF of CR LF ends nothing");
        assert_eq!(feed(&mut e, b"\n"), vec![KeyEvent::Line(String::new())]);
        assert_eq!(
            feed(&mut e, b"junk\x15ok\n"),
            vec![KeyEvent::Line("ok".into())]
        );
        assert_eq!(
            feed(&mut e, b"\x1bOP\x1b[13~\x1b[A\x1bOS"),
            vec![
                KeyEvent::Softkey(1),
                KeyEvent::Softkey(3),
                KeyEvent::Softkey(4)
            ]
        );
        assert_eq!(e.line(), "", "arrows type nothing");
        // A sequence split across reads.
        assert_eq!(feed(&mut e, b"\x1b["), vec![]);
        assert_eq!(feed(&mut e, b"12~"), vec![KeyEvent::Softkey(2)]);
        // UTF-8 split across reads, backspace removes a whole character.
        assert_eq!(feed(&mut e, &"é".as_bytes()[..1]), vec![]);
        assert_eq!(feed(&mut e, &"é".as_bytes()[1..]), vec![]);
        assert_eq!(e.line(), "é");
        feed(&mut e, b"\x7f");
        assert_eq!(e.line(), "");
        assert_eq!(feed(&mut e, b"\x04"), vec![KeyEvent::Eof]);
        // Bounded: a flood of bytes keeps at most MAX_LINE characters.
        feed(&mut e, &[b'a'; 10_000]);
        assert_eq!(e.line().len(), MAX_LINE);
        // A runaway escape sequence is dropped after MAX_ESCAPE bytes.
        feed(&mut e, b"\x1b[1111111111111111");
        feed(&mut e, b"\x15z\n");
    }

    /// A sink tests can read back.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Sink {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    #[test]
    fn password_is_masked_and_logs_stay_off_the_prompt_line() {
        let out = Sink::default();
        let d = Display::with_sinks(Box::new(out.clone()), Box::new(out.clone()), true);
        d.line("| Extension:");
        d.prompt("Password: ", Echo::Masked);
        assert!(d.keys(b"se").is_empty());
        d.log("WARN DHCP: renewal failed");
        assert!(d.keys(b"cret").is_empty());
        let events = d.keys(b"\r");
        assert_eq!(events, vec![KeyEvent::Line("secret".into())]);
        let text = out.text();
        assert!(
            !text.contains("secret"),
            "the password is never shown: {text:?}"
        );
        // The log line was written on a cleared line, then the prompt drawn again below it.
        assert!(
            text.contains("Password: **\r\x1b[2KWARN DHCP: renewal failed\nPassword: **"),
            "{text:?}"
        );
        assert!(text.ends_with("Password: ******\n"), "{text:?}");
        // The prompt ended with the answer; typed commands echo in clear.
        d.keys(b"view");
        assert!(out.text().ends_with("view"), "{:?}", out.text());
        // At exit the input line is cleared.
        d.close();
        assert!(out.text().ends_with("view\r\x1b[2K"), "{:?}", out.text());
    }

    #[test]
    fn without_a_terminal_nothing_is_echoed() {
        let out = Sink::default();
        let err = Sink::default();
        let d = Display::with_sinks(Box::new(out.clone()), Box::new(err.clone()), false);
        d.prompt("Password: ", Echo::Masked);
        d.log("a log");
        assert_eq!(d.keys(b"secret\n"), vec![KeyEvent::Line("secret".into())]);
        d.line("| Registered");
        assert_eq!(out.text(), "Password: \n| Registered\n");
        assert_eq!(err.text(), "a log\n");
    }

    #[test]
    fn tracing_goes_through_the_display() {
        use tracing_subscriber::fmt::MakeWriter as _;
        let out = Sink::default();
        let d = Display::with_sinks(Box::new(out.clone()), Box::new(out.clone()), true);
        d.prompt("Extension: ", Echo::Clear);
        d.keys(b"10");
        let w = d.tracing_writer();
        {
            let mut line = w.make_writer();
            line.write_all(b"WARN part one, ").unwrap();
            line.write_all(b"part two\n").unwrap();
        }
        assert!(
            out.text()
                .ends_with("Extension: 10\r\x1b[2KWARN part one, part two\nExtension: 10"),
            "{:?}",
            out.text()
        );
    }
}
