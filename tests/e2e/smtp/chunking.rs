//! BDAT (CHUNKING, RFC 3030): chunks stored byte-exact with no dot or line-end handling, the
//! chunk bytes consumed even when the command is refused, the size limit counted across
//! chunks, and DATA refused once a message has begun in chunks.

use congvu_tests::smtp::RawSmtp;
use congvu_tests::Backend;

use super::fixture::{message, Province};
use super::smtp_tests;

smtp_tests!(
    a_message_in_three_chunks_is_stored_byte_exact,
    a_refused_bdat_still_consumes_its_chunk,
    chunks_over_the_size_limit_are_refused_at_last,
    data_after_a_chunk_is_refused,
);

const SENDER: &str = "sender@example.org";
const ANNV_ADDRESS: &str = "annv@vinhphuc.gov.vn";

/// Sends one BDAT command with its chunk in one write and reads the reply.
async fn bdat<S>(smtp: &mut RawSmtp<S>, chunk: &[u8], last: bool) -> String
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut bytes = format!(
        "BDAT {}{}\r\n",
        chunk.len(),
        if last { " LAST" } else { "" }
    )
    .into_bytes();
    bytes.extend_from_slice(chunk);
    smtp.send(&bytes).await;
    smtp.reply().await.expect("closed after BDAT").line()
}

/// Starts a transaction from [`SENDER`] to annv.
async fn envelope(smtp: &mut RawSmtp) {
    assert_eq!(
        smtp.command(&format!("MAIL FROM:<{SENDER}>")).await.line(),
        "250 2.1.0 Sender ok"
    );
    assert_eq!(
        smtp.command(&format!("RCPT TO:<{ANNV_ADDRESS}>"))
            .await
            .line(),
        "250 2.1.5 Recipient ok"
    );
}

fn is_accepted(line: &str) -> bool {
    line.starts_with("250 2.0.0 Ok: queued as ")
}

/// What a stored copy holds after the `Return-Path:` and `Received:` fields the server adds.
fn after_trace(stored: &[u8]) -> &[u8] {
    let mut at = 0;
    let mut first = true;
    loop {
        let rest = &stored[at..];
        let ours = (first && rest.starts_with(b"Return-Path: "))
            || rest.starts_with(b"Received: from ")
            || (!first && rest.starts_with(b"\t"));
        if !ours {
            return rest;
        }
        let end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
        at += end + 2;
        first = false;
    }
}

async fn a_message_in_three_chunks_is_stored_byte_exact(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut smtp = p.mx().await;
    let ehlo = smtp.command("EHLO relay.example.org").await;
    assert!(ehlo.lines.iter().any(|l| l == "CHUNKING"), "{ehlo:?}");
    envelope(&mut smtp).await;

    // Headers, then what DATA could not carry: every byte value, bare LF and CR, a line
    // that is only a dot, and a line far over 1000 octets.
    let mut content = message(SENDER, ANNV_ADDRESS, "ba-doan").into_bytes();
    content.extend(0u8..=255);
    content.extend_from_slice(b"\r\n.\r\nbare LF\nbare CR\r.\n\r\n..stuffed?\r\n");
    content.extend(std::iter::repeat_n(b'z', 3000));
    content.extend_from_slice(b"\r\n");
    let (one, rest) = content.split_at(100);
    let (two, three) = rest.split_at(1200);
    assert_eq!(
        bdat(&mut smtp, one, false).await,
        "250 2.0.0 100 octets received"
    );
    assert_eq!(
        bdat(&mut smtp, two, false).await,
        "250 2.0.0 1200 octets received"
    );
    let last = bdat(&mut smtp, three, true).await;
    assert!(is_accepted(&last), "{last}");
    assert_eq!(smtp.command("NOOP").await.line(), "250 2.0.0 Ok");

    let inbox = p.inbox("annv").await;
    assert_eq!(inbox.len(), 1);
    assert!(
        inbox[0].starts_with(
            format!("Return-Path: <{SENDER}>\r\nReceived: from relay.example.org ").as_bytes()
        ),
        "{}",
        String::from_utf8_lossy(&inbox[0])
    );
    assert_eq!(after_trace(&inbox[0]), content.as_slice());
}

