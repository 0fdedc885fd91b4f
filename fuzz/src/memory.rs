//! The process's peak resident memory, from Linux's /proc/self/status (`VmHWM`), and its
//! reset through /proc/self/clear_refs, so that each target run reports its own peak.

/// The peak resident set size in KiB, if the system reports it.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Starts the peak over from the current resident size (Linux 4.0 and later); false when
/// the system does not allow it, and the peak then includes earlier work.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// `kib` for people: `812 KiB`, `23.4 MiB`.
pub fn human(kib: u64) -> String {
    if kib < 1024 {
        format!("{kib}KiB")
    } else {
        format!("{:.1}MiB", kib as f64 / 1024.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_is_read_and_grows_with_use() {
        let Some(before) = peak_rss_kib() else {
            return; // not Linux
        };
        assert!(before > 0);
        let block = vec![1u8; 64 << 20];
        std::hint::black_box(&block);
        let after = peak_rss_kib().unwrap_or(0);
        assert!(after >= before + 60 * 1024, "{before} -> {after}");
    }

    #[test]
    fn sizes_are_written_for_people() {
        assert_eq!(human(812), "812KiB");
        assert_eq!(human(23_962), "23.4MiB");
    }
}
