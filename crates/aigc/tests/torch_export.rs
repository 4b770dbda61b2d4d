//! Exports others can load: every family's run writes its network in PyTorch's layout, and
//! `python/aigc_torch.py` loads it into the matching `torch.nn` module (strictly) and computes
//! what aigc computes: the same images from the same noise, the same next-token logits. The
//! PyTorch half runs where a Python with torch is found (`$AIGC_TORCH_PYTHON`, the peers' venv
//! `~/.cache/aigc-peers-venv`, or `python3`); elsewhere it is skipped, saying so, and the layout
//! is still checked here.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use aigc::burn::tensor::Device;
use aigc::families::gan::{GanArch, GanTrainConfig};
use aigc::families::lm::{LmArch, TextTrainConfig};
use aigc::families::music::{MelodyArch, MusicTrainConfig};
use aigc::families::vae::{VaeArch, VaeTrainConfig};
use aigc::run::{CheckpointChoice, RunDir};
use aigc::sample::SampleLabels;
use aigc::sample::latent::fixed_noise;
use aigc::train::TrainOptions;
use safetensors::SafeTensors;
use safetensors::tensor::{Dtype, TensorView};

fn options() -> TrainOptions {
    TrainOptions { resume: false, force: false, quiet: true, device: Device::flex(), feature_cache: None, control: None }
}

/// A Python that imports torch, if there is one.
fn torch_python() -> Option<PathBuf> {
    let venv = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/aigc-peers-venv/bin/python"));
    let candidates = std::env::var_os("AIGC_TORCH_PYTHON").map(PathBuf::from).into_iter().chain(venv).chain([PathBuf::from("python3")]);
    candidates.into_iter().find(|python| Command::new(python).args(["-c", "import torch"]).output().is_ok_and(|o| o.status.success()))
}

fn tensors(path: &Path) -> HashMap<String, (Vec<usize>, Dtype)> {
    let bytes = std::fs::read(path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    st.tensors().into_iter().map(|(k, v)| (k, (v.shape().to_vec(), v.dtype()))).collect()
}

fn sidecar(weights: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(weights.with_extension("json")).unwrap()).unwrap()
}

/// Writes what aigc computed (`expected`) from `inputs` for the Python side to compare.
fn write_check(dir: &Path, inputs: &[(&str, Vec<i64>, Vec<usize>)], floats: &[(&str, Vec<f32>, Vec<usize>)]) {
    let ints: Vec<(String, Vec<u8>, Vec<usize>)> =
        inputs.iter().map(|(k, v, s)| (k.to_string(), v.iter().flat_map(|x| x.to_le_bytes()).collect(), s.clone())).collect();
    let fl: Vec<(String, Vec<u8>, Vec<usize>)> =
        floats.iter().map(|(k, v, s)| (k.to_string(), v.iter().flat_map(|x| x.to_le_bytes()).collect(), s.clone())).collect();
    let mut views = Vec::new();
    for (k, b, s) in &ints {
        views.push((k.clone(), TensorView::new(Dtype::I64, s.clone(), b).unwrap()));
    }
    for (k, b, s) in &fl {
        views.push((k.clone(), TensorView::new(Dtype::F32, s.clone(), b).unwrap()));
    }
    safetensors::serialize_to_file(views, None, &dir.join("check.safetensors")).unwrap();
}

/// Exports the run's latest checkpoint with `aigc export`'s service into `case`; the file
/// equals the one training wrote at its end.
fn exported(run: &Path, case: &Path, stem: &str) -> PathBuf {
    let paths = aigc::service::runs::export(run, "latest", Some(case), &Device::flex()).unwrap();
    assert_eq!(paths, vec![case.join(format!("{stem}.safetensors"))]);
    let at_end = RunDir::new(run).export(stem);
    assert_eq!(std::fs::read(&paths[0]).unwrap(), std::fs::read(&at_end).unwrap(), "{}: export differs from the one training wrote", run.display());
    paths[0].clone()
}

fn image_case(root: &Path, name: &str, run: &Path, stem: &str, cases: &mut Vec<PathBuf>) {
    let case = root.join(name);
    let weights = exported(run, &case, stem);
    let names = tensors(&weights);
    let spec = sidecar(&weights);
    assert_eq!(spec["format"], "aigc-pytorch-export/1");
    // PyTorch's layout: the first Linear maps latent (+ classes) to its width, stored [out, in].
    let (latent, classes) = (spec["latent_dim"].as_u64().unwrap() as usize, spec["classes"].as_u64().unwrap() as usize);
    let first = &names["net.0.weight"].0;
    assert_eq!(first[1], latent + classes, "{name}: net.0.weight is [out, in], got {first:?}");
    assert_eq!(spec["layers"][0]["out_features"].as_u64().unwrap() as usize, first[0]);
    let opened = aigc::families::open(run).unwrap();
    let generator = opened.images(CheckpointChoice::Latest, &Device::flex()).unwrap();
    let n = 6;
    let expected = generator.generate(n, 7, SampleLabels::Balanced);
    let z = fixed_noise(7, n, latent, &Device::flex()).into_data().convert::<f32>().try_into_vec::<f32>().unwrap();
    let labels: Vec<i64> = (0..n).map(|i| if classes > 0 { (i % classes) as i64 } else { 0 }).collect();
    let shape = generator.shape();
    write_check(&case, &[("labels", labels, vec![n])], &[("z", z, vec![n, latent]), ("expected", expected, vec![n, shape.channels, shape.height, shape.width])]);
    cases.push(case);
}

