//! One serde form for the registry's enums: their text (`"driver"`, `"approved"`, `"suspend"`),
//! in JSON, TOML and every CBOR encoding alike.
//!
//! Derived serde would write a unit variant of a *packed* CBOR body (see `ledger::encode_body`)
//! as its index, which serde_cbor then cannot read back, and which would tie the logged bytes to
//! the variants' order. Text keeps entries, view rows and API answers in one readable form.

/// Implements `Serialize` and `Deserialize` for `$ty` as the text of its `as_str()`; `$all` lists
/// every value, so parsing is the inverse of `as_str` by construction.
macro_rules! serde_as_text {
    ($ty:ty, $all:expr) => {
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text =
                    <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(deserializer)?;
                $all.into_iter()
                    .find(|value: &$ty| value.as_str() == text)
                    .ok_or_else(|| {
                        serde::de::Error::custom(format!("unknown {} {:?}", stringify!($ty), text))
                    })
            }
        }
    };
}

pub(crate) use serde_as_text;
