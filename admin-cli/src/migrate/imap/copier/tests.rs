use super::*;

fn info(uid: u32, size: u32) -> MessageInfo {
    MessageInfo {
        uid,
        flags: MessageFlags::default(),
        keywords: Vec::new(),
        internal_date: None,
        size,
    }
}

fn uids(messages: &[MessageInfo], alone: &HashSet<u32>, count: usize) -> Vec<Vec<u32>> {
    let mut waiting: VecDeque<MessageInfo> = messages.iter().cloned().collect();
    let mut batches = Vec::new();
    while !waiting.is_empty() {
        let batch = next_batch(&mut waiting, alone, count);
        batches.push(batch.iter().map(|i| i.uid).collect());
    }
    batches
}

#[test]
fn batches_hold_a_count_and_a_size_and_large_or_set_apart_messages_go_alone() {
    let small: Vec<MessageInfo> = (1..=7).map(|uid| info(uid, 1000)).collect();
    assert_eq!(
        uids(&small, &HashSet::new(), 3),
        vec![vec![1, 2, 3], vec![4, 5, 6], vec![7]]
    );
    let mb = 1024 * 1024;
    let mixed = vec![
        info(1, 1000),
        info(2, 20 * mb),
        info(3, 1000),
        info(4, 10 * mb),
        info(5, 7 * mb),
        info(6, 1000),
    ];
    assert_eq!(
        uids(&mixed, &HashSet::new(), 64),
        vec![vec![1], vec![2], vec![3, 4], vec![5, 6]]
    );
    let apart: HashSet<u32> = [2, 3].into_iter().collect();
    assert_eq!(
        uids(&small, &apart, 64),
        vec![vec![1], vec![2], vec![3], vec![4, 5, 6, 7]]
    );
    assert!(next_batch(&mut VecDeque::new(), &HashSet::new(), 64).is_empty());
}

#[test]
fn a_folder_is_listed_a_window_at_a_time_and_wider_while_little_is_new() {
    let mut cursor = Cursor::new(1000, 256);
    assert_eq!(cursor.next_window(), Some((1, 256)));
    cursor.widen();
    assert_eq!(cursor.next_window(), Some((257, 768)));
    cursor.widen();
    assert_eq!(cursor.next_window(), Some((769, 1000)));
    assert_eq!(cursor.next_window(), None);
    let mut wide = Cursor::new(50_000, 8_000);
    wide.widen();
    assert_eq!(wide.next_window(), Some((1, WINDOW)));
    assert_eq!(Cursor::new(0, 256).next_window(), None);
    let mut last = Cursor::new(u32::MAX, WINDOW);
    last.next = u64::from(u32::MAX);
    assert_eq!(last.next_window(), Some((u32::MAX, u32::MAX)));
    assert_eq!(last.next_window(), None);
}

#[tokio::test]
async fn the_pace_lets_through_n_messages_a_second_over_all_accounts() {
    let pace = std::sync::Arc::new(Pace::per_second(100));
    let started = tokio::time::Instant::now();
    let a = tokio::spawn({
        let pace = pace.clone();
        async move { pace.take(10).await }
    });
    let b = tokio::spawn({
        let pace = pace.clone();
        async move { pace.take(10).await }
    });
    a.await.unwrap();
    b.await.unwrap();
    // Twenty messages at a hundred a second: the first at once, the twentieth 190 ms later.
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(190), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
}

#[test]
fn a_tally_counts_each_message_once_across_restarts() {
    let bar = ProgressBar::hidden();
    let mut tally = Tally::default();
    tally.record(1, Outcome::Copied(100), &bar);
    tally.record(2, Outcome::AlreadyThere, &bar);
    tally.record(3, Outcome::Skipped, &bar);
    tally.fail(4, "INBOX UID 4: too large".into(), &bar);
    // A restarted folder meets message 1 again: it stays copied once.
    tally.record(1, Outcome::Copied(100), &bar);
    let mut report = AccountReport::new(2, "an@x.gov.vn", "an");
    tally.add_to(&mut report);
    assert_eq!(
        (
            report.copied,
            report.already_there,
            report.skipped,
            report.failed,
            report.bytes
        ),
        (1, 1, 1, 1, 100)
    );
    assert_eq!(report.failures, vec!["INBOX UID 4: too large".to_string()]);
}