async fn a_refused_bdat_still_consumes_its_chunk(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut smtp = p.mx().await;
    // The chunks hold commands: were they read as commands, RSET and QUIT would answer.
    let chunk = b"RSET\r\nQUIT\r\n";
    assert_eq!(
        bdat(&mut smtp, chunk, false).await,
        "503 5.5.1 Send MAIL first"
    );
    assert_eq!(smtp.command("NOOP").await.line(), "250 2.0.0 Ok");
    assert_eq!(
        smtp.command(&format!("MAIL FROM:<{SENDER}>")).await.line(),
        "250 2.1.0 Sender ok"
    );
    assert_eq!(
        bdat(&mut smtp, chunk, true).await,
        "554 5.5.1 No valid recipients"
    );
    assert_eq!(smtp.command("NOOP").await.line(), "250 2.0.0 Ok");

    // The transaction is still open and takes its recipient and a message.
    assert_eq!(
        smtp.command(&format!("RCPT TO:<{ANNV_ADDRESS}>"))
            .await
            .line(),
        "250 2.1.5 Recipient ok"
    );
    let content = message(SENDER, ANNV_ADDRESS, "dong-bo");
    let last = bdat(&mut smtp, content.as_bytes(), true).await;
    assert!(is_accepted(&last), "{last}");
    let inbox = p.inbox("annv").await;
    assert_eq!(inbox.len(), 1);
    assert_eq!(after_trace(&inbox[0]), content.as_bytes());
}

async fn chunks_over_the_size_limit_are_refused_at_last(backend: Backend) {
    let Some(p) = Province::start_with(backend, |c| c.smtp.max_message_bytes = 2048).await else {
        return;
    };
    let mut smtp = p.mx().await;
    let headers = message(SENDER, ANNV_ADDRESS, "gioi-han").into_bytes();
    let whole = |len: usize| {
        let mut bytes = headers.clone();
        bytes.resize(len - 2, b'w');
        bytes.extend_from_slice(b"\r\n");
        bytes
    };

    // One byte over, found in the second chunk; later chunks are still read (and dropped),
    // and the verdict comes with LAST.
    envelope(&mut smtp).await;
    let over = whole(2049);
    assert_eq!(
        bdat(&mut smtp, &over[..1024], false).await,
        "250 2.0.0 1024 octets received"
    );
    assert_eq!(
        bdat(&mut smtp, &over[1024..], false).await,
        "250 2.0.0 1025 octets received"
    );
    assert_eq!(
        bdat(&mut smtp, b"RSET\r\n", false).await,
        "250 2.0.0 6 octets received"
    );
    assert_eq!(
        bdat(&mut smtp, b"", true).await,
        "552 5.3.4 Message size exceeds fixed maximum message size"
    );
    assert!(p.inbox("annv").await.is_empty());

    // Exactly at the limit, in the same session.
    envelope(&mut smtp).await;
    let at_limit = whole(2048);
    assert_eq!(
        bdat(&mut smtp, &at_limit[..1024], false).await,
        "250 2.0.0 1024 octets received"
    );
    let last = bdat(&mut smtp, &at_limit[1024..], true).await;
    assert!(is_accepted(&last), "{last}");
    let inbox = p.inbox("annv").await;
    assert_eq!(inbox.len(), 1);
    assert_eq!(after_trace(&inbox[0]), at_limit.as_slice());
}

async fn data_after_a_chunk_is_refused(backend: Backend) {
    let Some(p) = Province::start(backend).await else {
        return;
    };
    let mut smtp = p.mx().await;
    envelope(&mut smtp).await;
    let content = message(SENDER, ANNV_ADDRESS, "tron-lan");
    let (first, second) = content.as_bytes().split_at(40);
    assert_eq!(
        bdat(&mut smtp, first, false).await,
        "250 2.0.0 40 octets received"
    );
    assert_eq!(
        smtp.command("DATA").await.line(),
        "503 5.5.1 BDAT and DATA cannot be mixed in one message"
    );
    // The message goes on in chunks.
    let last = bdat(&mut smtp, second, true).await;
    assert!(is_accepted(&last), "{last}");
    let inbox = p.inbox("annv").await;
    assert_eq!(inbox.len(), 1);
    assert_eq!(after_trace(&inbox[0]), content.as_bytes());
}
