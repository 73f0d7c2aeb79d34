//! `vireo172:DIR`: VireoFood-172 as distributed (DESIGN.md §4).
//!
//! Layout: `ready_chinese_food/<1..172>/<file>.jpg` and `SplitAndIngreLabel/` holding
//! `TR.txt`, `VAL.txt`, `TE.txt` (one image path per line with a leading `/`),
//! `IngreLabel.txt` (`<path>` then one value per ingredient, `1` present / `-1` absent, split on
//! any whitespace), `IngredientList.txt` (ingredient names) and `FoodList.txt` (class names,
//! stray `;` trimmed). Files have CRLF endings; names are matched ignoring ASCII case and the
//! lists are also looked for in the root. Label = first folder − 1. Text = the present
//! ingredient names joined by `", "`; a path absent from `IngreLabel.txt` or with no ingredient
//! has no text. The ingredient count is taken from `IngredientList.txt` (353 in the real data).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::files::{find_child_ci, require_child_ci};
use super::lines::{read_lines, read_nonblank_lines};
use super::record::{Origin, RawRecord};
use super::unique::UniqueIds;
use crate::{Dataset, DatasetKind, Split};

/// The split files and their splits; `VAL.txt` may be absent.
const SPLIT_FILES: [(&str, Split, bool); 3] =
    [("TR.txt", Split::Train, true), ("VAL.txt", Split::Val, false), ("TE.txt", Split::Test, true)];

/// Loads VireoFood-172 rooted at `root`.
///
/// # Errors
/// A missing list file, a malformed line, a line of `IngreLabel.txt` whose value count differs
/// from the number of ingredients, or a class folder outside `1..=K` (file and line named).
pub fn load(root: &Path) -> anyhow::Result<Dataset> {
    let meta = find_child_ci(root, "SplitAndIngreLabel").unwrap_or_else(|| root.to_path_buf());
    let list = |name: &str, what: &str| -> anyhow::Result<PathBuf> {
        find_child_ci(&meta, name).map_or_else(|| require_child_ci(root, name, what), Ok)
    };
    let class_names = read_names(&list("FoodList.txt", "172 class names")?)?;
    let ingredients = read_names(&list("IngredientList.txt", "353 ingredient names")?)?;
    let presence = read_ingre_label(&list("IngreLabel.txt", "ingredient labels")?, ingredients.len())?;
    let images = find_child_ci(root, "ready_chinese_food").unwrap_or_else(|| root.join("ready_chinese_food"));
    let images_rel = images.file_name().map_or("ready_chinese_food".into(), |n| n.to_string_lossy().into_owned());

    let mut samples = Vec::new();
    let mut ids = UniqueIds::default();
    for (name, split, required) in SPLIT_FILES {
        let path = match find_child_ci(&meta, name).or_else(|| find_child_ci(root, name)) {
            Some(p) => p,
            None if required => anyhow::bail!("missing {name} (split list) in {}", meta.display()),
            None => continue,
        };
        for line in read_nonblank_lines(&path)? {
            let origin = Origin::line(&path, line.number);
            let rel = parse_split_line(&line.text, class_names.len(), &origin)?;
            let text = presence.get(rel.path.as_str()).and_then(|present| {
                let names: Vec<&str> =
                    ingredients.iter().zip(present).filter(|(_, p)| **p).map(|(n, _)| n.as_str()).collect();
                (!names.is_empty()).then(|| names.join(", "))
            });
            let record = RawRecord {
                rel_path: format!("{images_rel}/{}", rel.path),
                text,
                label: rel.label.to_string(),
                split,
                origin,
                image: None,
            };
            ids.insert(&record.rel_path, &record.origin)?;
            samples.push(record.into_sample(root, rel.label));
        }
    }
    Ok(Dataset::new(DatasetKind::Vireo172, root.to_path_buf(), class_names, samples))
}

/// A split-file entry: the path under `ready_chinese_food/` and the 0-based label.
struct SplitEntry {
    path: String,
    label: u32,
}

/// Parses `/<class 1..=K>/<file>` (leading `/` optional).
fn parse_split_line(text: &str, k: usize, origin: &Origin) -> anyhow::Result<SplitEntry> {
    let mut tokens = text.split_whitespace();
    let raw = tokens.next().unwrap_or_default();
    anyhow::ensure!(
        tokens.next().is_none(),
        "{origin}: malformed line {text:?}: expected one path /<class>/<file>.jpg"
    );
    let path = raw.trim_start_matches('/').to_string();
    let (folder, file) = path
        .split_once('/')
        .with_context(|| format!("{origin}: malformed line {text:?}: expected /<class>/<file>.jpg"))?;
    anyhow::ensure!(!file.is_empty(), "{origin}: malformed line {text:?}: no file name");
    let class: i64 = folder.parse().with_context(|| {
        format!("{origin}: malformed line {text:?}: the first folder must be the class number 1..={k}")
    })?;
    anyhow::ensure!(
        (1..=k as i64).contains(&class),
        "{origin}: label out of range: class folder {class} not in 1..={k} (FoodList.txt has {k} classes)"
    );
    Ok(SplitEntry { path: path.clone(), label: (class - 1) as u32 })
}

/// Non-blank lines with stray `;` and blanks trimmed (FoodList.txt, IngredientList.txt).
fn read_names(path: &Path) -> anyhow::Result<Vec<String>> {
    Ok(read_nonblank_lines(path)?
        .into_iter()
        .map(|l| l.text.trim_matches(|c: char| c == ';' || c.is_whitespace()).to_string())
        .collect())
}

/// `IngreLabel.txt`: path (leading `/` stripped) → presence of each ingredient.
fn read_ingre_label(path: &Path, n_ingredients: usize) -> anyhow::Result<HashMap<String, Vec<bool>>> {
    let mut map = HashMap::new();
    for line in read_lines(path)?.into_iter().filter(|l| !l.text.is_empty()) {
        let origin = Origin::line(path, line.number);
        let mut tokens = line.text.split_whitespace();
        let image = tokens.next().unwrap_or_default().trim_start_matches('/').to_string();
        let values: Vec<&str> = tokens.collect();
        anyhow::ensure!(
            values.len() == n_ingredients,
            "{origin}: expected {n_ingredients} ingredient values (IngredientList.txt has \
             {n_ingredients} names), found {}",
            values.len()
        );
        let present = values
            .iter()
            .enumerate()
            .map(|(i, v)| match *v {
                "1" => Ok(true),
                "-1" => Ok(false),
                other => anyhow::bail!("{origin}: value {} is {other:?}: expected 1 or -1", i + 1),
            })
            .collect::<anyhow::Result<Vec<bool>>>()?;
        map.insert(image, present);
    }
    Ok(map)
}
