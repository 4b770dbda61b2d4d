//! What a newcomer meets first: each subcommand's own help, the example configs, `aigc data`,
//! `aigc info`, readable run names and hints chosen for the run.

use std::path::Path;
use std::process::{Command, Output};

fn aigc(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aigc")).args(args).current_dir(cwd).env("NO_COLOR", "1").output().expect("runs")
}

fn stdout(out: &Output) -> String {
    assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// The help of a subcommand without the global options every subcommand shares.
fn help(args: &[&str]) -> String {
    let mut args = args.to_vec();
    args.push("--help");
    let text = stdout(&aigc(&args, repo()));
    text.split("Global options:").next().unwrap().to_string()
}

#[test]
fn each_training_command_lists_its_own_architectures_and_data_sets() {
    // (family, its choices and data sets, what belongs to other families)
    let cases: [(&str, &[&str], &[&str]); 5] = [
        ("gan", &["mlp or dcgan", "mnist", "faces-100", "--loss", "--r1-gamma", "[default: 3000 steps unless"], &["conv", "shakespeare", "folk", "markov", "--n-head"]),
        ("vae", &["mlp or conv", "mnist", "faces-100", "--latent-dim", "[default: 20]"], &["dcgan", "shakespeare", "folk", "--loss"]),
        ("diffusion", &["ddpm or flow", "mnist", "faces-100", "--sample-steps", "--guidance", "[default: flow]", "[default: 0.999]"], &["dcgan", "shakespeare", "folk", "--loss", "--latent-dim"]),
        ("text", &["gpt, lstm or gru", "shakespeare, tang-poems", "--n-head", "[default: 1337]"], &["dcgan", "mnist", "folk", "markov"]),
        ("music", &["gpt, lstm, gru or markov", "folk", "--order", "[default: lstm]", "[default: 5]"], &["dcgan", "mnist", "shakespeare"]),
    ];
    for (family, wanted, foreign) in cases {
        let text = help(&["train", family]);
        for w in wanted {
            assert!(text.contains(w), "`train {family} --help` lacks {w:?}:\n{text}");
        }
        for f in foreign {
            assert!(!text.contains(f), "`train {family} --help` mentions {f:?} of another family:\n{text}");
        }
    }
    // Every flag of a command says what it does (checked for all in help.rs); the sampling
    // commands show their defaults.
    assert!(help(&["style"]).contains("--steps <STEPS>") && help(&["style"]).contains("[default: 300]"));
    assert!(help(&["generate"]).contains("[default: 0.8]"));
}

#[test]
fn example_configs_name_every_field_and_train_as_printed() {
    let dir = tempfile::tempdir().unwrap();
    for family in ["gan", "vae", "diffusion", "text", "music"] {
        let file = repo().join(format!("configs/{family}.toml"));
        let text = std::fs::read_to_string(&file).unwrap();
        let printed = stdout(&aigc(&["train", family, "--config", file.to_str().unwrap(), "--print-config"], dir.path()));
        // Every field the family has (set, or an unset optional one) is in the example, set or
        // as a commented line.
        for line in printed.lines() {
            let field = line.trim_start_matches("# ").split([' ', '=']).next().unwrap();
            let set = format!("\n{field} = ");
            let commented = format!("\n# {field} = ");
            assert!(text.contains(&set) || text.contains(&commented), "configs/{family}.toml lacks {field}");
        }
        // What it sets is what the run gets.
        for line in text.lines().filter(|l| !l.starts_with('#') && l.contains(" = ")) {
            assert!(printed.lines().any(|p| p == line), "configs/{family}.toml: {line:?} is not what --print-config gives:\n{printed}");
        }
    }
    // The printed config is itself a config that reads back to the same.
    let printed = stdout(&aigc(&["train", "gan", "--arch", "dcgan", "--lr", "0.0003", "--print-config"], dir.path()));
    std::fs::write(dir.path().join("p.toml"), &printed).unwrap();
    assert_eq!(stdout(&aigc(&["train", "gan", "--config", "p.toml", "--print-config"], dir.path())), printed);
    assert!(printed.contains("lr = 0.0003") && printed.contains("# r1_gamma is unset: 10 for r1"), "{printed}");
    assert!(!dir.path().join("runs").exists(), "--print-config trains nothing");
}

#[test]
fn data_lists_the_sets_and_misspelt_names_get_a_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    let listing = stdout(&aigc(&["data"], dir.path()));
    for name in ["mnist", "fashion-mnist", "faces-100", "shakespeare", "tang-poems", "folk", "chelsea"] {
        assert!(listing.contains(&format!("  {name} ")), "{name} missing:\n{listing}");
    }
    assert!(listing.contains("[embedded]"));
    let out = aigc(&["train", "gan", "--data", "mnsit", "--steps", "1"], dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("did you mean mnist?"), "{err}");
}

#[test]
fn a_run_gets_a_readable_name_an_absolute_data_path_and_hints_for_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    // A poems model is pointed at `aigc poem`, not at a Shakespeare prompt.
    let tiny = ["--steps", "2", "--n-layer", "1", "--n-embd", "16", "--n-head", "2", "--block-size", "16", "--batch-size", "2", "--eval-every", "2", "--quiet"];
    let mut args = vec!["train", "text", "--data", "tang-poems"];
    args.extend(tiny);
    let printed = stdout(&aigc(&args, cwd));
    assert!(printed.contains("aigc poem --run") && !printed.contains("ROMEO"), "{printed}");
    let runs: Vec<String> = std::fs::read_dir(cwd.join("runs")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(runs.len(), 1);
    let name = &runs[0];
    let stamp = name.strip_prefix("text-").unwrap_or_else(|| panic!("{name}"));
    assert!(stamp.len() == 15 && stamp.as_bytes()[8] == b'-' && stamp.replace('-', "").bytes().all(|b| b.is_ascii_digit()), "{name}");

    // A text folder given as a relative path is saved absolute, so the run works from anywhere.
    std::fs::create_dir(cwd.join("lines")).unwrap();
    std::fs::write(cwd.join("lines/a.txt"), "ROMEO:\nThe sun.\n\nJULIET:\nThe moon.\n\n".repeat(40)).unwrap();
    let mut args = vec!["train", "text", "--data", "lines", "--out", "mine"];
    args.extend(tiny);
    let printed = stdout(&aigc(&args, cwd));
    assert!(printed.contains("aigc generate --run mine"), "{printed}");
    let config = std::fs::read_to_string(cwd.join("mine/config.toml")).unwrap();
    let saved = config.lines().find(|l| l.starts_with("data = ")).unwrap();
    let expected = format!("data = \"{}\"", cwd.canonicalize().unwrap().join("lines").display());
    assert_eq!(saved, expected);

    let info = stdout(&aigc(&["info", "mine"], cwd));
    for needle in ["family:   text (gpt)", "trained:  step 2", "val_loss", "best:     val_loss", "arch = \"gpt\"", "aigc generate --run mine"] {
        assert!(info.contains(needle), "{needle:?} missing:\n{info}");
    }
    let out = aigc(&["info", "lines"], cwd);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("not a run"));
}
