//! Manifests and folders as people have them: a manifest saved by Excel (UTF-8 BOM,
//! CRLF, `;` separator), Windows and `./` paths, file names with spaces and non-ASCII characters
//! in NFC and NFD, upper-case extensions, and a manifest that is not UTF-8.

use marnet_data::{load_dataset, Split};

use crate::common::{err_text, write_tree};

type Row = (String, u32, Option<String>, Split);

fn rows(ds: &marnet_data::Dataset) -> Vec<Row> {
    ds.samples.iter().map(|s| (s.id.clone(), s.label, s.text.clone(), s.split)).collect()
}

fn row(id: &str, label: u32, text: Option<&str>, split: Split) -> Row {
    (id.to_string(), label, text.map(str::to_string), split)
}

/// Excel's "CSV UTF-8" in a locale with a decimal comma: BOM, CRLF, `;` between fields, a `;`
/// inside a quoted text, a comma inside an unquoted one.
#[test]
fn excel_manifest_with_bom_crlf_and_semicolons() {
    let dir = tempfile::tempdir().unwrap();
    let csv = "\u{feff}file_name;text;label;split\r\n\
               img/a.jpg;soup, hot;soup;train\r\n\
               img/b.jpg;\"bread; dark\";bread;test\r\n\
               img/c.jpg;;soup;val\r\n";
    write_tree(
        dir.path(),
        &[("manifest.csv", csv.as_bytes()), ("img/a.jpg", b""), ("img/b.jpg", b""), ("img/c.jpg", b"")],
    );
    let ds = load_dataset(&format!("manifest:{}", dir.path().join("manifest.csv").display())).unwrap();
    // labels soup, bread, soup -> sorted classes bread = 0, soup = 1
    assert_eq!(ds.class_names, ["bread", "soup"]);
    let expected = vec![
        row("img/a.jpg", 1, Some("soup, hot"), Split::Train),
        row("img/b.jpg", 0, Some("bread; dark"), Split::Test),
        row("img/c.jpg", 1, None, Split::Val),
    ];
    assert_eq!(rows(&ds), expected);
    assert!(ds.missing_files().is_empty());
    // Errors on CRLF files name the right line: the unknown split is on line 3.
    let bad = csv.replace("bread;test", "bread;tset");
    write_tree(dir.path(), &[("manifest.csv", bad.as_bytes())]);
    let err = err_text(load_dataset(&format!("manifest:{}", dir.path().join("manifest.csv").display())));
    assert!(err.contains("manifest.csv line 3"), "{err}");
}

/// `./`, `\` and `.\` paths (a manifest written on Windows) point at the same files.
#[test]
fn windows_and_dot_slash_paths() {
    let dir = tempfile::tempdir().unwrap();
    let csv = "file_name,label\r\n./img/a.jpg,x\r\nimg\\b.jpg,x\r\n.\\img\\sub\\c.jpg,y\r\n";
    write_tree(
        dir.path(),
        &[("m.csv", csv.as_bytes()), ("img/a.jpg", b""), ("img/b.jpg", b""), ("img/sub/c.jpg", b"")],
    );
    let ds = load_dataset(&format!("manifest:{}", dir.path().join("m.csv").display())).unwrap();
    let ids: Vec<&str> = ds.samples.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["img/a.jpg", "img/b.jpg", "img/sub/c.jpg"]);
    assert!(ds.missing_files().is_empty());
}

/// "crème brûlée" typed in the manifest in NFC (one code point per accented letter) while the
/// file on disk is named in NFD (letter + combining accent, as macOS writes), and the reverse;
/// spaces in names. Both rows find their file; ids keep the manifest's spelling.
#[test]
fn non_ascii_names_in_nfc_and_nfd_find_their_files() {
    let nfc = "cr\u{e8}me br\u{fb}l\u{e9}e.jpg";
    let nfd = "cre\u{300}me bru\u{302}le\u{301}e.jpg";
    assert_ne!(nfc, nfd);
    let dir = tempfile::tempdir().unwrap();
    let csv = format!("file_name,label\nNFD on disk/{nfc},a\nNFC on disk/{nfd},b\nplain/{nfc},a\n");
    let on_disk_nfd = format!("NFD on disk/{nfd}");
    let on_disk_nfc = format!("NFC on disk/{nfc}");
    let plain = format!("plain/{nfc}");
    write_tree(dir.path(), &[("m.csv", csv.as_bytes()), (&on_disk_nfd, b""), (&on_disk_nfc, b""), (&plain, b"")]);
    let ds = load_dataset(&format!("manifest:{}", dir.path().join("m.csv").display())).unwrap();
    assert!(ds.missing_files().is_empty(), "{:?}", ds.missing_files());
    assert_eq!(ds.samples[0].id, format!("NFD on disk/{nfc}"));
    assert_eq!(ds.samples[0].image_path, dir.path().join(&on_disk_nfd));
    assert_eq!(ds.samples[1].image_path, dir.path().join(&on_disk_nfc));
}

/// Class folders with upper- and mixed-case extensions (cameras write `.JPG`); other files are
/// not images.
#[test]
fn imagefolder_upper_case_extensions() {
    let dir = tempfile::tempdir().unwrap();
    write_tree(
        dir.path(),
        &[
            ("train/apple/IMG_0001.JPG", b""),
            ("train/apple/b.Jpeg", b""),
            ("train/pear/c.PNG", b""),
            ("train/pear/d.WEBP", b""),
            ("train/pear/e.GIF", b""),
            ("train/pear/notes.TXT", b""),
        ],
    );
    let ds = load_dataset(&format!("imagefolder:{}", dir.path().display())).unwrap();
    let ids: Vec<&str> = ds.samples.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        ids,
        ["train/apple/IMG_0001.JPG", "train/apple/b.Jpeg", "train/pear/c.PNG", "train/pear/d.WEBP", "train/pear/e.GIF"]
    );
    assert_eq!(ds.class_names, ["apple", "pear"]);
}

/// Excel's plain "CSV" is Windows-1252, not UTF-8: an error naming the file and line, and what
/// to do.
#[test]
fn non_utf8_manifest_is_named() {
    let dir = tempfile::tempdir().unwrap();
    // "crème" in Windows-1252: 0xE8 alone is not UTF-8.
    write_tree(dir.path(), &[("m.csv", b"file_name;text;label\r\na.jpg;cr\xe8me;x\r\n")]);
    let err = err_text(load_dataset(&format!("manifest:{}", dir.path().join("m.csv").display())));
    assert!(err.contains("m.csv line 2") && err.contains("not UTF-8") && !err.contains('\n'), "{err}");
}
