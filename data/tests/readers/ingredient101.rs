//! Ingredient-101 layout: `Annotations` capitalised, CRLF, empty ingredient items.

use marnet_data::{load_dataset, DatasetKind, Split};

use crate::common::fixture;

#[test]
fn ingredient101_fixture_reads_aligned_labels_and_class_ingredients() {
    let root = fixture("ingredient101");
    let ds = load_dataset(&format!("ingredient101:{}", root.display())).unwrap();
    assert_eq!(ds.kind, DatasetKind::Ingredient101);
    assert_eq!(ds.class_names, ["apple_pie", "bibimbap"]);
    // ingredients.txt line 1 "flour,butter, apple ,,sugar" -> empty item dropped, blanks trimmed;
    // line 2 "rice,egg,beef," -> trailing empty item dropped.
    let pie = Some("flour, butter, apple, sugar");
    let bibimbap = Some("rice, egg, beef");
    let got: Vec<(&str, u32, Option<&str>, Split)> =
        ds.samples.iter().map(|s| (s.id.as_str(), s.label, s.text.as_deref(), s.split)).collect();
    let expected = vec![
        ("images/apple_pie/101.jpg", 0, pie, Split::Train),
        ("images/bibimbap/202.jpg", 1, bibimbap, Split::Train),
        ("images/apple_pie/102.jpg", 0, pie, Split::Val),
        ("images/bibimbap/203.jpg", 1, bibimbap, Split::Test),
        ("images/apple_pie/103.jpg", 0, pie, Split::Test),
    ];
    assert_eq!(got, expected);
    assert!(ds.missing_files().is_empty());
    ds.check_images_exist().unwrap();
}

#[test]
fn ingredient101_lowercase_annotations_and_no_val_split() {
    let (_tmp, root) = crate::common::copy_fixture("ingredient101");
    std::fs::rename(root.join("Annotations"), root.join("annotations")).unwrap();
    std::fs::remove_file(root.join("annotations/val_images.txt")).unwrap();
    std::fs::remove_file(root.join("annotations/val_labels.txt")).unwrap();
    let ds = load_dataset(&format!("ingredient101:{}", root.display())).unwrap();
    assert_eq!((ds.count(Split::Train), ds.count(Split::Val), ds.count(Split::Test)), (2, 0, 2));
}

/// (annotations folder, images folder) of a loaded Ingredient-101 root, as `inspect` reports them.
fn folders(root: &std::path::Path) -> (String, String, Vec<String>) {
    let report = marnet_data::inspect(&format!("ingredient101:{}", root.display())).unwrap();
    let ds = load_dataset(&format!("ingredient101:{}", root.display())).unwrap();
    let ids = ds.samples.iter().map(|s| s.id.clone()).collect();
    (report.folders["annotations"].clone(), report.folders["images"].clone(), ids)
}

/// The two downloads unpacked side by side, as people have them: `food-101/images` (with `food-101/meta`)
/// next to `Ingredients101/Annotations`. Same samples as the flat fixture, ids under
/// `food-101/images/`; `inspect` names both folders.
#[test]
fn ingredient101_as_downloaded_finds_both_folders_one_level_down() {
    let root = fixture("ingredient101_downloaded");
    let (ann, images, ids) = folders(&root);
    assert_eq!((ann.as_str(), images.as_str()), ("Ingredients101/Annotations", "food-101/images"));
    assert_eq!(ids[0], "food-101/images/apple_pie/101.jpg");
    assert_eq!(ids.len(), 5);
    let ds = load_dataset(&format!("ingredient101:{}", root.display())).unwrap();
    ds.check_images_exist().unwrap();
    assert_eq!(ds.class_names, ["apple_pie", "bibimbap"]);
    let json =
        serde_json::to_value(marnet_data::inspect(&format!("ingredient101:{}", root.display())).unwrap()).unwrap();
    assert_eq!(
        json["folders"],
        serde_json::json!({"annotations": "Ingredients101/Annotations", "images": "food-101/images"})
    );
    assert_eq!(json["missing_files"], 0);
}

/// Lower-case `ingredients-101/annotations` with `images/` directly under the root, and the
/// flat fixture (`Annotations/`, `images/` under the root).
#[test]
fn ingredient101_other_layouts() {
    let (_tmp, root) = crate::common::copy_fixture("ingredient101");
    std::fs::create_dir(root.join("ingredients-101")).unwrap();
    std::fs::rename(root.join("Annotations"), root.join("ingredients-101/annotations")).unwrap();
    let (ann, images, ids) = folders(&root);
    assert_eq!((ann.as_str(), images.as_str()), ("ingredients-101/annotations", "images"));
    assert_eq!(ids[0], "images/apple_pie/101.jpg");

    let (ann, images, _) = folders(&fixture("ingredient101"));
    assert_eq!((ann.as_str(), images.as_str()), ("Annotations", "images"));
}

/// Two annotations folders (one at the root, one a level down): an error listing both.
#[test]
fn ingredient101_several_candidates_are_listed() {
    let (_tmp, root) = crate::common::copy_fixture("ingredient101_downloaded");
    std::fs::create_dir(root.join("annotations")).unwrap();
    let err = crate::common::err_text(load_dataset(&format!("ingredient101:{}", root.display())));
    assert!(err.contains("several candidates for the Ingredient-101 annotations folder"), "{err}");
    assert!(err.contains("annotations/, Ingredients101/Annotations/"), "{err}");
}

/// No annotations folder anywhere: the error names every place looked.
#[test]
fn ingredient101_none_names_every_place_looked() {
    let (_tmp, root) = crate::common::copy_fixture("ingredient101_downloaded");
    std::fs::rename(root.join("Ingredients101/Annotations"), root.join("Ingredients101/notes")).unwrap();
    let err = crate::common::err_text(load_dataset(&format!("ingredient101:{}", root.display())));
    assert!(err.contains("missing the Ingredient-101 annotations folder"), "{err}");
    assert!(
        err.contains("looked for annotations/, Ingredients101/annotations/, food-101/annotations/ (any case)"),
        "{err}"
    );
}
