//! Waiting for tasks this process spawned: what every such wait does with the task's panic
//! and with its cancellation, written once.

use tokio::task::JoinError;

/// What a spawned task returned. A panic in it is resumed here, as if its work had run
/// inline; `None` when it was cancelled, which only the runtime shutting down does.
pub fn finished<T>(joined: Result<T, JoinError>) -> Option<T> {
    match joined {
        Ok(value) => Some(value),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_value_comes_back_and_a_cancelled_task_gives_none() {
        assert_eq!(finished(tokio::spawn(async { 7 }).await), Some(7));
        let never = tokio::spawn(std::future::pending::<()>());
        never.abort();
        assert_eq!(finished(never.await), None);
    }

    #[tokio::test]
    async fn a_panic_is_resumed_where_the_task_is_awaited() {
        let joined = tokio::spawn(async { panic!("the task's own message") }).await;
        let resumed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| finished(joined)))
            .unwrap_err();
        assert_eq!(
            resumed.downcast_ref::<&str>(),
            Some(&"the task's own message")
        );
    }
}
