//! VireoFood-172 layout: CRLF, leading `/`, stray `;`, IngreLabel tabs/double spaces.

use marnet_data::{load_dataset, DatasetKind, Split};

use crate::common::fixture;

#[test]
fn vireo172_fixture_reads_labels_texts_and_splits() {
    let root = fixture("vireo172");
    let ds = load_dataset(&format!("vireo172:{}", root.display())).unwrap();
    assert_eq!(ds.kind, DatasetKind::Vireo172);
    assert_eq!(ds.name, "vireo172");
    // FoodList.txt: "Braised pork;", "Mapo tofu", "Fried rice ;" -> stray ';' and blanks trimmed.
    assert_eq!(ds.class_names, ["Braised pork", "Mapo tofu", "Fried rice"]);
    // TR.txt (3), VAL.txt (1), TE.txt (3) in file order; label = folder - 1; text = present
    // ingredients of IngredientList.txt (pork, tofu, rice, egg, scallion) joined by ", ".
    let got: Vec<(&str, u32, Option<&str>, Split)> =
        ds.samples.iter().map(|s| (s.id.as_str(), s.label, s.text.as_deref(), s.split)).collect();
    let expected: Vec<(&str, u32, Option<&str>, Split)> = vec![
        ("ready_chinese_food/1/1_1.jpg", 0, Some("pork, scallion"), Split::Train),
        ("ready_chinese_food/2/2_1.jpg", 1, Some("tofu, scallion"), Split::Train),
        ("ready_chinese_food/3/3_1.jpg", 2, Some("rice, egg, scallion"), Split::Train),
        ("ready_chinese_food/1/1_2.jpg", 0, Some("pork, egg"), Split::Val),
        ("ready_chinese_food/2/2_2.jpg", 1, Some("tofu"), Split::Test),
        // all -1: no ingredient, no text
        ("ready_chinese_food/3/3_2.jpg", 2, None, Split::Test),
        // not in IngreLabel.txt and not on disk
        ("ready_chinese_food/3/3_9.jpg", 2, None, Split::Test),
    ];
    assert_eq!(got, expected);
    assert_eq!(ds.samples[0].image_path, root.join("ready_chinese_food/1/1_1.jpg"));
    assert_eq!((ds.count(Split::Train), ds.count(Split::Val), ds.count(Split::Test)), (3, 1, 3));
    assert_eq!(ds.missing_files(), vec![root.join("ready_chinese_food/3/3_9.jpg")]);
}
