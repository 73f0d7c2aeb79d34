//! Both update paths against an independent reference (candle_nn's AdamW) and hand
//! computations; the state round trip; bf16 master copies.

use super::*;
use candle_core::Device;
use candle_nn::{Optimizer, ParamsAdamW};
use std::collections::HashMap;

fn named(vars: &[Var], groups: &[usize]) -> Vec<NamedParam> {
    vars.iter()
        .zip(groups)
        .enumerate()
        .map(|(i, (v, &g))| NamedParam { name: format!("p{i}"), var: v.clone(), group: g })
        .collect()
}

/// Reference: candle_nn's own AdamW, run on identical variables with identical gradients (a
/// quadratic loss whose gradient changes every step), including weight decay, a learning rate
/// that changes between steps, and a variable without gradient; for the fused and the tensor
/// path.
#[test]
fn both_paths_match_candle_nn_adamw_bit_for_bit() -> Result<()> {
    let dev = Device::Cpu;
    let init_a: Vec<f32> = (0..70_000).map(|i| ((i * 7919 % 1000) as f32 - 500.0) / 300.0).collect();
    let init_b: Vec<f32> = vec![0.5, -1.5, 2.0];
    let make = || -> Result<Vec<Var>> {
        Ok(vec![
            Var::from_tensor(&Tensor::from_vec(init_a.clone(), (350, 200), &dev)?)?,
            Var::from_tensor(&Tensor::new(init_b.as_slice(), &dev)?)?,
            Var::from_tensor(&Tensor::new(&[3f32, 4.], &dev)?)?, // never in the loss
        ])
    };
    let loss = |v: &[Var]| -> Result<Tensor> {
        Ok(((v[0].as_tensor().sqr()?.sum_all()? * 0.5)? + (v[1].as_tensor() - 1.0)?.powf(3.0)?.sum_all()?)?)
    };
    for fused in [true, false] {
        let params = ParamsAdamW { lr: 0.01, weight_decay: 0.05, ..ParamsAdamW::default() };
        let (r, o) = (make()?, make()?);
        let mut reference = candle_nn::AdamW::new(r.clone(), params)?;
        let groups = vec![ParamGroup { lr: 0.01, weight_decay: 0.05 }];
        let mut ours = if fused {
            AdamW::new(named(&o, &[0, 0, 0]), groups)?
        } else {
            AdamW::new_unfused(named(&o, &[0, 0, 0]), groups)?
        };
        for step in 0..5 {
            let lr = 0.01 / (step + 1) as f64;
            reference.set_learning_rate(lr);
            ours.set_learning_rates(|_| lr);
            reference.backward_step(&loss(&r)?)?;
            ours.backward_step(&loss(&o)?)?;
            for (a, b) in r.iter().zip(&o) {
                let (a, b) =
                    (a.as_tensor().flatten_all()?.to_vec1::<f32>()?, b.as_tensor().flatten_all()?.to_vec1::<f32>()?);
                assert_eq!(a, b, "fused {fused}, step {step}");
            }
        }
        assert_eq!(o[2].as_tensor().to_vec1::<f32>()?, vec![3., 4.], "no gradient: untouched");
        // The update moved the weights (a wrong no-op would pass the equality above).
        assert_ne!(o[0].as_tensor().flatten_all()?.to_vec1::<f32>()?, init_a);
    }
    Ok(())
}

