//! Programs a test runs to their end with input on standard input: `congvu-admin` reading a
//! password, `mkpasswd --stdin`. The standard library collects a program's output but has no
//! way to feed it input at the same time; this module owns that, and the text form of what a
//! finished program printed.

use std::io::{ErrorKind, Write};
use std::process::{Command, Output, Stdio};

/// What one run of a program printed, as text, and whether it succeeded.
#[derive(Debug)]
pub struct Run {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Run {
        Run {
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// Runs `command` to its end with `input` on its standard input, and collects what it printed
/// and how it ended. The input is written from a thread of its own while the output is read,
/// so neither side waits on a full pipe whatever their sizes. A program that ends without
/// reading all of it (a usage error, say) is not a failure here: its output and status tell
/// the test what happened. Panics when the program cannot be started.
pub fn output_with_stdin(command: &mut Command, input: &[u8]) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {:?}: {e}", command.get_program()));
    let mut stdin = child.stdin.take().expect("stdin was piped above");
    let input = input.to_vec();
    // Dropping `stdin` at the end of the thread closes it: the program sees end of input.
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().unwrap();
    match writer.join().unwrap() {
        Err(e) if e.kind() != ErrorKind::BrokenPipe => {
            panic!("writing to {:?}: {e}", command.get_program())
        }
        _ => output,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_program_reads_the_input_and_its_output_comes_back() {
        let output = output_with_stdin(
            Command::new("sh").args(["-c", "tr a-z A-Z; echo lỗi >&2; exit 3"]),
            "thư công vụ\n".as_bytes(),
        );
        assert_eq!(output.stdout, "THư CôNG Vụ\n".as_bytes());
        assert_eq!(output.stderr, "lỗi\n".as_bytes());
        assert_eq!(output.status.code(), Some(3));
    }

    #[test]
    fn input_and_output_larger_than_a_pipe_do_not_block() {
        let input = vec![b'x'; 1 << 20];
        let output = output_with_stdin(&mut Command::new("cat"), &input);
        assert_eq!(output.stdout.len(), input.len());
        assert!(output.status.success());
    }

    #[test]
    fn a_program_that_ends_without_reading_is_reported_not_a_panic() {
        let input = vec![b'x'; 1 << 20];
        let output = output_with_stdin(
            Command::new("sh").args(["-c", "echo 'thiếu tham số' >&2; exit 2"]),
            &input,
        );
        assert_eq!(output.status.code(), Some(2));
        assert_eq!(output.stderr, "thiếu tham số\n".as_bytes());
    }
}
