//! What the process costs: CPU time and resident memory, from /proc.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// CPU time (user + system) this process has used so far, in seconds.
pub fn cpu_seconds() -> f64 {
    // /proc/self/stat fields 14 and 15, in clock ticks (100 per second on Linux).
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let after = s.rsplit_once(')')?.1;
            let fields: Vec<&str> = after.split_whitespace().collect();
            let ticks =
                fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
            Some(ticks / 100.0)
        })
        .unwrap_or(f64::NAN)
}

fn status_mb(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// Peak resident memory of this process, in MB (Linux's VmHWM).
pub fn peak_rss_mb() -> f64 {
    status_mb("VmHWM:")
}

/// Resident memory now, in MB.
pub fn rss_mb() -> f64 {
    status_mb("VmRSS:")
}

/// Prints resident memory every ten seconds to stderr while it lives: the
/// growth of a long run, and a sign of life.
pub struct RssSampler {
    stop: Arc<AtomicBool>,
}

impl RssSampler {
    pub fn start(label: &str) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, label) = (stop.clone(), label.to_string());
        std::thread::spawn(move || {
            let started = Instant::now();
            let mut next = Duration::from_secs(10);
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                if started.elapsed() >= next {
                    eprintln!(
                        "  {label}: {:>4}s, RSS {:.0} MB (peak {:.0} MB), CPU {:.1}s",
                        next.as_secs(),
                        rss_mb(),
                        peak_rss_mb(),
                        cpu_seconds()
                    );
                    next += Duration::from_secs(10);
                }
            }
        });
        RssSampler { stop }
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
