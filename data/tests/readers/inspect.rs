//! The `inspect` JSON of DESIGN.md §7.

use crate::common::fixture;

#[test]
fn inspect_vireo172_serialises_the_documented_object() {
    let root = fixture("vireo172");
    let report = marnet_data::inspect(&format!("vireo172:{}", root.display())).unwrap();
    let json = serde_json::to_value(&report).unwrap();
    let expected = serde_json::json!({
        "kind": "vireo172",
        "root": root.display().to_string(),
        "classes": 3,
        "class_names": ["Braised pork", "Mapo tofu", "Fried rice"],
        "splits": {"train": 3, "val": 1, "test": 3},
        // 7 samples; 3_2 has no ingredient, 3_9 is absent from IngreLabel.txt
        "with_text": 5,
        // 3_9.jpg is listed in TE.txt but not on disk
        "missing_files": 1
    });
    assert_eq!(json, expected);
}

#[test]
fn bad_specs_are_explained() {
    let err = format!("{:#}", marnet_data::inspect("vireo172").unwrap_err());
    assert!(err.contains("KIND:PATH"), "{err}");
    let err = format!("{:#}", marnet_data::inspect("food101:/tmp").unwrap_err());
    assert!(err.contains("unknown dataset kind") && err.contains("ingredient101"), "{err}");
    let err = format!("{:#}", marnet_data::inspect("manifest:/nonexistent/x.csv").unwrap_err());
    assert!(err.contains("/nonexistent/x.csv") && err.contains("does not exist"), "{err}");
}
