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