fn token_case(root: &Path, name: &str, run: &Path, model: &dyn aigc::sample::text::NextTokenModel, vocab: usize, cases: &mut Vec<PathBuf>) {
    let case = root.join(name);
    let weights = exported(run, &case, "model");
    let spec = sidecar(&weights);
    assert!(spec["vocab"].is_object() || spec["vocab"].is_array(), "{name}: the sidecar holds the vocabulary");
    let window = spec["block_size"].as_u64().unwrap() as usize;
    let context: Vec<u32> = (0..window as u32).map(|i| (i * 7 + 3) % vocab as u32).collect();
    let expected = model.next_logits(&context);
    assert_eq!(expected.len(), vocab);
    write_check(&case, &[("context", context.iter().map(|&t| t as i64).collect(), vec![1, window])], &[("expected", expected, vec![vocab])]);
    cases.push(case);
}

#[test]
fn every_family_exports_weights_pytorch_loads_and_computes_alike() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut cases = Vec::new();

    let gans = [
        ("gan-mlp", GanTrainConfig::new()),
        ("gan-dcgan-conditional", GanTrainConfig::new().with_arch(GanArch::Dcgan).with_conditional(true)),
    ];
    for (name, config) in gans {
        let run = root.join("runs").join(name);
        aigc::families::gan::train(&config.with_steps(Some(3)).with_batch_size(16), &run, &options()).unwrap();
        image_case(root, name, &run, "generator", &mut cases);
    }
    for (name, arch, conditional) in [("vae-mlp-conditional", VaeArch::Mlp, true), ("vae-conv", VaeArch::Conv, false)] {
        let run = root.join("runs").join(name);
        let config = VaeTrainConfig::new().with_arch(arch).with_conditional(conditional).with_steps(Some(3)).with_batch_size(16);
        aigc::families::vae::train(&config, &run, &options()).unwrap();
        image_case(root, name, &run, "decoder", &mut cases);
    }
    let text = |arch| {
        TextTrainConfig::new()
            .with_arch(arch)
            .with_steps(3)
            .with_batch_size(4)
            .with_block_size(16)
            .with_n_layer(2)
            .with_n_head(2)
            .with_n_embd(32)
            .with_hidden(32)
            .with_eval_batches(1)
    };
    for (name, config) in [("text-gpt", text(LmArch::Gpt)), ("text-lstm", text(LmArch::Lstm).with_hidden(48)), ("text-gru", text(LmArch::Gru).with_tie_weights(true))] {
        let run = root.join("runs").join(name);
        aigc::families::lm::train(&config, &run, &options()).unwrap();
        let model = aigc::families::open(&run).unwrap().text(CheckpointChoice::Latest, &Device::flex()).unwrap();
        token_case(root, name, &run, model.model.as_ref(), model.tokenizer.len(), &mut cases);
    }
    let mut music = MusicTrainConfig::default();
    music.arch = MelodyArch::Lstm;
    music.lm = music.lm.with_steps(3).with_batch_size(4).with_block_size(32).with_n_layer(1).with_hidden(32).with_n_embd(16).with_eval_batches(1);
    let run = root.join("runs").join("music-lstm");
    aigc::families::music::train(&music, &run, &options()).unwrap();
    let melodies = aigc::families::open(&run).unwrap().melodies(CheckpointChoice::Latest, &Device::flex()).unwrap();
    token_case(root, "music-lstm", &run, melodies.model(), melodies.vocab().len(), &mut cases);

    // The Markov baseline has counts, not weights, and says so.
    let markov = MusicTrainConfig { arch: MelodyArch::Markov, ..MusicTrainConfig::default() };
    let run = root.join("runs").join("music-markov");
    aigc::families::music::train(&markov, &run, &options()).unwrap();
    let err = aigc::service::runs::export(&run, "latest", None, &Device::flex()).unwrap_err().to_string();
    assert!(err.contains("cannot export its weights"), "{err}");

    check_in_pytorch(&cases);
}

