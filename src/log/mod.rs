//! Transparency-log core: Merkle math, signed notes, checkpoints, cosignatures and receipts.

pub mod merkle;
