//! Counters per route and outcome, and gauges of what is alive right now (client
//! connections, tunnels, requests in flight) so tests and operators can see that a
//! hung-up client leaks nothing. No metric ever holds a secret: labels are route ids and
//! stable outcome codes.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Live gauges and counters of a proxy.
#[derive(Debug, Default)]
pub struct Metrics {
    connections: Arc<AtomicI64>,
    tunnels: Arc<AtomicI64>,
    in_flight: Arc<AtomicI64>,
    /// Route -> outcome -> count (nested so counting a known pair allocates nothing).
    outcomes: Mutex<BTreeMap<String, BTreeMap<String, u64>>>,
}

/// What a [`Metrics`] holds at one instant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetricsSnapshot {
    /// Client connections open.
    pub connections: i64,
    /// `CONNECT` tunnels open (intercepted or blind).
    pub tunnels: i64,
    /// Forwarded requests whose response has not finished streaming.
    pub in_flight: i64,
    /// How many requests ended how, by `(route or "-", outcome)`.
    pub outcomes: BTreeMap<(String, String), u64>,
}

impl MetricsSnapshot {
    /// The count for a route (or `-` for none) and outcome (`forwarded`, or a refusal code).
    pub fn count(&self, route: &str, outcome: &str) -> u64 {
        self.outcomes
            .get(&(route.to_owned(), outcome.to_owned()))
            .copied()
            .unwrap_or(0)
    }
}

impl Metrics {
    /// A snapshot.
    pub fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            connections: self.connections.load(Ordering::SeqCst),
            tunnels: self.tunnels.load(Ordering::SeqCst),
            in_flight: self.in_flight.load(Ordering::SeqCst),
            outcomes: self
                .outcomes
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .flat_map(|(route, outcomes)| {
                    outcomes
                        .iter()
                        .map(|(outcome, n)| ((route.clone(), outcome.clone()), *n))
                })
                .collect(),
        }
    }

    pub(crate) fn count(&self, route: Option<&str>, outcome: &str) {
        let route = route.unwrap_or("-");
        let mut outcomes = self.outcomes.lock().unwrap_or_else(PoisonError::into_inner);
        let by_outcome = if let Some(known) = outcomes.get_mut(route) {
            known
        } else {
            outcomes.entry(route.to_owned()).or_default()
        };
        if let Some(n) = by_outcome.get_mut(outcome) {
            *n += 1;
        } else {
            by_outcome.insert(outcome.to_owned(), 1);
        }
    }

    pub(crate) fn connection(&self) -> GaugeGuard {
        GaugeGuard::new(&self.connections)
    }

    pub(crate) fn tunnel(&self) -> GaugeGuard {
        GaugeGuard::new(&self.tunnels)
    }

    pub(crate) fn in_flight(&self) -> GaugeGuard {
        GaugeGuard::new(&self.in_flight)
    }
}

/// Raises a gauge while alive.
#[derive(Debug)]
pub(crate) struct GaugeGuard(Arc<AtomicI64>);

impl GaugeGuard {
    fn new(gauge: &Arc<AtomicI64>) -> Self {
        gauge.fetch_add(1, Ordering::SeqCst);
        Self(Arc::clone(gauge))
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guards_release_their_gauge() {
        let metrics = Metrics::default();
        let a = metrics.connection();
        let b = metrics.in_flight();
        assert_eq!(metrics.snapshot().connections, 1);
        drop((a, b));
        metrics.count(Some("r"), "forwarded");
        let snapshot = metrics.snapshot();
        assert_eq!((snapshot.connections, snapshot.in_flight), (0, 0));
        assert_eq!(snapshot.count("r", "forwarded"), 1);
    }
}
