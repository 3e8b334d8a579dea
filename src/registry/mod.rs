//! The registry core: every event the ledger holds, the licence state machine, the persisted
//! view and the commands that change it. No HTTP here: the service, the officer pages, the demo
//! and the CLI all come through this module.
//!
//! A command reads the view, prepares its entries (numbering and signing a credential where it
//! issues one) and hands them to the ledger writer, which applies each entry to the view against
//! the state at its sequence number before numbering it ([`apply`]). So every decision that
//! must hold in log order is checked in log order, and replay runs the same code.

pub mod apply;
pub mod bodies;
pub mod commands;
pub mod event;
pub mod ids;
pub mod import;
pub mod licence;
pub mod refusal;
pub mod rows;
pub mod tables;
pub mod tally;
pub mod view;
pub mod wallet;

use std::path::Path;
use std::sync::Arc;

pub use apply::RegistryProjection;
pub use commands::{CommandError, Registry, RegistryParts};
pub use event::Event;
pub use ids::Allocators;
pub use licence::{LicenceEvent, LicenceStatus};
pub use refusal::Refusal;
pub use rows::{
    AlertRefusalView, AlertView, AnswerView, ApplicationStatus, ApplicationView, LicenceView,
    ReportStatus, ReportView, Step,
};
pub use view::{View, ViewError};

use crate::clock::Clock;
use crate::keys::LogKey;
use crate::ledger::{Ledger, LedgerError, Storage};

/// Highest version a licence number carries (three digits in the number, kept in a `u8`): a
/// licence at this version cannot be reissued or renewed again, and the refusal says so.
pub const MAX_LICENCE_VERSION: u16 = 255;

/// Opens the ledger with the registry's view kept in step (rebuilding the view first if it is
/// missing or of an older format).
pub fn open_ledger(
    dir: &Path,
    log_key: Option<LogKey>,
    clock: Arc<dyn Clock>,
) -> Result<Ledger, LedgerError> {
    Ledger::open_with(dir, log_key, clock, Arc::new(RegistryProjection))
}

/// [`open_ledger`] on any storage: sled files or a PostgreSQL database.
pub fn open_registry(
    storage: &Storage,
    log_key: Option<LogKey>,
    clock: Arc<dyn Clock>,
) -> Result<Ledger, LedgerError> {
    Ledger::open_storage(storage, log_key, clock, Arc::new(RegistryProjection))
}
