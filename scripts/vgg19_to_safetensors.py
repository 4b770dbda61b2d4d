"""Converts torchvision's VGG-19 weights to the safetensors file `aigc style --features vgg19`
reads: the 16 convolutions' `features.N.weight` / `features.N.bias` as float32 (the classifier is
left out). The weights cannot be downloaded where aigc runs; fetch torchvision's
`vgg19-dcbb9e9d.pth` (https://download.pytorch.org/models/vgg19-dcbb9e9d.pth) on a machine that
can, then:

    python scripts/vgg19_to_safetensors.py vgg19-dcbb9e9d.pth vgg19.safetensors
    aigc style --style picture.png --features vgg19 --weights vgg19.safetensors

Needs torch (../shared/peers/setup.sh makes a venv with it); torchvision is not needed.
"""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
from aigc_torch import write_safetensors  # noqa: E402

# torchvision's vgg19().features: the indices of its 16 3x3 convolutions and their channels.
CONVS = [(0, 64, 3), (2, 64, 64), (5, 128, 64), (7, 128, 128), (10, 256, 128), (12, 256, 256), (14, 256, 256), (16, 256, 256),
         (19, 512, 256), (21, 512, 512), (23, 512, 512), (25, 512, 512), (28, 512, 512), (30, 512, 512), (32, 512, 512), (34, 512, 512)]


def convert(source, target):
    state = torch.load(source, map_location="cpu", weights_only=True)
    if hasattr(state, "state_dict"):
        state = state.state_dict()
    out = {}
    for index, c_out, c_in in CONVS:
        for part, shape in (("weight", (c_out, c_in, 3, 3)), ("bias", (c_out,))):
            key = f"features.{index}.{part}"
            if key not in state:
                sys.exit(f"{source}: missing {key} (expected torchvision's VGG-19 state_dict, features.N.weight/bias)")
            if tuple(state[key].shape) != shape:
                sys.exit(f"{source}: {key} has shape {tuple(state[key].shape)}, VGG-19 needs {shape}")
            out[key] = state[key].float()
    write_safetensors(out, target)
    print(f"{target}: {len(out)} tensors, {sum(t.numel() for t in out.values()):,} parameters")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python scripts/vgg19_to_safetensors.py vgg19-dcbb9e9d.pth vgg19.safetensors")
    convert(sys.argv[1], sys.argv[2])
