"""Distributed Sinkhorn on a local Dask cluster: time and traffic per iteration, worker memory.

n = m points in 2-D (default 200000), source and target rows each in 4 blocks, 2 worker
processes with one thread (and one numba thread) each. ``SinkhornTransport`` runs a fixed
number of iterations (``tol=0``); per iteration it sends each block its slice of the
potential and receives n (or a tree-merged m) floats. Reports seconds per iteration, the
bytes that crossed between workers over the fit (Dask's transfer counters; the difference
between two iteration counts gives one iteration's), the driver-worker payload per
iteration (counted), and each worker's peak RSS against one dense (n / 4) x m block.

    python benchmarks/bench_dask_sinkhorn.py [n] [iterations]
"""

import sys
import time
import warnings

import numpy as np

from _common import emit


def main():
    import dask.array as da
    import distributed

    from skot import SinkhornTransport, pack

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    iterations = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    blocks = 4
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None,
                                       env={"NUMBA_NUM_THREADS": "1"})
    client = distributed.Client(cluster)
    rng = np.random.default_rng(0)
    X, _, domain = pack(rng.normal(size=(n, 2)), rng.normal(size=(n, 2)) * 0.7 + 1.0)
    lazy = da.from_array(X, chunks=(n // blocks, 2)).persist()
    # Compile / load the kernels on the workers outside the timing.
    SinkhornTransport(max_iter=1, tol=0).fit(lazy[: 2 * blocks * 10].rechunk(10), sample_domain=np.r_[
        np.zeros(blocks * 10, int), -np.ones(blocks * 10, int)])

    def transfer_bytes(dask_worker):
        return dask_worker.transfer_outgoing_bytes_total

    def peak_rss(dask_worker):
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    before = sum(client.run(transfer_bytes).values())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        model = SinkhornTransport(max_iter=iterations, tol=0.0, cost_scale=None).fit(lazy, sample_domain=domain)
        seconds = time.perf_counter() - start
    moved = sum(client.run(transfer_bytes).values()) - before
    # Passes: 2 soft-mins per iteration, one more to measure the marginal, one for the plan cost.
    passes = 2 * model.n_iter_ + 2
    payload = 8 * (n + n + n + blocks * n)  # per iteration: f slices and g out, f and block partials back
    emit({
        "case": f"n=m={n} d=2, {blocks} blocks per side, 2 workers x 1 thread",
        "iterations": model.n_iter_, "seconds": round(seconds, 2),
        "seconds_per_iteration": round(2 * seconds / passes, 2),
        # Includes the one-time placement (target rows gathered on each worker): run two
        # iteration counts and difference them for the bytes of one more iteration.
        "worker_to_worker_bytes_total": int(moved),
        "driver_worker_payload_bytes_per_iteration": payload,
        "worker_peak_rss_mb": {k: round(v / 2**20, 1) for k, v in client.run(peak_rss).items()},
        "one_dense_block_mb": round(8 * (n // blocks) * n / 2**20, 1),
    })
    client.close()
    cluster.close()


if __name__ == "__main__":
    main()
