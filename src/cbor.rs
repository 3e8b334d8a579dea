//! The one home of the CBOR codec.
//!
//! The design card names serde_cbor, which is unmaintained (RUSTSEC-2021-0127). Every CBOR
//! encode and decode in licreg goes through this module, so the crate is named in one file:
//! swapping it (for ciborium or minicbor) touches this module and nothing else, and the fuzz
//! targets that drive the decoders exercise exactly this code. `clippy.toml` forbids calling
//! serde_cbor's functions anywhere else, so the seam holds by construction.

// This module is where the forbidden calls are allowed.
#![allow(clippy::disallowed_methods)]

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use serde_cbor::tags::Tagged;
pub use serde_cbor::Value;

/// A CBOR encoding or decoding failure, with the codec's own words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CborError(String);

use serde_cbor as codec;

/// Encodes with map keys as given (the form COSE and the ledger's framing use).
pub fn to_vec<T: Serialize>(value: &T) -> Result<Vec<u8>, CborError> {
    codec::to_vec(value).map_err(|e| CborError(e.to_string()))
}

/// Encodes structs as arrays and enum variants by index: the compact form for logged bodies
/// and view rows.
pub fn to_vec_packed<T: Serialize>(value: &T) -> Result<Vec<u8>, CborError> {
    codec::ser::to_vec_packed(value).map_err(|e| CborError(e.to_string()))
}

/// Decodes exactly one item; trailing bytes are an error.
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CborError> {
    codec::from_slice(bytes).map_err(|e| CborError(e.to_string()))
}

/// Like [`from_slice`], for a value that borrows strings and byte strings from `bytes`.
pub fn from_slice_borrowed<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, CborError> {
    codec::from_slice(bytes).map_err(|e| CborError(e.to_string()))
}

/// Reads an RFC 8742 CBOR sequence: each item with the byte offset where it ends. Refuses more
/// than `max_items` items, so a hostile input cannot make the reader loop long.
pub fn read_sequence(bytes: &[u8], max_items: usize) -> Result<Vec<(Value, usize)>, CborError> {
    let mut reader = codec::Deserializer::from_slice(bytes);
    let mut items = Vec::new();
    while reader.byte_offset() < bytes.len() {
        if items.len() == max_items {
            return Err(CborError(format!("more than {max_items} items")));
        }
        let item = Value::deserialize(&mut reader).map_err(|e| CborError(e.to_string()))?;
        items.push((item, reader.byte_offset()));
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sequence_reads_item_by_item_and_stops_at_its_limit() {
        let mut bytes = to_vec(&Value::Text("a".into())).unwrap();
        bytes.extend(to_vec(&7u16).unwrap());
        let items = read_sequence(&bytes, 2).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0], (Value::Text("a".into()), 2));
        assert_eq!(items[1], (Value::Integer(7), 3));
        assert!(read_sequence(&bytes, 1).is_err());
        assert!(read_sequence(&[0x62, b'a'], 4).is_err(), "truncated text");
    }
}
