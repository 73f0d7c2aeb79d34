//! `k/n` shares and `auto` from a scheduler's environment. The environment is a
//! map here, never the process's. Expected shares are worked out by hand in the comments from
//! the variables Slurm documents for `sbatch --array` (sbatch(1), OUTPUT ENVIRONMENT VARIABLES).

use std::collections::HashMap;

use marnet_data::scheduler::{share_from_env, Share, ShareSpec, K8S_COUNT_VAR};

fn env(vars: &[(&str, &str)]) -> HashMap<String, String> {
    vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn share(vars: &[(&str, &str)]) -> Share {
    share_from_env(&env(vars)).unwrap_or_else(|e| panic!("{vars:?}: {e:#}")).share
}

fn error(vars: &[(&str, &str)]) -> String {
    format!("{:#}", share_from_env(&env(vars)).expect_err("expected an error"))
}

#[test]
fn fixed_shares_parse_and_own_their_items() {
    let s: Share = "1/3".parse().unwrap();
    assert_eq!(s, Share { index: 1, count: 3 });
    // Items 1 and 4 of 0..6 are those with i % 3 == 1.
    assert_eq!((0..6).filter(|&i| s.owns(i)).collect::<Vec<_>>(), vec![1, 4]);
    assert_eq!(s.to_string(), "1/3");
    for bad in ["3/3", "1", "a/2", "0/0", "-1/2", ""] {
        assert!(bad.parse::<Share>().is_err(), "{bad:?} should be rejected");
    }
    assert_eq!("AUTO".parse::<ShareSpec>().unwrap(), ShareSpec::Auto);
    assert_eq!("0/2".parse::<ShareSpec>().unwrap(), ShareSpec::Fixed(Share { index: 0, count: 2 }));
    // A fixed share ignores the environment, even inside an array task.
    let resolved = ShareSpec::Fixed(Share { index: 1, count: 2 })
        .resolve(&env(&[("SLURM_ARRAY_TASK_ID", "0"), ("SLURM_ARRAY_TASK_COUNT", "4")]))
        .unwrap();
    assert_eq!((resolved.share, resolved.source), (Share { index: 1, count: 2 }, None));
}

#[test]
fn slurm_array_from_zero() {
    // sbatch --array=0-3, task 2: ID 2, MIN 0, MAX 3, COUNT 4 -> share 2/4.
    let vars = [
        ("SLURM_ARRAY_TASK_ID", "2"),
        ("SLURM_ARRAY_TASK_MIN", "0"),
        ("SLURM_ARRAY_TASK_MAX", "3"),
        ("SLURM_ARRAY_TASK_COUNT", "4"),
    ];
    assert_eq!(share(&vars), Share { index: 2, count: 4 });
    let resolved = ShareSpec::Auto.resolve(&env(&vars)).unwrap();
    assert!(resolved.source.unwrap().contains("SLURM_ARRAY_TASK_ID=2"));
}

#[test]
fn slurm_array_with_offset_step_or_missing_count() {
    // --array=1-4, task 4: k = 4 - 1 = 3 of 4.
    let offset = [
        ("SLURM_ARRAY_TASK_ID", "4"),
        ("SLURM_ARRAY_TASK_MIN", "1"),
        ("SLURM_ARRAY_TASK_MAX", "4"),
        ("SLURM_ARRAY_TASK_COUNT", "4"),
    ];
    assert_eq!(share(&offset), Share { index: 3, count: 4 });
    // --array=0-6:2 (tasks 0, 2, 4, 6), task 4: k = (4 - 0) / 2 = 2 of 4.
    let step = [
        ("SLURM_ARRAY_TASK_ID", "4"),
        ("SLURM_ARRAY_TASK_MIN", "0"),
        ("SLURM_ARRAY_TASK_MAX", "6"),
        ("SLURM_ARRAY_TASK_STEP", "2"),
        ("SLURM_ARRAY_TASK_COUNT", "4"),
    ];
    assert_eq!(share(&step), Share { index: 2, count: 4 });
    // No COUNT (older Slurm): n = MAX - MIN + 1 = 5 - 2 + 1 = 4; task 3 is k = 1.
    let no_count = [("SLURM_ARRAY_TASK_ID", "3"), ("SLURM_ARRAY_TASK_MIN", "2"), ("SLURM_ARRAY_TASK_MAX", "5")];
    assert_eq!(share(&no_count), Share { index: 1, count: 4 });
    // Only ID and COUNT: MIN taken as 0.
    assert_eq!(share(&[("SLURM_ARRAY_TASK_ID", "1"), ("SLURM_ARRAY_TASK_COUNT", "2")]), Share { index: 1, count: 2 });
}

#[test]
fn slurm_arrays_that_cannot_map_to_shares_are_refused() {
    // --array=0,3,7: COUNT 3 but 0..7 holds 8 tasks.
    let gaps = error(&[
        ("SLURM_ARRAY_TASK_ID", "3"),
        ("SLURM_ARRAY_TASK_MIN", "0"),
        ("SLURM_ARRAY_TASK_MAX", "7"),
        ("SLURM_ARRAY_TASK_COUNT", "3"),
    ]);
    assert!(gaps.contains("not one evenly spaced range") && gaps.contains("--array=0-2"), "{gaps}");
    let no_n = error(&[("SLURM_ARRAY_TASK_ID", "3")]);
    assert!(no_n.contains("cannot tell n"), "{no_n}");
    let not_int = error(&[("SLURM_ARRAY_TASK_ID", "x"), ("SLURM_ARRAY_TASK_COUNT", "2")]);
    assert!(not_int.contains("SLURM_ARRAY_TASK_ID=\"x\""), "{not_int}");
    let too_big = error(&[("SLURM_ARRAY_TASK_ID", "2"), ("SLURM_ARRAY_TASK_COUNT", "2")]);
    assert!(too_big.contains("share 2 of an array of 2"), "{too_big}");
}

#[test]
fn kubernetes_indexed_job() {
    assert_eq!(share(&[("JOB_COMPLETION_INDEX", "3"), (K8S_COUNT_VAR, "5")]), Share { index: 3, count: 5 });
    let no_count = error(&[("JOB_COMPLETION_INDEX", "3")]);
    assert!(no_count.contains("MARNET_TASK_COUNT is not"), "{no_count}");
    let outside = error(&[("JOB_COMPLETION_INDEX", "5"), (K8S_COUNT_VAR, "5")]);
    assert!(outside.contains("not below MARNET_TASK_COUNT=5"), "{outside}");
    // Slurm wins when both are set (a Slurm task never has JOB_COMPLETION_INDEX by accident).
    let both = [
        ("JOB_COMPLETION_INDEX", "0"),
        (K8S_COUNT_VAR, "5"),
        ("SLURM_ARRAY_TASK_ID", "1"),
        ("SLURM_ARRAY_TASK_COUNT", "2"),
    ];
    assert_eq!(share(&both), Share { index: 1, count: 2 });
}

#[test]
fn no_scheduler_is_a_clear_error() {
    let msg = error(&[("SLURM_JOB_ID", "17"), ("HOME", "/root")]);
    assert!(
        msg.contains("SLURM_ARRAY_TASK_ID") && msg.contains("JOB_COMPLETION_INDEX") && msg.contains("give k/n"),
        "{msg}"
    );
}
