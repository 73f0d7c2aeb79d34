//! The key names of a config group, read from its derived `Deserialize` impl, so the list of
//! valid keys cannot drift from the struct (serde renames included).
//!
//! serde's derive passes a struct's field names to `Deserializer::deserialize_struct`; the
//! [`FieldNames`] deserializer records them there and then stops with an error.

use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde::forward_to_deserialize_any;

/// The TOML keys of the struct `T` in declaration order; empty when `T` is not a struct with
/// named fields (or uses `#[serde(flatten)]`, whose derive does not pass the names).
pub fn field_names<T: for<'de> Deserialize<'de>>() -> &'static [&'static str] {
    let mut names: &'static [&'static str] = &[];
    // The error is the expected outcome: the probe never yields a value.
    let _ = T::deserialize(FieldNames { names: &mut names });
    names
}

/// A deserializer that only records the field list handed to `deserialize_struct`.
struct FieldNames<'a> {
    names: &'a mut &'static [&'static str],
}

impl<'de> Deserializer<'de> for FieldNames<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.names = fields;
        Err(de::Error::custom("field names recorded"))
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option
        unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}
