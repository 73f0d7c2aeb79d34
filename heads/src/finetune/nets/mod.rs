//! Trainable transformer encoders with the HF tensor names of `marnet_extract`'s frozen ones.
//!
//! Why these are not the extraction encoders: one definition would have to be
//! both differentiable and as fast as extraction needs, and the two sides want different kernels.
//! - Extraction runs candle-transformers' `vit`/`bert` models (a well-kept library, parity-tested
//!   against transformers) and, for CLIP on the CPU in f32, fused host kernels with no autograd at
//!   all (`marnet_extract::encoders::host_clip`, 1.1-1.2x PyTorch). candle-nn's fused LayerNorm
//!   and softmax record no backward pass (see [`layers`]), so gradients would stop inside them.
//! - These nets use plain differentiable tensor ops (LayerNorm and softmax in f32); using them for
//!   extraction would slow CLIP down and move `x_v` away from the transformers goldens.
//!
//! What one definition does serve both: the configs and their HF defaults
//! (`marnet_extract::model_config`), pooling (`marnet_extract::encoders::pooling`), the
//! `ImageEncoder` trait, preprocessing and the weight names; the three nets here share their
//! blocks ([`layers`]). `heads/tests/finetune_nets.rs` checks each against its extraction
//! encoder (within 1e-5) so the two stay the same maths.

pub mod bert;
pub mod clip;
pub mod layers;
pub mod vit;