/// `scripts/vgg19_to_safetensors.py` turns a torchvision-layout VGG-19 `.pth` (here one with
/// random weights, made by torch: the real file cannot be downloaded here) into the file
/// `aigc style --features vgg19` reads, leaving the classifier out.
#[test]
fn torchvision_vgg19_weights_convert_for_style() {
    let Some(python) = torch_python() else {
        eprintln!("skipped: no Python with torch (set AIGC_TORCH_PYTHON or run ../shared/peers/setup.sh)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (pth, st) = (dir.path().join("vgg19.pth"), dir.path().join("vgg19.safetensors"));
    // torchvision's vgg19 (configuration E): 3x3 convolutions and ReLUs, max-pools after 4, 9, 18, 27, 36.
    let make = r#"
import sys, torch, torch.nn as nn
cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]
layers, c = [], 3
for v in cfg:
    if v == "M":
        layers.append(nn.MaxPool2d(2))
    else:
        layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU(True)]
        c = v
model = nn.Module()
model.features = nn.Sequential(*layers)
model.classifier = nn.Sequential(nn.Linear(8, 4))
torch.save(model.state_dict(), sys.argv[1])
"#;
    let made = Command::new(&python).args(["-c", make]).arg(&pth).output().unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/vgg19_to_safetensors.py");
    let out = Command::new(&python).arg(&script).arg(&pth).arg(&st).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let names = tensors(&st);
    assert_eq!(names.len(), 32, "16 convolutions' weights and biases, no classifier: {:?}", names.keys());
    assert_eq!(names["features.34.weight"], (vec![512, 512, 3, 3], Dtype::F32));
    aigc::apps::style::FeatureNet::vgg19(&st, &Device::flex()).unwrap();
    // A file that is not VGG-19 gets a message naming the tensor.
    let bad = Command::new(&python).args(["-c", "import sys, torch; torch.save({'features.0.weight': torch.zeros(1)}, sys.argv[1])"]).arg(&pth).output().unwrap();
    assert!(bad.status.success());
    let out = Command::new(&python).arg(&script).arg(&pth).arg(&st).output().unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("features.0.weight has shape"), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The diffusion UNet (W5's TinyUNet by default, and a small conditional colour one) exports under
/// its field names, and `aigc_torch.UNet` computes the same prediction: the network the W5
/// benchmark times is the reference's.
#[test]
fn the_unet_matches_its_pytorch_twin() {
    use aigc::burn::tensor::{Int, Tensor, TensorData};
    use aigc::families::diffusion::UnetConfig;
    use aigc::report::torch::TorchExport;

    let dir = tempfile::tempdir().unwrap();
    let device = Device::flex();
    let mut cases = Vec::new();
    let configs = [
        ("unet-w5", UnetConfig::new(1), 28),
        ("unet-conditional-rgb", UnetConfig::new(3).with_widths(vec![16, 32]).with_attention(vec![true, true]).with_classes(5), 16),
    ];
    for (name, config, side) in configs {
        device.seed(11);
        let unet = config.init(&device);
        let mut export = TorchExport::new("unet", serde_json::Value::Null);
        let spec = unet.export_tensors(&mut export);
        let case = root_case(dir.path(), name);
        let weights = export.described(spec).write(&case).unwrap();
        let names = tensors(&weights);
        assert_eq!(names.values().map(|(s, _)| s.iter().product::<usize>()).sum::<usize>(), aigc::burn::module::Module::num_params(&unet), "{name}: every parameter exported");
        let (b, c) = (3usize, config.channels);
        let x: Vec<f32> = (0..b * c * side * side).map(|i| ((i * 7919) % 200) as f32 / 100.0 - 1.0).collect();
        let t = vec![0.0f32, 417.0, 999.0];
        let labels: Vec<i64> = vec![0, 4, 5];
        let input = Tensor::<4>::from_data(TensorData::new(x.clone(), [b, c, side, side]), &device);
        let label_tensor = (config.classes > 0).then(|| Tensor::<1, Int>::from_data(TensorData::new(labels.clone(), [b]), &device));
        let expected = unet.forward(input, &t, label_tensor).into_data().convert::<f32>().try_into_vec::<f32>().unwrap();
        write_check(&case, &[("labels", labels, vec![b])], &[("x", x, vec![b, c, side, side]), ("t", t, vec![b]), ("expected", expected, vec![b, c, side, side])]);
        cases.push(case);
    }
    check_in_pytorch(&cases);
}

fn root_case(root: &Path, name: &str) -> PathBuf {
    let case = root.join(name);
    std::fs::create_dir_all(&case).unwrap();
    case
}

/// Runs `torch_export_check.py` on the cases where a Python with torch is found (skipped,
/// saying so, elsewhere); every case must agree.
fn check_in_pytorch(cases: &[PathBuf]) {
    let Some(python) = torch_python() else {
        eprintln!("skipped the PyTorch half: no Python with torch (set AIGC_TORCH_PYTHON or run ../shared/peers/setup.sh)");
        return;
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/torch_export_check.py");
    let out = Command::new(&python).arg(&script).args(cases).output().unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    eprintln!("{report}");
    assert!(out.status.success() && report.matches("agrees").count() == cases.len(), "PyTorch disagrees with aigc:\n{report}");
}
