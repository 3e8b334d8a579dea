//! licreg: an electronic licence registry for ride-hailing drivers, vehicles and platforms.
//!
//! The pure core (identifiers, licence model, credential codec and signing, Merkle math, signed
//! notes, receipts) does no I/O. Storage on sled, the CLI and later the HTTP service sit at the
//! edges.
#![forbid(unsafe_code)]

#[macro_use]
mod text_enum;

pub mod ids;
pub mod log;

pub mod agency;
pub mod card;
pub mod card_pdf;
pub mod cbor;
pub mod clock;
pub mod cose;
pub mod credential;
pub mod issuance;
pub mod keys;
pub mod ledger;
pub mod live_keys;
pub mod mirror;
pub mod model;
pub mod presentation;
pub mod private_fs;
pub mod publish;
pub mod qr;
pub mod registry;
pub mod rules;
pub mod sample;
pub mod schemas;
pub mod service;
pub mod signed_trust;
pub mod status_list;
pub mod witness;
