#!/usr/bin/env python3
"""W5 sampling in PyTorch: the reference's TinyUNet (random weights) drawing 250 images by DDIM
(eta 0, 50 "trailing" steps of the linear 1,000-step schedule, x0 clipped to [-1, 1]) under
torch.no_grad(), the loop `aigc bench w5-sample` runs. One iteration is one DDIM step (a network
evaluation of the batch and the update); 5 warm-up iterations, then N timed ones, as many whole
draws as that takes. Prints the RESULT line of ../shared/peers/torch_ref.py.

Usage: ~/.cache/aigc-peers-venv/bin/python scripts/torch_w5_sample.py <timed_steps> [PEERS_DIR]
(PEERS_DIR, default ../shared/peers, holds torch_ref.py, whose TinyUNet this imports.)
"""
import statistics
import sys
import time

import torch_peers

torch_ref = torch_peers.import_reference()  # sets the thread counts before torch starts
import torch  # noqa: E402

BATCH, STEPS, T = 250, 50, 1000


def main():
    timed = torch_peers.timed_iterations(__doc__)
    torch.set_num_threads(torch_ref.NUM_THREADS)
    torch.manual_seed(0)
    model = torch_ref.TinyUNet().eval()
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    abar = torch.cumprod(1 - torch.linspace(1e-4, 0.02, T, dtype=torch.float64), 0)
    ts = [T - 1 - (i * T) // STEPS for i in range(STEPS)]
    times = []
    with torch.no_grad():
        while len(times) < torch_ref.WARMUP + timed:
            x = torch.randn(BATCH, 1, 28, 28)
            for i, t in enumerate(ts):
                start = time.perf_counter()
                eps = model(x, torch.full((BATCH,), t, dtype=torch.long))
                a = abar[t].sqrt().item()
                s = max((1 - abar[t]).sqrt().item(), 1e-12)
                x0 = ((x - s * eps) / a).clamp(-1, 1)
                eps = (x - a * x0) / s
                ab_prev = abar[ts[i + 1]].item() if i + 1 < STEPS else 1.0
                x = ab_prev ** 0.5 * x0 + (1 - ab_prev) ** 0.5 * eps
                times.append((time.perf_counter() - start) * 1e3)
    times = times[torch_ref.WARMUP:torch_ref.WARMUP + timed]
    median = statistics.median(times)
    print("info: %.1f images/s at %d DDIM steps, batch %d, torch %s" % (BATCH / (median * STEPS / 1e3), STEPS, BATCH, torch.__version__), file=sys.stderr)
    torch_peers.print_result("w5-sample", times, params)


if __name__ == "__main__":
    main()
