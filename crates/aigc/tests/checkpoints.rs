//! Atomic checkpoints: a crash mid-write leaves the previous checkpoint loadable.

use aigc::run::{Checkpoints, MetricsLog, TrainState};
use aigc::families::gan::GanMetrics;

fn state(step: usize) -> TrainState {
    TrainState { step, batches_seen: step, rng_word_pos: 7 * step as u128, elapsed_s: step as f64 }
}

#[test]
fn crash_during_checkpoint_write_keeps_the_previous_one() {
    let dir = tempfile::tempdir().unwrap();
    let ckpts = Checkpoints::new(dir.path().join("checkpoints"), 3);
    ckpts.save(&state(10), |d| Ok(std::fs::write(d.join("weights.bin"), b"ten").unwrap())).unwrap();

    // Stage step 20 and "crash" before the commit, leaving a half-written weights file behind.
    let staged = ckpts.stage(&state(20), |d| Ok(std::fs::write(d.join("weights.bin"), b"twenty").unwrap())).unwrap();
    std::fs::write(staged.staging_dir().join("weights.bin"), b"twe").unwrap();
    drop(staged);

    let (latest, path) = ckpts.latest().unwrap().unwrap();
    assert_eq!(latest, state(10));
    assert_eq!(std::fs::read(path.join("weights.bin")).unwrap(), b"ten");

    // The next save clears the stale staging folder and becomes the newest.
    ckpts.save(&state(30), |d| Ok(std::fs::write(d.join("weights.bin"), b"thirty").unwrap())).unwrap();
    let names: Vec<String> = std::fs::read_dir(ckpts.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.starts_with(".tmp")), "{names:?}");
    assert_eq!(ckpts.latest().unwrap().unwrap().0.step, 30);
}

#[test]
fn only_the_last_k_checkpoints_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let ckpts = Checkpoints::new(dir.path(), 2);
    for step in [1, 2, 3, 4] {
        ckpts.save(&state(step), |_| Ok(())).unwrap();
    }
    let steps: Vec<usize> = ckpts.list().unwrap().into_iter().map(|(s, _)| s).collect();
    assert_eq!(steps, vec![3, 4]);
    assert!(ckpts.at_step(1).is_err());
    assert_eq!(ckpts.at_step(4).unwrap().0, state(4));
}

#[test]
fn a_failed_payload_write_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ckpts = Checkpoints::new(dir.path(), 2);
    ckpts.save(&state(5), |_| Ok(())).unwrap();
    let failed = ckpts.save(&state(6), |d| Err(aigc::AigcError::output(d, "disk full")));
    assert!(failed.unwrap_err().to_string().contains("disk full"));
    assert_eq!(ckpts.latest().unwrap().unwrap().0.step, 5);
}

#[test]
fn metrics_after_the_checkpoint_are_dropped_on_resume() {
    let dir = tempfile::tempdir().unwrap();
    let log = MetricsLog::new(dir.path().join("metrics.jsonl"));
    for step in [10, 20, 30] {
        let m = GanMetrics { step, epoch: 0.0, d_loss: 1.0, g_loss: 2.0, d_real: 0.5, d_fake: 0.5, elapsed_s: 0.0 };
        log.append(&m).unwrap();
    }
    // A crash can cut the last line in half.
    std::fs::OpenOptions::new()
        .append(true)
        .open(log.path())
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"{\"step\":40,\"d_lo"))
        .unwrap();
    log.truncate_after(20).unwrap();
    let steps: Vec<usize> = log.read::<GanMetrics>().unwrap().iter().map(|m| m.step).collect();
    assert_eq!(steps, vec![10, 20]);
}
