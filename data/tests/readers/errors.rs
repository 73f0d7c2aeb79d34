//! Bad input: the error names the file and the 1-based line number.

use marnet_data::load_dataset;

use crate::common::{copy_fixture, err_text, write_tree};

fn assert_names(err: &str, parts: &[&str]) {
    for p in parts {
        assert!(err.contains(p), "error {err:?} should contain {p:?}");
    }
}

#[test]
fn vireo172_malformed_split_line() {
    let (_tmp, root) = copy_fixture("vireo172");
    write_tree(&root, &[("SplitAndIngreLabel/TR.txt", b"/1/1_1.jpg\r\n/soup/1_1.jpg\r\n")]);
    let err = err_text(load_dataset(&format!("vireo172:{}", root.display())));
    assert_names(&err, &["TR.txt line 2", "malformed line", "/soup/1_1.jpg"]);
}

#[test]
fn vireo172_wrong_ingredient_count() {
    let (_tmp, root) = copy_fixture("vireo172");
    // line 3 has 4 values; IngredientList.txt has 5 names
    let text = b"/1/1_1.jpg 1 -1 -1 -1 1\r\n/1/1_2.jpg 1 -1 -1 1 -1\r\n/2/2_1.jpg -1 1 -1 1\r\n";
    write_tree(&root, &[("SplitAndIngreLabel/IngreLabel.txt", text)]);
    let err = err_text(load_dataset(&format!("vireo172:{}", root.display())));
    assert_names(&err, &["IngreLabel.txt line 3", "expected 5 ingredient values", "found 4"]);
}

#[test]
fn vireo172_bad_ingredient_value() {
    let (_tmp, root) = copy_fixture("vireo172");
    write_tree(&root, &[("SplitAndIngreLabel/IngreLabel.txt", b"/1/1_1.jpg 1 -1 0 -1 1\r\n")]);
    let err = err_text(load_dataset(&format!("vireo172:{}", root.display())));
    assert_names(&err, &["IngreLabel.txt line 1", "value 3", "expected 1 or -1"]);
}

#[test]
fn vireo172_class_folder_out_of_range() {
    let (_tmp, root) = copy_fixture("vireo172");
    // FoodList.txt has 3 classes: folder 4 (label 3) and folder 0 (label -1) are out of range
    write_tree(&root, &[("SplitAndIngreLabel/TE.txt", b"/2/2_2.jpg\r\n/4/4_1.jpg\r\n")]);
    let err = err_text(load_dataset(&format!("vireo172:{}", root.display())));
    assert_names(&err, &["TE.txt line 2", "out of range", "1..=3"]);
    write_tree(&root, &[("SplitAndIngreLabel/TE.txt", b"/0/0_1.jpg\r\n")]);
    let err = err_text(load_dataset(&format!("vireo172:{}", root.display())));
    assert_names(&err, &["TE.txt line 1", "out of range"]);
}

#[test]
fn ingredient101_label_out_of_range_and_malformed() {
    let (_tmp, root) = copy_fixture("ingredient101");
    write_tree(&root, &[("Annotations/test_labels.txt", b"1\r\n2\r\n")]);
    let err = err_text(load_dataset(&format!("ingredient101:{}", root.display())));
    assert_names(&err, &["test_labels.txt line 2", "label 2 out of range", "0..=1"]);
    write_tree(&root, &[("Annotations/test_labels.txt", b"1\r\nbibimbap\r\n")]);
    let err = err_text(load_dataset(&format!("ingredient101:{}", root.display())));
    assert_names(&err, &["test_labels.txt line 2", "malformed line"]);
}

#[test]
fn ingredient101_misaligned_files() {
    let (_tmp, root) = copy_fixture("ingredient101");
    write_tree(&root, &[("Annotations/train_labels.txt", b"0\r\n")]);
    let err = err_text(load_dataset(&format!("ingredient101:{}", root.display())));
    assert_names(&err, &["train_images.txt has 2 entries", "train_labels.txt has 1"]);
}

#[test]
fn ingredient101_ingredients_count_must_match_classes() {
    let (_tmp, root) = copy_fixture("ingredient101");
    write_tree(&root, &[("Annotations/ingredients.txt", b"flour\r\n")]);
    let err = err_text(load_dataset(&format!("ingredient101:{}", root.display())));
    assert_names(&err, &["ingredients.txt", "1 lines", "2 classes"]);
}

#[test]
fn csv_manifest_malformed_line() {
    let tmp = tempfile::tempdir().unwrap();
    write_tree(tmp.path(), &[("m.csv", b"file_name,text,label\na.jpg,x,0\nb.jpg,y\n")]);
    let err = err_text(load_dataset(&format!("manifest:{}", tmp.path().join("m.csv").display())));
    assert_names(&err, &["m.csv line 3", "malformed row"]);
}

#[test]
fn manifest_label_out_of_range_with_classes_txt() {
    let tmp = tempfile::tempdir().unwrap();
    write_tree(
        tmp.path(),
        &[("classes.txt", b"cat\ndog\n"), ("metadata.tsv", b"file_name\tlabel\na.jpg\tdog\nb.jpg\t5\n")],
    );
    let err = err_text(load_dataset(&format!("manifest:{}", tmp.path().display())));
    assert_names(&err, &["metadata.tsv line 3", "label 5 out of range", "0..=1"]);
}

#[test]
fn manifest_negative_label_unknown_split_and_bad_json() {
    let tmp = tempfile::tempdir().unwrap();
    write_tree(tmp.path(), &[("a.csv", b"file_name,label\na.jpg,1\nb.jpg,-1\n")]);
    let err = err_text(load_dataset(&format!("manifest:{}", tmp.path().join("a.csv").display())));
    assert_names(&err, &["a.csv line 3", "label -1 out of range"]);

    write_tree(tmp.path(), &[("b.csv", b"file_name,label,split\na.jpg,cat,holdout\n")]);
    let err = err_text(load_dataset(&format!("manifest:{}", tmp.path().join("b.csv").display())));
    assert_names(&err, &["b.csv line 2", "unknown split \"holdout\""]);

    write_tree(tmp.path(), &[("c.jsonl", b"{\"file_name\": \"a.jpg\", \"label\": 0}\n{\"file_name\": \"b.jpg\",\n")]);
    let err = err_text(load_dataset(&format!("manifest:{}", tmp.path().join("c.jsonl").display())));
    assert_names(&err, &["c.jsonl line 2", "malformed JSON"]);

    write_tree(tmp.path(), &[("d.csv", b"file_name,text\na.jpg,x\n")]);
    let err = err_text(load_dataset(&format!("manifest:{}", tmp.path().join("d.csv").display())));
    assert_names(&err, &["d.csv", "no \"label\" column"]);
}
