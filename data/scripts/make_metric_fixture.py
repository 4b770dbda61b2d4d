#!/usr/bin/env python3
"""Independent reference values for aigc's FID and KID, computed once with numpy/scipy.

Usage: python3 data/scripts/make_metric_fixture.py crates/aigc/tests/fixtures/metric_reference.json
Needs numpy and scipy. Writes two seeded feature sets and:
  fid: the formula of pytorch-fid (Heusel et al. 2017), with scipy.linalg.sqrtm of sigma1 @ sigma2;
  kid: the unbiased MMD^2 with the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3 of
       Binkowski et al. 2018 (as torch-fidelity), over the whole sets (one subset).
"""
import json
import sys

import numpy as np
from scipy import linalg


def fid(a, b):
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = np.real(linalg.sqrtm(s1.dot(s2)))
    diff = mu1 - mu2
    return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def kid(a, b):
    d = a.shape[1]
    m = a.shape[0]
    kxx = (a @ a.T / d + 1) ** 3
    kyy = (b @ b.T / d + 1) ** 3
    kxy = (a @ b.T / d + 1) ** 3
    sxx = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    syy = (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(sxx + syy - 2 * kxy.mean())


def main(out):
    rng = np.random.default_rng(20261129)
    n, d = 300, 12
    a = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) * 0.5
    b = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) * 0.5 + 0.3
    fixture = {
        "note": "made by data/scripts/make_metric_fixture.py with numpy/scipy",
        "dim": d,
        "a": a.round(6).tolist(),
        "b": b.round(6).tolist(),
    }
    # Reference values on the rounded numbers actually stored.
    a, b = np.array(fixture["a"]), np.array(fixture["b"])
    fixture["fid"] = fid(a, b)
    fixture["fid_self"] = fid(a, a)
    fixture["kid"] = kid(a, b)
    with open(out, "w") as f:
        json.dump(fixture, f)
    print(f"fid {fixture['fid']:.6f} fid_self {fixture['fid_self']:.3e} kid {fixture['kid']:.6f}")


if __name__ == "__main__":
    main(sys.argv[1])
