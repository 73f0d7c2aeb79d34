//! The dataset flags shared by `marnet-extract run` and `inspect`: column choices of
//! `hf:PATH` and JSON keys of `webdataset:SHARDS` (docs/datasets-hf-webdataset.md).

use clap::Args;
use marnet_data::DatasetOptions;

/// Which columns or keys hold the image, label and text (default: found automatically).
#[derive(Debug, Clone, Default, Args)]
pub struct DatasetFlags {
    /// hf: the image column (an Image struct {bytes, path}, binary bytes, or paths relative to
    /// the dataset folder). Default: the Image feature, else image, img, jpg, jpeg, png, webp.
    #[arg(long)]
    pub image_column: Option<String>,
    /// hf: the label column (ClassLabel, integers or strings). Default: the ClassLabel feature,
    /// else label, labels, cls, class, fine_label.
    #[arg(long)]
    pub label_column: Option<String>,
    /// hf: the text column (a string, or a list of strings joined with ", "). Default: text,
    /// txt, caption or sentence if present; none = no x_s.
    #[arg(long)]
    pub text_column: Option<String>,
    /// webdataset: read the label from this key of KEY.json instead of KEY.cls.
    #[arg(long)]
    pub label_key: Option<String>,
    /// webdataset: read the text from this key of KEY.json (a string or a list of strings)
    /// instead of KEY.txt.
    #[arg(long)]
    pub text_key: Option<String>,
}

impl DatasetFlags {
    /// The reader options these flags stand for.
    pub fn options(&self) -> DatasetOptions {
        DatasetOptions {
            image_column: self.image_column.clone(),
            label_column: self.label_column.clone(),
            text_column: self.text_column.clone(),
            label_key: self.label_key.clone(),
            text_key: self.text_key.clone(),
        }
    }
}
