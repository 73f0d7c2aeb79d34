//! Parameter groups (PyTorch's `AdamW(param_groups)`): a learning rate and a weight decay per
//! group, and the rule training uses to keep biases, gains and `logit_scale` out of the decay.

use anyhow::Result;
use candle_core::Var;

use super::{AdamW, NamedParam};

/// Learning rate and weight decay of one parameter group.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParamGroup {
    /// Peak learning rate (a schedule scales it at every step, [`AdamW::set_learning_rates`]).
    pub lr: f64,
    /// Decoupled weight decay λ.
    pub weight_decay: f64,
}

/// Whether AdamW's weight decay applies to the parameter `name` of rank `rank` when the config
/// key `weight_decay_all` is false (the default). The CLIP / open_clip convention
/// (`exclude = p.ndim < 2 or "bn"/"ln"/"bias"/"logit_scale" in name`): no decay on biases,
/// LayerNorm gains, `logit_scale` or any parameter with fewer than two dimensions.
pub fn decays_by_default(name: &str, rank: usize) -> bool {
    let leaf = name.rsplit('.').next().unwrap_or(name);
    !(rank < 2 || leaf == "bias" || leaf == "logit_scale" || name.contains("norm") || name.contains(".ln"))
}

impl AdamW {
    /// AdamW over `vars` (`(name, variable)`) at learning rate `lr` in two decay groups: group 0
    /// decays by `weight_decay`, group 1 (biases, gains, `logit_scale`, 1-d parameters; see
    /// [`decays_by_default`]) does not; with `decay_all` every parameter is in group 0.
    ///
    /// # Errors
    /// A name given twice; candle errors allocating the moments.
    pub fn with_decay_groups(vars: &[(String, Var)], lr: f64, weight_decay: f64, decay_all: bool) -> Result<Self> {
        let params = vars
            .iter()
            .map(|(name, var)| NamedParam {
                name: name.clone(),
                var: var.clone(),
                group: if decay_all || decays_by_default(name, var.rank()) { 0 } else { 1 },
            })
            .collect();
        Self::new(params, vec![ParamGroup { lr, weight_decay }, ParamGroup { lr, weight_decay: 0.0 }])
    }
}

#[cfg(test)]
mod tests {
    use super::decays_by_default;

    #[test]
    fn decay_groups_follow_the_clip_convention() {
        assert!(decays_by_default("ema.e_v.weight", 2));
        assert!(decays_by_default("denoiser.l1_x.weight", 2));
        assert!(!decays_by_default("ema.e_v.bias", 1));
        assert!(!decays_by_default("ema.logit_scale", 0));
        assert!(!decays_by_default("head.scale", 1), "any 1-d parameter");
        assert!(!decays_by_default("backbone.layernorm.weight", 1));
    }
}
