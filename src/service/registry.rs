//! The registry's view now lives in the registry core (persisted with the ledger); the service
//! names its types from there.

pub use crate::registry::{
    AnswerView, ApplicationStatus, ApplicationView, LicenceStatus, LicenceView, Step, View,
};
