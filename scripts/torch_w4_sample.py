#!/usr/bin/env python3
"""W4 sampling in PyTorch: the reference's BabyGPT (random weights) writing 500-token texts from a
one-token prompt under torch.no_grad(), nanoGPT's `sample.py` loop (`generate`: crop the context
to the window, run the model, softmax of the last logits at temperature 1, torch.multinomial);
the loop `aigc bench w4-sample` runs. One iteration is one token; 5 warm-up iterations, then N
timed ones, as many whole draws as that takes. Prints the RESULT line of
../shared/peers/torch_ref.py.

Usage: ~/.cache/aigc-peers-venv/bin/python scripts/torch_w4_sample.py <timed_tokens> [PEERS_DIR]
(PEERS_DIR, default ../shared/peers, holds torch_ref.py, whose BabyGPT this imports.)
"""
import os
import statistics
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
peers = sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, "..", "..", "shared", "peers")
if not os.path.exists(os.path.join(peers, "torch_ref.py")):
    sys.exit("torch_ref.py not found in %s (pass the peers folder as the second argument)" % peers)
sys.path.insert(0, peers)
import torch_ref  # noqa: E402  (sets the thread counts before torch starts)
import torch  # noqa: E402

DRAW, BLOCK = 500, 64


def main():
    if len(sys.argv) < 2 or not sys.argv[1].isdigit() or int(sys.argv[1]) < 1:
        sys.exit(__doc__)
    timed = int(sys.argv[1])
    torch.set_num_threads(torch_ref.NUM_THREADS)
    torch.manual_seed(0)
    model = torch_ref.BabyGPT().eval()
    params = sum(p.numel() for p in model.parameters())
    times = []
    with torch.no_grad():
        while len(times) < torch_ref.WARMUP + timed:
            idx = torch.zeros((1, 1), dtype=torch.long)
            for _ in range(DRAW):
                start = time.perf_counter()
                idx_cond = idx if idx.size(1) <= BLOCK else idx[:, -BLOCK:]
                logits = model(idx_cond)[:, -1, :]
                probs = torch.softmax(logits, dim=-1)
                idx_next = torch.multinomial(probs, num_samples=1)
                idx = torch.cat((idx, idx_next), dim=1)
                times.append((time.perf_counter() - start) * 1e3)
    times = times[torch_ref.WARMUP:torch_ref.WARMUP + timed]
    mean = statistics.mean(times)
    print("info: %.0f tokens/s (%d timed tokens of %d-token draws; mean per token), torch %s" % (1e3 / mean, len(times), DRAW, torch.__version__), file=sys.stderr)
    print("RESULT torch-eager w4-sample median_ms=%.3f mean_ms=%.3f params=%d" % (statistics.median(times), mean, params))


if __name__ == "__main__":
    main()