/// A group without decay is updated as candle_nn's AdamW with `weight_decay = 0`, the other
/// group as with its own decay, in one optimiser.
#[test]
fn decay_groups_match_one_candle_optimiser_per_group() -> Result<()> {
    let dev = Device::Cpu;
    let make = || -> Result<Vec<Var>> {
        Ok(vec![
            Var::from_tensor(&Tensor::new(&[[1f32, -2.], [0.5, 3.]], &dev)?)?,
            Var::from_tensor(&Tensor::new(&[0.25f32, -0.75], &dev)?)?,
        ])
    };
    let loss = |v: &[Var]| -> Result<Tensor> {
        Ok((v[0].as_tensor().sqr()?.sum_all()? + (v[1].as_tensor() * 3.0)?.sum_all()?)?)
    };
    let (r, o) = (make()?, make()?);
    let mut decayed =
        candle_nn::AdamW::new(vec![r[0].clone()], ParamsAdamW { lr: 0.1, weight_decay: 0.3, ..Default::default() })?;
    let mut plain =
        candle_nn::AdamW::new(vec![r[1].clone()], ParamsAdamW { lr: 0.1, weight_decay: 0.0, ..Default::default() })?;
    let names = [("w.weight".to_string(), o[0].clone()), ("w.bias".to_string(), o[1].clone())];
    let mut ours = AdamW::with_decay_groups(&names, 0.1, 0.3, false)?;
    for _ in 0..3 {
        let g = loss(&r)?.backward()?;
        decayed.step(&g)?;
        plain.step(&g)?;
        ours.backward_step(&loss(&o)?)?;
    }
    for (a, b) in r.iter().zip(&o) {
        assert_eq!(a.as_tensor().flatten_all()?.to_vec1::<f32>()?, b.as_tensor().flatten_all()?.to_vec1::<f32>()?);
    }
    Ok(())
}

fn one_var(value: f32, dtype: DType) -> (Var, AdamW) {
    let var = Var::from_tensor(&Tensor::new(&[value], &Device::Cpu).unwrap().to_dtype(dtype).unwrap()).unwrap();
    let p = vec![NamedParam { name: "w".into(), var: var.clone(), group: 0 }];
    (var, AdamW::new(p, vec![ParamGroup { lr: 0.1, weight_decay: 0.01 }]).unwrap())
}

fn grad_of(var: &Var, g: f32) -> GradAccumulator {
    // loss = g·w has gradient g.
    let loss = (var.as_tensor() * g as f64).unwrap().sum_all().unwrap();
    let mut acc = GradAccumulator::new();
    acc.add(&loss.backward().unwrap(), std::slice::from_ref(var)).unwrap();
    acc
}

#[test]
fn two_steps_match_hand_computation() {
    let (var, mut opt) = one_var(1.0, DType::F32);
    // Step 1, g = 2: decay 1·(1 − 0.1·0.01) = 0.999; m = 0.2, v = 0.004, m̂ = 2, v̂ = 4,
    // update = 0.1·2/(2 + 1e-8) ≈ 0.1 → 0.899.
    opt.step(&grad_of(&var, 2.0)).unwrap();
    let w1 = var.as_tensor().to_vec1::<f32>().unwrap()[0];
    assert!((w1 - 0.899).abs() < 1e-6, "{w1}");
    // Step 2, g = −1: decay 0.899·0.999 = 0.898101; m = 0.9·0.2 − 0.1 = 0.08,
    // v = 0.999·0.004 + 0.001 = 0.004996; m̂ = 0.08/0.19 = 0.4210526,
    // v̂ = 0.004996/0.001999 = 2.4992496, sqrt = 1.5808984; update = 0.1·0.2663375 = 0.02663375
    // → 0.898101 − 0.02663375 = 0.87146725.
    opt.step(&grad_of(&var, -1.0)).unwrap();
    let w2 = var.as_tensor().to_vec1::<f32>().unwrap()[0];
    assert!((w2 - 0.871_467_25).abs() < 1e-6, "{w2}");
    assert_eq!(opt.step_count(), 2);
}

