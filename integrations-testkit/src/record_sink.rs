//! [`MemoryRecordSink`]: synced records in memory, with every write counted.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use integrations_core::Error;
use integrations_core::model::Connection;
use integrations_core::sync::{RecordSink, SyncPage};
use serde_json::Value;

#[derive(Debug, Default)]
struct State {
    records: BTreeMap<(String, String), Value>,
    writes: BTreeMap<(String, String), u64>,
    deletes: u64,
    pages: u64,
}

/// A [`RecordSink`] in memory: upserts by (stream, id), removes deleted ids, and counts
/// how often each record was written (a resumed run must not write one twice).
#[derive(Debug, Default)]
pub struct MemoryRecordSink {
    state: Mutex<State>,
}

impl MemoryRecordSink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The ids held for `stream`, sorted.
    pub fn ids(&self, stream: &str) -> Vec<String> {
        self.lock()
            .records
            .keys()
            .filter(|(s, _)| s == stream)
            .map(|(_, id)| id.clone())
            .collect()
    }

    /// The record held for `stream` and `id`.
    pub fn record(&self, stream: &str, id: &str) -> Option<Value> {
        self.lock()
            .records
            .get(&(stream.to_owned(), id.to_owned()))
            .cloned()
    }

    /// How many times `id` of `stream` was written.
    pub fn writes_of(&self, stream: &str, id: &str) -> u64 {
        self.lock()
            .writes
            .get(&(stream.to_owned(), id.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// Every (stream, id) written more than once.
    pub fn written_twice(&self) -> Vec<(String, String)> {
        self.lock()
            .writes
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Pages written.
    pub fn pages(&self) -> u64 {
        self.lock().pages
    }

    /// Deleted ids applied.
    pub fn deletes(&self) -> u64 {
        self.lock().deletes
    }
}

#[async_trait]
impl RecordSink for MemoryRecordSink {
    async fn write_page(
        &self,
        _connection: &Connection,
        stream: &str,
        page: &SyncPage,
    ) -> Result<(), Error> {
        let mut state = self.lock();
        state.pages += 1;
        for record in &page.records {
            let key = (stream.to_owned(), record.id.clone());
            *state.writes.entry(key.clone()).or_default() += 1;
            state.records.insert(key, record.data.clone());
        }
        for id in &page.deleted {
            state.deletes += 1;
            state.records.remove(&(stream.to_owned(), id.clone()));
        }
        Ok(())
    }

    async fn delete_stream(&self, _connection: &Connection, stream: &str) -> Result<(), Error> {
        self.lock().records.retain(|(s, _), _| s != stream);
        Ok(())
    }
}
