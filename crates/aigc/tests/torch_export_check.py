"""The PyTorch half of tests/torch_export.rs: loads each case's export with python/aigc_torch.py
(strict load_state_dict) and compares its output with what aigc computed (check.safetensors).
Usage: python torch_export_check.py CASE_DIR...  (exit status 1 when any case disagrees)."""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "python"))
import aigc_torch  # noqa: E402

torch.set_num_threads(1)
failed = False
for case in map(Path, sys.argv[1:]):
    check = aigc_torch.read_safetensors(case / "check.safetensors")
    weights = next(p for p in case.glob("*.safetensors") if p.name != "check.safetensors")
    module = aigc_torch.load(weights)
    with torch.no_grad():
        if "x" in check:
            labels = check["labels"] if module.classes else None
            got = module(check["x"], check["t"], labels)
            tolerance = 1e-4
        elif "z" in check:
            labels = check["labels"] if module.classes else None
            got = module(check["z"], labels)
            tolerance = 1e-4
        else:
            got = module(check["context"])[0, -1]
            tolerance = 1e-3
    expected = check["expected"]
    if got.shape != expected.shape:
        print(f"{case.name}: shape {tuple(got.shape)} != aigc's {tuple(expected.shape)}")
        failed = True
        continue
    diff = (got - expected).abs().max().item()
    scale = expected.abs().max().item()
    verdict = "agrees" if diff <= tolerance * max(1.0, scale) else "DISAGREES"
    failed |= verdict != "agrees"
    print(f"{case.name}: {type(module).__name__} from {weights.name}, max |torch - aigc| = {diff:.2e} (values up to {scale:.2f}): {verdict}")
sys.exit(1 if failed else 0)
