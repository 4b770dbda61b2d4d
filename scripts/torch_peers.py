"""What the PyTorch sampling timers (`torch_w4_sample.py`, `torch_w5_sample.py`) share: importing
the reference `torch_ref.py` from the peers folder (the second argument, default
../shared/peers beside this repository), the timed-iteration argument, and the RESULT line of
`torch_ref.py`. Import it before torch: `torch_ref` sets the thread counts before torch starts.
"""
import os
import statistics
import sys


def import_reference():
    """The `torch_ref` module of the peers folder."""
    here = os.path.dirname(os.path.abspath(__file__))
    peers = sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, "..", "..", "shared", "peers")
    if not os.path.exists(os.path.join(peers, "torch_ref.py")):
        sys.exit("torch_ref.py not found in %s (pass the peers folder as the second argument)" % peers)
    sys.path.insert(0, peers)
    import torch_ref
    return torch_ref


def timed_iterations(usage):
    """The number of timed iterations (the first argument, at least 1); else exits with `usage`."""
    if len(sys.argv) < 2 or not sys.argv[1].isdigit() or int(sys.argv[1]) < 1:
        sys.exit(usage)
    return int(sys.argv[1])


def print_result(workload, times, params):
    """`torch_ref.py`'s RESULT line for the per-iteration `times` (ms)."""
    print("RESULT torch-eager %s median_ms=%.3f mean_ms=%.3f params=%d" % (workload, statistics.median(times), statistics.mean(times), params))