#[test]
fn a_schedule_scales_each_group_from_its_peak() {
    // Step 1 with a constant gradient moves θ by lr·m̂/(√v̂ + ε) ≈ lr (m̂ = g, v̂ = g²): the two
    // groups (peaks 0.1 and 0.01, factor 0.5, no decay) move by 0.05 and 0.005.
    let a = Var::from_tensor(&Tensor::new(&[1f32], &Device::Cpu).unwrap()).unwrap();
    let b = Var::from_tensor(&Tensor::new(&[1f32], &Device::Cpu).unwrap()).unwrap();
    let groups = vec![ParamGroup { lr: 0.1, weight_decay: 0.0 }, ParamGroup { lr: 0.01, weight_decay: 0.0 }];
    let mut opt = AdamW::new(named(&[a.clone(), b.clone()], &[0, 1]), groups).unwrap();
    opt.set_learning_rates(|peak| peak * 0.5);
    let loss = (a.as_tensor().sum_all().unwrap() + b.as_tensor().sum_all().unwrap()).unwrap();
    opt.backward_step(&loss).unwrap();
    assert!((a.as_tensor().to_vec1::<f32>().unwrap()[0] - 0.95).abs() < 1e-6);
    assert!((b.as_tensor().to_vec1::<f32>().unwrap()[0] - 0.995).abs() < 1e-6);
}

#[test]
fn bf16_variable_keeps_small_updates_in_master() {
    // lr·sign(g) = 1e-4 per step on w = 1: bf16 spacing at 1 is 2^-7 = 0.0078, so a plain bf16
    // update would be lost; the f32 master accumulates 3 steps to 1 − 3e-4 (decay 0 here).
    let var = Var::from_tensor(&Tensor::new(&[1f32], &Device::Cpu).unwrap().to_dtype(DType::BF16).unwrap()).unwrap();
    let p = vec![NamedParam { name: "w".into(), var: var.clone(), group: 0 }];
    let mut opt = AdamW::new(p, vec![ParamGroup { lr: 1e-4, weight_decay: 0.0 }]).unwrap();
    for _ in 0..3 {
        opt.step(&grad_of(&var, 1.0)).unwrap();
    }
    let m = opt.master_value("w").unwrap().to_vec1::<f32>().unwrap()[0];
    assert!((m - 0.9997).abs() < 1e-6, "{m}");
}

#[test]
fn state_round_trip_restores_moments() {
    let (var, mut opt) = one_var(1.0, DType::F32);
    opt.step(&grad_of(&var, 2.0)).unwrap();
    let state: HashMap<String, Tensor> = opt.state_tensors().unwrap().into_iter().collect();
    // m after one step with g = 2 is (1 − 0.9)·2 = 0.2; v = (1 − 0.999)·4 = 0.004.
    assert!((state["optim.m.w"].to_vec1::<f32>().unwrap()[0] - 0.2).abs() < 1e-7);
    assert!((state["optim.v.w"].to_vec1::<f32>().unwrap()[0] - 0.004).abs() < 1e-9);
    let (var2, mut opt2) = one_var(0.899, DType::F32);
    opt2.load_state(&state, 1).unwrap();
    opt.step(&grad_of(&var, -1.0)).unwrap();
    opt2.step(&grad_of(&var2, -1.0)).unwrap();
    let (a, b) = (var.as_tensor().to_vec1::<f32>().unwrap()[0], var2.as_tensor().to_vec1::<f32>().unwrap()[0]);
    assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    let mut missing = state.clone();
    missing.remove("optim.v.w");
    assert!(opt2.load_state(&missing, 1).unwrap_err().to_string().contains("optim.v.w"));
}

#[test]
fn bad_groups_and_duplicate_names_are_refused_naming_the_parameter() {
    let v = Var::zeros(3, DType::F32, &Device::Cpu).unwrap();
    let g = vec![ParamGroup { lr: 0.1, weight_decay: 0.0 }];
    let e = AdamW::new(vec![NamedParam { name: "x".into(), var: v.clone(), group: 1 }], g.clone()).err().unwrap();
    assert!(e.to_string().contains("x") && e.to_string().contains("group 1"), "{e}");
    let twice = vec![
        NamedParam { name: "y".into(), var: v.clone(), group: 0 },
        NamedParam { name: "y".into(), var: v, group: 0 },
    ];
    assert!(AdamW::new(twice, g).err().unwrap().to_string().contains("y"));
}
