//! Every reader refuses a repeated sample id (naming both places) and warns when integer
//! labels leave classes without a sample (1-based numbering), also in `inspect`.

use crate::common::{copy_fixture, write_tree};

fn err_text<T: std::fmt::Debug>(r: anyhow::Result<T>) -> String {
    format!("{:#}", r.unwrap_err())
}

#[test]
fn manifest_listing_an_image_twice_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let csv =
        "file_name,text,label,split\nimg/red0.png,,red,train\nimg/blue0.png,,blue,train\nimg/red0.png,,blue,val\n";
    write_tree(dir.path(), &[("m.csv", csv.as_bytes())]);
    let err = err_text(marnet_data::load_dataset(&format!("manifest:{}", dir.path().join("m.csv").display())));
    // Header = line 1, so the rows are lines 2, 3, 4.
    assert!(err.contains("m.csv line 4: sample id \"img/red0.png\" repeats") && err.contains("m.csv line 2"), "{err}");
}

#[test]
fn vireo172_listing_an_image_in_two_splits_is_refused() {
    let (_tmp, root) = copy_fixture("vireo172");
    let te = root.join("SplitAndIngreLabel/TE.txt");
    let tr = std::fs::read_to_string(root.join("SplitAndIngreLabel/TR.txt")).unwrap();
    let first = tr.lines().next().unwrap().to_string();
    let mut text = std::fs::read_to_string(&te).unwrap();
    text.push_str(&format!("{first}\r\n"));
    std::fs::write(&te, text).unwrap();
    let err = err_text(marnet_data::load_dataset(&format!("vireo172:{}", root.display())));
    assert!(err.contains("TE.txt line") && err.contains("TR.txt line 1") && err.contains("repeats"), "{err}");
}

#[test]
fn one_based_labels_warn_naming_the_empty_classes() {
    let dir = tempfile::tempdir().unwrap();
    let csv = "file_name,label\na.png,1\nb.png,2\nc.png,10\n";
    write_tree(dir.path(), &[("m.csv", csv.as_bytes())]);
    let spec = format!("manifest:{}", dir.path().join("m.csv").display());
    let ds = marnet_data::load_dataset(&spec).unwrap();
    // K = max + 1 = 11; labels used 1, 2, 10: classes 0 and 3..=9 are empty.
    assert_eq!(ds.class_names.len(), 11);
    assert_eq!(ds.warnings.len(), 1);
    assert!(
        ds.warnings[0].starts_with("labels run 1..10: classes 0, 3, 4, 5, 6, 7, 8, 9 have no sample"),
        "{:?}",
        ds.warnings
    );
    let json = serde_json::to_value(marnet_data::inspect(&spec).unwrap()).unwrap();
    assert_eq!(json["warnings"][0].as_str(), Some(ds.warnings[0].as_str()));

    let csv = "file_name,label\na.png,1\nb.png,2\nc.png,3\n";
    write_tree(dir.path(), &[("m.csv", csv.as_bytes())]);
    let ds = marnet_data::load_dataset(&spec).unwrap();
    assert!(ds.warnings[0].starts_with("labels run 1..3: class 0 has no sample"), "{:?}", ds.warnings);

    // 0-based and dense: no warning, and `inspect` has no "warnings" key.
    let csv = "file_name,label\na.png,0\nb.png,1\n";
    write_tree(dir.path(), &[("m.csv", csv.as_bytes())]);
    assert!(marnet_data::load_dataset(&spec).unwrap().warnings.is_empty());
    let json = serde_json::to_value(marnet_data::inspect(&spec).unwrap()).unwrap();
    assert!(json.get("warnings").is_none(), "{json}");
}
