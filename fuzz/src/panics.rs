//! Running one input and catching its panic: the message and location are kept for the
//! report instead of being printed for every crash found, while panics outside a fuzzed
//! call (the harness's own) still go to the hook that was there before.

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    /// Whether this thread is running an input, so its panic is a finding.
    static CAPTURING: Cell<bool> = const { Cell::new(false) };
    /// The last finding's message and location.
    static LAST: RefCell<Option<String>> = const { RefCell::new(None) };
}

static INSTALL: Once = Once::new();

/// Installs the hook that keeps panics raised inside [`catch`] quiet; once per process.
pub fn install_hook() {
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !CAPTURING.get() {
                return previous(info);
            }
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".to_owned());
            let place = info
                .location()
                .map(|l| format!(" at {}:{}:{}", l.file(), l.line(), l.column()))
                .unwrap_or_default();
            LAST.set(Some(format!("{message}{place}")));
        }));
    });
}

/// Runs `f`; `Err` holds the panic's message and location if it panicked.
pub fn catch<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    CAPTURING.set(true);
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    CAPTURING.set(false);
    result.map_err(|_| {
        LAST.take()
            .unwrap_or_else(|| "a panic the hook did not see".to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_its_message_and_place() {
        install_hook();
        let caught = catch(|| -> u8 { panic!("boundary {} out of range", 7) });
        let message = caught.expect_err("the panic was not caught");
        assert!(
            message.starts_with("boundary 7 out of range at "),
            "{message}"
        );
        assert!(message.contains("panics.rs"), "{message}");
        assert_eq!(catch(|| 5), Ok(5));
    }
}
