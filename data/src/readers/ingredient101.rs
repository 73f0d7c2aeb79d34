//! `ingredient101:DIR`: Ingredient-101 on top of Food-101 (DESIGN.md §4).
//!
//! Layout: an `images/<class>/<id>.jpg` folder and an `annotations` folder (ASCII case ignored),
//! each directly under the root or one level down, as unpacking the two downloads side by side
//! gives: `food-101/images/...` next to `Ingredients101/Annotations/...`. Several candidates are
//! an error listing them; none, an error naming every place looked. The annotations folder holds
//! `{train,val,test}_images.txt` (`<class>/<id>`, no `.jpg`), `{train,val,test}_labels.txt`
//! (0-based class index, aligned line by line with the images file), `classes.txt` and
//! `ingredients.txt` (line i = the comma-separated ingredients of class i; empty items dropped).
//! Text = that class's ingredients joined by `", "`. Sizes are counted, never assumed; `val`
//! files may be absent. Sample ids are image paths relative to the root
//! (`food-101/images/apple_pie/101.jpg`); `inspect` reports both folders.

use std::path::Path;

use anyhow::Context;

use super::files::{find_child_ci, is_named_ci, rel_id, require_child_ci, sorted_subdirs};
use super::labels::read_class_list;
use super::lines::{read_lines, read_nonblank_lines};
use super::record::{normalize_rel_path, Origin, RawRecord};
use super::unique::UniqueIds;
use crate::{Dataset, DatasetKind, Split};

/// Loads Ingredient-101 rooted at `root`.
///
/// # Errors
/// No or several annotations or images folders (the places looked or the candidates listed), a
/// missing list file, images and labels files of different lengths, a label that is not an
/// integer or is outside `0..K` (file and line named).
pub fn load(root: &Path) -> anyhow::Result<Dataset> {
    let ann = locate_folder(root, "annotations", "the Ingredient-101 annotations folder")?;
    let images = locate_folder(root, "images", "the Food-101 images folder")?;
    let classes_path = require_child_ci(&ann, "classes.txt", "class names")?;
    let class_names = read_class_list(&classes_path)?;
    let k = class_names.len();
    let ingredients_path = require_child_ci(&ann, "ingredients.txt", "ingredients per class")?;
    let ingredient_lines = read_lines(&ingredients_path)?;
    anyhow::ensure!(
        ingredient_lines.len() == k,
        "{}: {} lines, but {} lists {k} classes (line i must hold the ingredients of class i)",
        ingredients_path.display(),
        ingredient_lines.len(),
        classes_path.display()
    );
    let texts: Vec<Option<String>> = ingredient_lines.iter().map(|l| ingredient_text(&l.text)).collect();
    let images_rel = rel_id(root, &images);

    let mut samples = Vec::new();
    let mut ids = UniqueIds::default();
    for split in Split::ALL {
        let name = split.as_str();
        let Some(images_file) = find_child_ci(&ann, &format!("{name}_images.txt")) else {
            anyhow::ensure!(split == Split::Val, "missing {name}_images.txt in {}", ann.display());
            continue;
        };
        let labels_file = require_child_ci(&ann, &format!("{name}_labels.txt"), "labels aligned with the images file")?;
        let image_lines = read_nonblank_lines(&images_file)?;
        let label_lines = read_nonblank_lines(&labels_file)?;
        anyhow::ensure!(
            image_lines.len() == label_lines.len(),
            "{} has {} entries but {} has {} (they must align line by line)",
            images_file.display(),
            image_lines.len(),
            labels_file.display(),
            label_lines.len()
        );
        for (image, label) in image_lines.iter().zip(&label_lines) {
            let label_origin = Origin::line(&labels_file, label.number);
            let index: i64 = label.text.parse().with_context(|| {
                format!("{label_origin}: malformed line {:?}: expected a 0-based class index", label.text)
            })?;
            anyhow::ensure!(
                (0..k as i64).contains(&index),
                "{label_origin}: label {index} out of range: expected 0..={} ({k} classes in classes.txt)",
                k as i64 - 1
            );
            let mut rel = normalize_rel_path(&image.text);
            anyhow::ensure!(
                !rel.is_empty() && !rel.contains(char::is_whitespace),
                "{}: malformed line {:?}: expected <class>/<id>",
                Origin::line(&images_file, image.number),
                image.text
            );
            if !super::files::is_image_file(Path::new(&rel)) {
                rel.push_str(".jpg");
            }
            let record = RawRecord {
                rel_path: format!("{images_rel}/{rel}"),
                text: texts[index as usize].clone(),
                label: index.to_string(),
                split,
                origin: Origin::line(&images_file, image.number),
                image: None,
            };
            ids.insert(&record.rel_path, &record.origin)?;
            samples.push(record.into_sample(root, index as u32));
        }
    }
    Ok(Dataset::new(DatasetKind::Ingredient101, root.to_path_buf(), class_names, samples)
        .with_folder("annotations", rel_id(root, &ann))
        .with_folder("images", images_rel))
}

/// The one folder called `name` (ASCII case ignored) directly under `root` or in one of its
/// sub-folders.
///
/// # Errors
/// None (every place looked is named) or several (all are listed).
fn locate_folder(root: &Path, name: &str, what: &str) -> anyhow::Result<std::path::PathBuf> {
    let (mut found, subdirs): (Vec<_>, Vec<_>) = sorted_subdirs(root)?.into_iter().partition(|d| is_named_ci(d, name));
    for dir in &subdirs {
        found.extend(sorted_subdirs(dir)?.into_iter().filter(|d| is_named_ci(d, name)));
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => {
            const SHOWN: usize = 12;
            let mut places: Vec<String> = std::iter::once(format!("{name}/"))
                .chain(subdirs.iter().map(|d| format!("{}/{name}/", rel_id(root, d))))
                .collect();
            if places.len() > SHOWN {
                let more = places.len() - SHOWN;
                places.truncate(SHOWN);
                places.push(format!("and {more} more sub-folders"));
            }
            anyhow::bail!("missing {what} in {}: looked for {} (any case)", root.display(), places.join(", "))
        }
        _ => anyhow::bail!(
            "several candidates for {what} in {}: {}; keep one (or point at a root that holds one)",
            root.display(),
            found.iter().map(|d| format!("{}/", rel_id(root, d))).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Comma-separated ingredients, blanks and empty items dropped, joined by `", "`.
fn ingredient_text(line: &str) -> Option<String> {
    let items: Vec<&str> = line.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    (!items.is_empty()).then(|| items.join(", "))
}
