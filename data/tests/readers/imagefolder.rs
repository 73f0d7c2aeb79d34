//! HF imagefolder: split folders with metadata files, and class sub-folders.

use marnet_data::{load_dataset, DatasetKind, Split};

use crate::common::fixture;

#[test]
fn imagefolder_with_metadata_per_split() {
    let root = fixture("imagefolder_meta");
    let ds = load_dataset(&format!("imagefolder:{}", root.display())).unwrap();
    assert_eq!(ds.kind, DatasetKind::ImageFolder);
    assert_eq!(ds.class_names, ["apple", "pear"]);
    // Split folders in name order: test (metadata.jsonl), train, validation (metadata.csv);
    // file_name is relative to the split folder.
    let got: Vec<(&str, u32, Option<&str>, Split)> =
        ds.samples.iter().map(|s| (s.id.as_str(), s.label, s.text.as_deref(), s.split)).collect();
    let expected = vec![
        ("test/e1.png", 0, Some("apple pie"), Split::Test),
        ("test/e2.png", 1, None, Split::Test),
        ("train/t1.png", 0, Some("green apple"), Split::Train),
        ("train/t2.png", 1, Some("ripe pear"), Split::Train),
        ("validation/v1.png", 1, None, Split::Val),
    ];
    assert_eq!(got, expected);
    assert_eq!(ds.samples[2].image_path, root.join("train/t1.png"));
    assert!(ds.missing_files().is_empty());
}

#[test]
fn imagefolder_with_class_subfolders() {
    let root = fixture("imagefolder_classes");
    let ds = load_dataset(&format!("imagefolder:{}", root.display())).unwrap();
    // "Training" and "testing" are split synonyms; labels are the class folder names;
    // Training/dog/notes.txt is not an image.
    assert_eq!(ds.class_names, ["cat", "dog"]);
    let got: Vec<(&str, u32, Option<&str>, Split)> =
        ds.samples.iter().map(|s| (s.id.as_str(), s.label, s.text.as_deref(), s.split)).collect();
    let expected = vec![
        ("Training/cat/c1.png", 0, None, Split::Train),
        ("Training/cat/c2.jpg", 0, None, Split::Train),
        ("Training/dog/d1.png", 1, None, Split::Train),
        ("testing/cat/c3.png", 0, None, Split::Test),
        ("testing/dog/d2.png", 1, None, Split::Test),
    ];
    assert_eq!(got, expected);
    assert_eq!(ds.count(Split::Val), 0);
}

#[test]
fn imagefolder_numeric_class_folders_stay_names() {
    let tmp = tempfile::tempdir().unwrap();
    crate::common::write_tree(tmp.path(), &[("train/3/a.png", b""), ("train/10/b.png", b"")]);
    let ds = load_dataset(&format!("imagefolder:{}", tmp.path().display())).unwrap();
    // string order, as HF sorts folder names: "10" < "3"
    assert_eq!(ds.class_names, ["10", "3"]);
    let labels: Vec<u32> = ds.samples.iter().map(|s| s.label).collect();
    assert_eq!(labels, [0, 1]);
}

#[test]
fn imagefolder_root_metadata_with_split_column_and_folder_labels() {
    // No split folders: the root metadata.csv is read; it has no label column, so the label is
    // the first folder of file_name (HF imagefolder), and its split column is honoured.
    let tmp = tempfile::tempdir().unwrap();
    crate::common::write_tree(
        tmp.path(),
        &[("metadata.csv", b"file_name,text,split\nkiwi/1.png,fuzzy,train\nfig/2.png,,test\nkiwi/3.png,green,dev\n")],
    );
    let ds = load_dataset(&format!("imagefolder:{}", tmp.path().display())).unwrap();
    assert_eq!(ds.class_names, ["fig", "kiwi"]);
    let got: Vec<(&str, u32, Option<&str>, Split)> =
        ds.samples.iter().map(|s| (s.id.as_str(), s.label, s.text.as_deref(), s.split)).collect();
    let expected = vec![
        ("kiwi/1.png", 1, Some("fuzzy"), Split::Train),
        ("fig/2.png", 0, None, Split::Test),
        ("kiwi/3.png", 1, Some("green"), Split::Val),
    ];
    assert_eq!(got, expected);
    assert_eq!(ds.missing_files().len(), 3);
}

#[test]
fn imagefolder_on_a_manifest_folder_points_to_manifest_kind() {
    // The manifest fixture is the demo's layout (manifest.csv + images/): read as imagefolder it
    // would be one class "images"; instead the error names the manifest and the kind to use.
    let root = fixture("manifest");
    let err = crate::common::err_text(load_dataset(&format!("imagefolder:{}", root.display())));
    let file = root.join("manifest.csv");
    for part in [
        "holds the manifest manifest.csv",
        "imagefolder does not read",
        &format!("use --dataset manifest:{}", file.display()),
    ] {
        assert!(err.contains(part), "error {err:?} should contain {part:?}");
    }
    // and the suggestion works: manifest.csv has 4 rows (a, b, c, d.jpg)
    assert_eq!(load_dataset(&format!("manifest:{}", file.display())).unwrap().samples.len(), 4);
}

#[test]
fn imagefolder_root_metadata_beside_split_folders_is_refused() {
    // metadata.csv in the root next to train/: imagefolder would read only train/, so it says so.
    let tmp = tempfile::tempdir().unwrap();
    crate::common::write_tree(
        tmp.path(),
        &[("metadata.csv", b"file_name,label\ntrain/a/1.png,a\n"), ("train/a/1.png", b"")],
    );
    let err = crate::common::err_text(load_dataset(&format!("imagefolder:{}", tmp.path().display())));
    let file = tmp.path().join("metadata.csv");
    assert!(err.contains("holds the manifest metadata.csv"), "{err}");
    assert!(err.contains("inside each split folder"), "{err}");
    assert!(err.contains(&format!("use --dataset manifest:{}", file.display())), "{err}");
}
