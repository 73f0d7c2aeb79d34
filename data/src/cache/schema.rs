//! The Arrow schema of a cache part and the part file names (DESIGN.md §3).
//!
//! | column | Arrow type |
//! |---|---|
//! | `id` | utf8, non-null |
//! | `split` | dictionary<int32, utf8>, non-null (`train`, `val`, `test`) |
//! | `label` | int32, non-null |
//! | `x_v` | fixed_size_list<element: float32>[D_v], non-null |
//! | `x_s` | fixed_size_list<element: float32>[D_s], nullable: null where the row has no text |
//!
//! pyarrow before 22 cannot read Parquet fixed_size_list columns holding nulls ("Expected all
//! lists to be of size=16 but index 4 had size=0", apache/arrow#35692); pyarrow 26 (pinned in
//! tools/requirements-dev.txt) reads them. The reader also accepts an older variant with a
//! non-null `x_s` plus a boolean `has_text` column.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema};

/// Name of the list item field, as pyarrow and Parquet's LIST convention spell it.
pub const ITEM_FIELD: &str = "element";

/// The type of a `fixed_size_list<float32>[dim]` column.
pub fn feature_type(dim: usize) -> DataType {
    DataType::FixedSizeList(Arc::new(Field::new(ITEM_FIELD, DataType::Float32, true)), dim as i32)
}

/// The part schema for widths `d_v`, `d_s`, carrying `metadata` (the `marnet.*` keys).
pub fn part_schema(d_v: usize, d_s: usize, metadata: HashMap<String, String>) -> Schema {
    Schema::new_with_metadata(
        vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("split", DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)), false),
            Field::new("label", DataType::Int32, false),
            Field::new("x_v", feature_type(d_v), false),
            Field::new("x_s", feature_type(d_s), true),
        ],
        metadata,
    )
}

/// `part-NNNNN-of-MMMMM.parquet` for part `index` of `total` (both zero-padded to 5 digits).
pub fn part_file_name(index: usize, total: usize) -> String {
    format!("part-{index:05}-of-{total:05}.parquet")
}

/// Parses a part file name into `(index, total)`; `None` for any other name.
pub fn parse_part_file_name(name: &str) -> Option<(usize, usize)> {
    let rest = name.strip_prefix("part-")?.strip_suffix(".parquet")?;
    let (index, total) = rest.split_once("-of-")?;
    let digits = |s: &str| s.len() >= 5 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(index) || !digits(total) {
        return None;
    }
    Some((index.parse().ok()?, total.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_names_round_trip() {
        assert_eq!(part_file_name(3, 12), "part-00003-of-00012.parquet");
        assert_eq!(parse_part_file_name("part-00003-of-00012.parquet"), Some((3, 12)));
        assert_eq!(parse_part_file_name(".part-00003-of-00012.parquet.77.tmp"), None);
        assert_eq!(parse_part_file_name("part-3-of-12.parquet"), None);
    }
}
