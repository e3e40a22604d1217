//! What the demo tells the person: numbered steps, plain sentences, the commands it runs and
//! what they answered, on standard output.

use std::io::Write as _;
use std::sync::atomic::{AtomicU32, Ordering};

const WIDTH: usize = 96;

static STEP: AtomicU32 = AtomicU32::new(0);

/// A new numbered step.
pub fn heading(title: &str) {
    let n = STEP.fetch_add(1, Ordering::Relaxed) + 1;
    println!("\n== {n}. {title}");
}

/// A paragraph, wrapped.
pub fn say(text: &str) {
    for line in wrap(text, WIDTH - 3) {
        println!("   {line}");
    }
    let _ = std::io::stdout().flush();
}

/// A command the demo runs, as a person would type it.
pub fn command(line: &str) {
    println!("   $ {line}");
}

/// A program's output, indented under the sentence that introduced it.
pub fn indented(text: &str) {
    for line in text.lines() {
        println!("     | {line}");
    }
    let _ = std::io::stdout().flush();
}

/// What Vigie cannot show yet.
pub fn not_there_yet() {
    heading("What is not there yet");
    say(
        "The staff portal signed the doctor in through the connector's SSO; the demo's mail \
         server still takes a password, as above (a mail client logging in with the issuer's \
         tokens over OAUTHBEARER runs in the tests, tests/tests/e2e_sso.rs). And vigie up \
         needs administrator rights on the laptop for its tunnel: nothing lets a clinician \
         without them connect yet.",
    );
}

/// The things the person may try while the demo stays up, each a sentence and a command.
pub fn things_to_try(items: &[(&str, String)]) {
    heading("Your turn");
    say("Everything is running. In another terminal (as root), try:");
    for (what, line) in items {
        println!();
        say(what);
        command(line);
    }
    println!();
    say(
        "Press Enter here to pull the card out of the reader (the session and its tunnel \
         pause: curl gets no answer), and Enter again to put it back (vigie up asks the card \
         again and the session goes on). Press Ctrl-C to end the demo: it stops everything \
         it started and deletes its namespaces.",
    );
}

fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_keeps_every_word_and_the_width() {
        let text = "one two three four five six seven eight nine ten eleven twelve";
        let lines = wrap(text, 14);
        assert!(lines.iter().all(|l| l.chars().count() <= 14), "{lines:?}");
        assert_eq!(lines.join(" "), text);
    }
}
