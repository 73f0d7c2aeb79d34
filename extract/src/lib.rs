//! Stage one of marnet (MARNet, Zheng et al., ICANN 2024): frozen image (ViT family) and text
//! (BERT family) encoders run with candle, writing per-sample embeddings `x_v`, `x_s` to the
//! Parquet feature cache of DESIGN.md section 3.

pub mod cli;
pub mod pipeline;

// --- encoders (owner: encoders) ---
pub mod device;
pub mod encoders;
pub mod image_io;
pub mod kernels;
pub mod model_config;
pub mod preprocess;
pub mod tokenize;
pub mod weights;

pub use device::{parse_dtype, select_device};
pub use encoders::{load_image_model, load_text_model, ImageEncoder, ImageModel, ModelInfo, Pooling, TextModel};
pub use image_io::decode_rgb;
pub use preprocess::Preprocessor;
pub use weights::{resolve_model, ModelFiles};
// --- end encoders ---
