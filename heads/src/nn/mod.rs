//! The CPU kernels that make stage two fast, below the paper's modules: the heads' Linear layer
//! as one custom op with a fused bias/activation ([`linear`], [`activation`]), the rayon pool the
//! maths runs on ([`math_pool`]), seeded host random numbers and dropout ([`rng`]), named
//! parameter creation ([`params`]) and the precision of the Linear products ([`precision`]). The optimiser is [`crate::optim`].
//!
//! Nothing here knows about MARNet: these modules depend only on candle and `marnet_data`'s fast
//! maths, and [`crate::model`] builds on them.

pub mod activation;
pub mod linear;
pub mod math_pool;
pub mod params;
pub mod precision;
pub mod rng;
