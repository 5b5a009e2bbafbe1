"""SinkhornTransport on a GPU (CuPy arrays, array_api_dispatch) against GPU peers.

Run where a CUDA GPU and CuPy exist (never run on the project's CPU-only machines):
skot's fused kernels (``backend="auto"`` picks them for CuPy arrays), POT's
``ot.sinkhorn(method="sinkhorn_log")`` on CuPy arrays and GeomLoss ``SamplesLoss("sinkhorn")``
on torch CUDA tensors, each when installed (OTT-JAX is not wired yet); same data as
``bench_sinkhorn.py``, cost divided by its maximum. One JSON line per case and peer, with
the marginal error each reached (equal accuracy is the comparison's condition).

    python benchmarks/bench_gpu.py [n ...]
"""

import os
import sys
import time

os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np  # noqa: E402

from _common import emit, mixture_and_ring  # noqa: E402


def seconds(func):
    start = time.perf_counter()
    result = func()
    return result, time.perf_counter() - start


def run_skot(cupy, x, y, reg):
    import sklearn

    from skot import SinkhornTransport, pack

    X, _, domain = pack(x, y)
    model = SinkhornTransport(reg=reg, cost_scale="max", tol=1e-6)
    with sklearn.config_context(array_api_dispatch=True):
        X_gpu = cupy.asarray(X)
        model.fit(X_gpu, sample_domain=domain)  # compile the kernels outside the timing
        _, elapsed = seconds(lambda: (model.fit(X_gpu, sample_domain=domain), cupy.cuda.Device().synchronize()))
    return {"seconds": elapsed, "marginal_error": model.marginal_error_, "n_iter": model.n_iter_}


def run_pot(cupy, x, y, reg):
    import ot

    a = cupy.full(len(x), 1.0 / len(x))
    cost = ot.dist(cupy.asarray(x), cupy.asarray(y))
    cost /= cost.max()
    plan, elapsed = seconds(lambda: ot.sinkhorn(a, a, cost, reg, method="sinkhorn_log", stopThr=1e-6))
    error = float(cupy.abs(plan.sum(axis=0) - a).sum() + cupy.abs(plan.sum(axis=1) - a).sum())
    return {"seconds": elapsed, "marginal_error": error}


def run_geomloss(x, y, reg):
    import torch
    from geomloss import SamplesLoss

    scale = float(((x[:, None] - y[None]) ** 2).sum(-1).max())
    # GeomLoss: cost |x - y|^2 / 2, eps = blur^2; one update per eps value, no convergence test.
    loss = SamplesLoss("sinkhorn", p=2, blur=float(np.sqrt(reg * scale / 2)), scaling=0.9, potentials=True)
    xs, ys = (torch.as_tensor(v, device="cuda") for v in (x, y))
    (f, g), elapsed = seconds(lambda: (loss(xs, ys), torch.cuda.synchronize())[0])
    return {"seconds": elapsed, "marginal_error": None}


def main():
    try:
        import cupy

        cupy.cuda.runtime.getDeviceCount()
    except Exception as error:  # noqa: BLE001 - any failure means there is no usable GPU
        sys.exit(f"bench_gpu.py needs CuPy and a CUDA GPU ({error}).")
    sizes = [int(v) for v in sys.argv[1:]] or [10_000, 50_000]
    for n in sizes:
        x, y = mixture_and_ring(n, 2)
        peers = {"skot": lambda: run_skot(cupy, x, y, 1e-2), "pot_cupy": lambda: run_pot(cupy, x, y, 1e-2),
                 "geomloss": lambda: run_geomloss(x, y, 1e-2)}
        for name, run in peers.items():
            try:
                emit({"case": f"n={n} d=2 reg=0.01", "peer": name, "result": run()})
            except ImportError as error:
                emit({"case": f"n={n} d=2 reg=0.01", "peer": name, "skipped": str(error)})


if __name__ == "__main__":
    main()
