//! Hang detection. Each worker thread announces the input it starts and when it ends; a
//! watchdog thread looks every few milliseconds and flags an input that has run past the
//! per-input deadline. A flagged input that returns later is still a hang (the worker
//! reports it); one that never returns cannot be interrupted in safe Rust, so past a hard
//! limit the watchdog ends the process after the hang has been saved.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// What one worker is running.
#[derive(Debug, Default)]
pub struct Slot {
    state: Mutex<SlotState>,
}

#[derive(Debug, Default)]
struct SlotState {
    input: Vec<u8>,
    started: Option<Instant>,
    flagged: bool,
}

impl Slot {
    fn state(&self) -> MutexGuard<'_, SlotState> {
        // A panic is caught outside the lock, so a poisoned state is still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The worker starts running `input`.
    pub fn begin(&self, input: &[u8]) {
        let mut state = self.state();
        state.input.clear();
        state.input.extend_from_slice(input);
        state.started = Some(Instant::now());
        state.flagged = false;
    }

    /// The worker's input returned; true when the watchdog flagged it as a hang meanwhile.
    pub fn end(&self) -> bool {
        let mut state = self.state();
        state.started = None;
        state.flagged
    }

    /// The running input and how long it has run, the first time it is seen past
    /// `deadline`; it is then flagged.
    pub fn newly_overdue(&self, deadline: Duration) -> Option<(Vec<u8>, Duration)> {
        let mut state = self.state();
        let running = state.started?.elapsed();
        if running <= deadline || state.flagged {
            return None;
        }
        state.flagged = true;
        Some((state.input.clone(), running))
    }

    /// How long the running input has run, if one is running.
    pub fn running_for(&self) -> Option<Duration> {
        self.state().started.map(|s| s.elapsed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_input_past_the_deadline_is_flagged_once() {
        let slot = Slot::default();
        slot.begin(b"slow");
        assert_eq!(slot.newly_overdue(Duration::from_secs(60)), None);
        std::thread::sleep(Duration::from_millis(20));
        let (input, running) = slot
            .newly_overdue(Duration::from_millis(10))
            .expect("not flagged");
        assert_eq!(input, b"slow");
        assert!(running >= Duration::from_millis(20));
        assert_eq!(slot.newly_overdue(Duration::from_millis(10)), None);
        assert!(slot.end());
        assert_eq!(slot.running_for(), None);
        slot.begin(b"fast");
        assert!(!slot.end());
    }
}
