"""Call every compiled kernel on random problems; run as ``python -m tests.fuzz_kernels SEED CASES``.

Shapes from 1 point, weights with zeros (log-weighted potentials of -inf), coordinates and
potentials from 1e-300 to 1e300, eps from 1e-30 to 1e30, float32 and float64, duplicates.
Errors raised as Python exceptions are fine (bad input may be refused); what this looks
for is a read or write outside an array in any kernel: a dead process, or, with
``NUMBA_BOUNDSCHECK=1`` (kernels compiled with bounds checks), an IndexError. Prints the number of
cases run and the exceptions met by type.
"""

import sys
import warnings
from collections import Counter

import numpy as np

from skot.backends import OnlineGeometry, transport_simplex
from skot.solvers._compiled import duplicate_groups, semidual_sgd, softmax_hessian
from skot.backends._multiscale import block_cloud, reduce_blocks

METRICS = ("sqeuclidean", "euclidean", "cosine")


def magnitude(rng):
    return 10.0 ** rng.uniform(-300, 300)


def cloud(rng, size, dim):
    points = rng.normal(size=(size, dim)) * magnitude(rng)
    if rng.random() < 0.3:  # duplicates
        points[rng.integers(size, size=size // 2)] = points[0]
    if rng.random() < 0.2:  # a far offset
        points += magnitude(rng)
    return points


def weights(rng, size):
    w = rng.random(size) * (rng.random(size) > 0.3)
    w[rng.integers(size)] = 1.0
    return w / w.sum()


def potentials(rng, size, eps):
    h = rng.normal(size=size) * magnitude(rng)
    return h + eps * np.log(weights(rng, size)) if rng.random() < 0.5 else h


def online_geometry_case(rng):
    n, m = rng.integers(1, 10, size=2)
    dim = int(rng.integers(16, 20)) if rng.random() < 0.1 else int(rng.integers(1, 6))
    x, y = cloud(rng, n, dim), cloud(rng, m, dim)
    if rng.random() < 0.3:
        x, y = x.astype(np.float32), y.astype(np.float32)
    metric = METRICS[rng.integers(3)]
    geometry = OnlineGeometry(x, y, metric)
    eps = 10.0 ** rng.uniform(-30, 30)
    for axis, size in ((1, m), (0, n)):
        h = potentials(rng, size, eps)
        for repeat in (h, h, h + eps * rng.normal(size=size)):  # repeats take the one-pass path
            geometry.softmin(repeat, eps, axis)
        geometry.barycentric_map(h, eps, axis)
        geometry.sample(h, eps, axis, int(rng.integers(1, 4)), rng)
    g = potentials(rng, m, eps)
    geometry.argmax(g)
    geometry.plan(potentials(rng, n, eps), g, eps)
    geometry.plan_cost(potentials(rng, n, eps), g, eps)
    for kind in ("mean", "max", "median"):
        geometry.cost_statistic(kind, weights(rng, n), weights(rng, m))
    if metric == "sqeuclidean":
        _, _, index, prob = geometry.soft_masses(g, eps, weights(rng, n), int(rng.integers(1, 4)))
        softmax_hessian(weights(rng, n), index, prob, m)


def simplex_case(rng):
    n, m = rng.integers(1, 9, size=2)
    a, b = weights(rng, n), weights(rng, m)
    if rng.random() < 0.5:
        cost = rng.random((n, m)) * magnitude(rng)
        transport_simplex(a, b, cost, max_iter=2000)
    else:
        dim = int(rng.integers(1, 8))
        transport_simplex(a, b, x=cloud(rng, n, dim), y=cloud(rng, m, dim), metric=METRICS[rng.integers(3)],
                          max_iter=2000)


def block_case(rng):
    n, m = rng.integers(1, 40, size=2)
    dim = int(rng.integers(1, 4))
    source = block_cloud(cloud(rng, n, dim), int(rng.integers(1, 8)))
    target = block_cloud(cloud(rng, m, dim), int(rng.integers(1, 8)))
    eps = 10.0 ** rng.uniform(-30, 30)
    reduce_blocks(source, potentials(rng, n, eps), target, eps, 10.0 ** rng.uniform(-20, 0),
                  with_cost=bool(rng.random() < 0.5))


def semidiscrete_case(rng):
    n, m = rng.integers(1, 30), rng.integers(1, 8)
    dim = int(rng.integers(1, 5))
    points, samples = cloud(rng, m, dim), cloud(rng, n, dim)
    potential, average = np.zeros(m), np.zeros(m)
    eps_min = 0.0 if rng.random() < 0.3 else 10.0 ** rng.uniform(-30, 30)
    schedule = (10.0 ** rng.uniform(-30, 30), 0.5, 10.0 ** rng.uniform(-30, 30), 0.5, eps_min, 2)
    semidual_sgd(iter([samples[: n // 2 + 1], samples]), points, weights(rng, m) + 1e-3, potential, average, 1,
                 int(rng.integers(1, 8)), schedule)
    duplicate_groups(samples, np.argsort(samples[:, 0], kind="stable"))


CASES = (online_geometry_case, simplex_case, block_case, semidiscrete_case)


def reported_crash():
    """A one-pass soft-min once indexed its exp table out of bounds on this problem."""
    rng = np.random.default_rng(0)
    geometry = OnlineGeometry(rng.normal(size=(300, 2)), rng.normal(size=(200, 2)), "sqeuclidean")
    h = rng.normal(size=200)
    for _ in range(3):
        geometry.softmin(h, 1e-25, axis=1)


def main(seed, n_cases):
    rng = np.random.default_rng(seed)
    errors = Counter()
    warnings.simplefilter("ignore")
    with np.errstate(all="ignore"):
        reported_crash()
        for index in range(n_cases):
            case = CASES[index % len(CASES)]
            try:
                case(rng)
            except IndexError:  # under NUMBA_BOUNDSCHECK=1: a kernel indexed outside an array
                raise
            except Exception as error:  # refusals are fine
                errors[f"{case.__name__}: {type(error).__name__}"] += 1
    print(f"{n_cases} cases; exceptions: {dict(errors)}")


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
