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
import statistics
import sys
import time

import torch_peers

torch_ref = torch_peers.import_reference()  # sets the thread counts before torch starts
import torch  # noqa: E402

DRAW, BLOCK = 500, 64


def main():
    timed = torch_peers.timed_iterations(__doc__)
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
    torch_peers.print_result("w4-sample", times, params)


if __name__ == "__main__":
    main()
