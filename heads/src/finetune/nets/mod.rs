//! Trainable transformer encoders with the HF tensor names of `marnet_extract`'s frozen ones
//! (whose candle-nn LayerNorm and softmax have no backward pass, see [`layers`]).

pub mod bert;
pub mod clip;
pub mod layers;
pub mod vit;
