//! How long a suite took when it ran over several invocations. Each invocation of `convlab
//! ablate` keeps a heartbeat in its report directory (`alive`: the seconds it has run, rewritten
//! every [`BEAT`] and when it stops), so an invocation that was interrupted, or killed with the
//! machine, leaves how long it ran; the invocation that finishes the suite adds the interrupted
//! ones before it (back to the last invocation that wrote a report) to its own time.

use std::path::Path;
use std::sync::mpsc::{RecvTimeoutError, Sender, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::record::rundir::write_atomic;

/// How often the heartbeat is rewritten: a killed invocation's time is known to within this.
pub const BEAT: Duration = Duration::from_secs(30);

/// The heartbeat's file in a report directory.
pub const ALIVE: &str = "alive";

/// A suite's wall time: this invocation's, and the interrupted ones it finishes.
#[derive(Debug, Clone, PartialEq)]
pub struct WallTime {
    /// Seconds this invocation ran.
    pub this_s: f64,
    /// The interrupted invocations of the same plan before it, oldest first: their report
    /// directory's name and the seconds they ran (`None`: they left no heartbeat, as reports of
    /// convlab before it had one).
    pub earlier: Vec<(String, Option<f64>)>,
}

impl WallTime {
    /// Every invocation's seconds, summed (what is known of them).
    pub fn total_s(&self) -> f64 {
        self.this_s + self.earlier.iter().filter_map(|(_, s)| *s).sum::<f64>()
    }

    /// The phrase of `summary.md`'s runs line: `this invocation took N s`, and where it finished
    /// interrupted ones, `, after 2 interrupted invocations (`A` N s, `B` N s): N s in all`
    /// (`at least N s` where one's time is unknown). [`WallTime::parse`] reads it back.
    pub fn phrase(&self) -> String {
        let mut s = format!("this invocation took {:.0} s", self.this_s);
        if self.earlier.is_empty() {
            return s;
        }
        let each: Vec<String> = self
            .earlier
            .iter()
            .map(|(name, secs)| match secs {
                Some(secs) => format!("`{name}` {secs:.0} s"),
                None => format!("`{name}` time unknown"),
            })
            .collect();
        let unknown = self.earlier.iter().any(|(_, s)| s.is_none());
        s.push_str(&format!(
            ", after {} interrupted invocation{} ({}): {}{:.0} s in all",
            self.earlier.len(),
            if self.earlier.len() == 1 { "" } else { "s" },
            each.join(", "),
            if unknown { "at least " } else { "" },
            self.total_s()
        ));
        s
    }

    /// Reads back what [`WallTime::phrase`] wrote into a summary; `None` where the summary has
    /// no `this invocation took N s`.
    pub fn parse(summary: &str) -> Option<WallTime> {
        let rest = summary.split("this invocation took ").nth(1)?;
        let this_s = rest.split(' ').next()?.parse().ok()?;
        let line = rest.lines().next().unwrap_or_default();
        let mut earlier = vec![];
        if let Some(list) = line
            .split_once("interrupted invocation")
            .and_then(|(_, l)| l.split_once('('))
            .and_then(|(_, l)| l.split_once("):"))
            .map(|(l, _)| l)
        {
            for item in list.split(", ") {
                let (name, secs) = item.trim_start_matches('`').split_once("` ")?;
                let secs = secs.strip_suffix(" s").and_then(|n| n.parse().ok());
                earlier.push((name.to_string(), secs));
            }
        }
        Some(WallTime { this_s, earlier })
    }
}

/// The seconds an invocation's heartbeat (in its report directory `dir`) last recorded.
pub fn beat_s(dir: &Path) -> Option<f64> {
    std::fs::read_to_string(dir.join(ALIVE))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Rewrites `<dir>/alive` with the seconds since `started` every [`BEAT`] until dropped, and
/// once more then.
pub struct Heartbeat {
    /// Dropping it (with the heartbeat) wakes the thread for its last beat.
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Heartbeat {
    pub fn start(dir: &Path, started: Instant) -> Self {
        let path = dir.join(ALIVE);
        let (stop, stopped) = channel::<()>();
        let thread = std::thread::spawn(move || {
            // A heartbeat that cannot be written costs only the time of an interrupted
            // invocation, never the suite.
            let beat = || {
                let _ = write_atomic(
                    &path,
                    format!("{:.0}\n", started.elapsed().as_secs_f64()).as_bytes(),
                );
            };
            beat();
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(BEAT) {
                beat();
            }
            beat();
        });
        Self {
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
