//! The registry's append-only, hash-chained Merkle ledger, on sled or PostgreSQL.
//!
//! `entry` defines what is logged, `store` appends with group commit and serves proofs and
//! receipts, and `audit` re-derives everything from the entries to find tampering.

pub mod audit;
pub mod backend;
pub mod entry;
mod entry_rows;
mod hash_tiles;
mod head;
pub mod migrate;
pub mod node_cache;
pub mod postgres;
pub mod projection;
mod rebuild;
pub mod row_cache;
pub mod storage;
pub mod store;
pub mod tables;
pub mod tiles;
mod writer;

pub use audit::{audit, AuditReport, Problem};
pub use entry::{
    encode_body, Entry, EntryError, EventType, NewEntry, Seq, Subject, SubjectKind,
    ENTRY_FORMAT_VERSION,
};
pub use projection::{ApplyError, Projection, ViewTx};
pub use store::{
    Appended, Ledger, LedgerError, Pending, SledStore, Storage, DEFAULT_SLED_CACHE_MB,
};
pub use tables::{Order, Scan, SledTables, Tables};
