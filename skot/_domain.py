"""How source and target rows reach an estimator (documented in docs/conventions.rst).

``sample_domain >= 0`` marks source rows, ``< 0`` target rows; without it,
masked labels (``y == -1``, or NaN for a continuous ``y``) mark target rows;
without either, every row is source and the estimator's ``target`` parameter
supplies a reference distribution.
"""

from dataclasses import dataclass

import numpy as np
from sklearn.utils import check_array, check_random_state
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import _check_sample_weight

from .backends import array_namespace_of, assemble_rows, like, take_rows, to_numpy

__all__ = ["pack"]


def _as_list(arrays):
    return list(arrays) if isinstance(arrays, (list, tuple)) else [arrays]


def pack(X_source, X_target, y_source=None):
    """Stack source and target data into ``(X, y_masked, sample_domain)``.

    Parameters
    ----------
    X_source, X_target : array-like of shape (n, d), or a list of them
        One array per domain; lists give several source (or target) domains.
    y_source : array-like of shape (n,), or a list of them, optional
        Source labels. Target rows get the masked label: NaN for float labels
        (regression), -1 otherwise (classification).

    Returns
    -------
    X : ndarray of shape (n_samples, d)
        New array; inputs are never modified.
    y_masked : ndarray of shape (n_samples,) or None
        None when ``y_source`` is None.
    sample_domain : ndarray of int of shape (n_samples,)
        Source domains numbered 0, 1, ...; target domains -1, -2, ...

    Examples
    --------
    >>> import numpy as np
    >>> from skot import pack
    >>> X, y, domain = pack(np.zeros((2, 1)), [np.ones((1, 1)), np.ones((2, 1))], np.array([0.5, 1.5]))
    >>> y.tolist(), domain.tolist()
    ([0.5, 1.5, nan, nan, nan], [0, 0, -1, -2, -2])
    """
    sources = [check_array(x) for x in _as_list(X_source)]
    targets = [check_array(x) for x in _as_list(X_target)]
    X = np.concatenate(sources + targets, axis=0)
    sample_domain = np.concatenate(
        [np.full(len(x), k, dtype=np.int64) for k, x in enumerate(sources)]
        + [np.full(len(x), -k - 1, dtype=np.int64) for k, x in enumerate(targets)]
    )
    if y_source is None:
        return X, None, sample_domain
    labels = [np.asarray(y) for y in _as_list(y_source)]
    if len(labels) != len(sources) or any(len(y) != len(x) for y, x in zip(labels, sources)):
        raise ValueError("y_source must have one label per source row.")
    y = np.concatenate(labels)
    n_target = sum(len(x) for x in targets)
    if y.dtype.kind == "f":
        mask = np.full(n_target, np.nan, dtype=y.dtype)
    else:
        if np.any(y == -1):
            raise ValueError("y_source contains the label -1, which marks target rows.")
        # Unsigned labels (uint8 classes) are widened to a signed type that holds -1.
        dtype = np.promote_types(y.dtype, np.int8) if y.dtype.kind in "iu" else object
        mask = np.full(n_target, -1, dtype=dtype)
    return X, np.concatenate([y.astype(mask.dtype, copy=False), mask]), sample_domain


def infer_sample_domain(n_samples, y=None, sample_domain=None, *, labels_only=True):
    """Integer domain of each row from ``sample_domain``, else from masked labels.

    Without either, every row is in source domain 0. ``y`` must hold one label per row
    (a ValueError says how to pass target points, POT's ``fit(Xs, Xt)`` habit) unless
    ``labels_only`` is False (a final estimator's multi-output ``y``: all rows source).
    """
    y, sample_domain = to_numpy(y), to_numpy(sample_domain)
    y = None if y is None else np.asarray(y)
    labels_fit = y is None or (y.ndim == 1 and len(y) == n_samples)
    if not labels_fit and labels_only:
        raise ValueError(
            f"y has shape {y.shape} for {n_samples} rows of X: y holds one label per row of X "
            "(-1 or NaN marks target rows), not target points. Put the source and target rows "
            "in one X, e.g. X, y, sample_domain = skot.pack(Xs, Xt), then fit(X, sample_domain=sample_domain)."
        )
    if sample_domain is not None:
        return _checked_domains(np.asarray(sample_domain), n_samples)
    domain = np.zeros(n_samples, dtype=np.int64)
    if y is None or not labels_fit:
        return domain
    if y.dtype.kind == "f":
        # NaN is always a masked label; -1 too unless the observed labels are continuous.
        missing = np.isnan(y)
        domain[missing] = -1
        observed = y[~missing]
        if observed.size and type_of_target(observed) != "continuous":
            domain[y == -1] = -1
    elif y.dtype.kind in "iuO":
        domain[np.asarray(y == -1, dtype=bool)] = -1
    return domain


def _checked_domains(sample_domain, n_samples):
    """``sample_domain`` as int64 labels, or a ValueError naming what is wrong with it."""
    if sample_domain.ndim != 1 or len(sample_domain) != n_samples:
        raise ValueError(f"sample_domain has shape {sample_domain.shape}; expected ({n_samples},).")
    kind = sample_domain.dtype.kind
    integral = kind in "iu" or (kind == "f" and bool(np.all(np.mod(sample_domain, 1) == 0)))
    if not integral:
        raise ValueError(f"sample_domain must hold integer domain labels (>= 0: source, < 0: target); got "
                         f"{'booleans' if kind == 'b' else f'dtype {sample_domain.dtype}'}.")
    # Labels beyond int64 (floats such as 1e20) would wrap around when cast.
    if sample_domain.size and float(np.max(np.abs(sample_domain.astype(np.float64)))) >= 2.0**62:
        raise ValueError("sample_domain labels must lie within +-2**62.")
    return sample_domain.astype(np.int64)


def domain_weights(X, sample_weight, sample_domain, rows, side, min_samples=2):
    """Weights of ``rows``: each domain gets equal total mass, normalised within it.

    Raises a ValueError for negative weights, or a domain with fewer than
    ``min_samples`` samples of positive weight.
    """
    # Weights are metadata: checked and normalised on the host, whatever the namespace of X.
    if sample_weight is None:
        weights = np.ones(X.shape[0])
    else:
        host_rows = X if isinstance(X, np.ndarray) else np.empty((X.shape[0], 0))
        weights = _check_sample_weight(to_numpy(sample_weight), host_rows, dtype=np.float64, ensure_non_negative=True)
    weights = weights[rows]
    if weights.size and weights.max() > 0:
        weights = weights / weights.max()  # relative masses: sums of weights near 1e308 overflow
    domains = sample_domain[rows]
    out = np.zeros_like(weights)
    labels = np.unique(domains)
    for label in labels:
        members = domains == label
        mass = weights[members].sum()
        count = int(np.count_nonzero(weights[members]))
        if count < min_samples:
            raise ValueError(
                f"{f'The {side} domain' if side else 'Domain'} {label} has {count} "
                f"sample{'s' if count != 1 else ''} with positive weight; at least {min_samples} are needed."
            )
        out[members] = weights[members] / (mass * len(labels))
    return out


@dataclass
class SourceTarget:
    """Source and target point clouds with their (positive) weights.

    ``target`` and ``target_weights`` are None when the data carry no target rows.
    """

    source: np.ndarray
    source_weights: np.ndarray
    target: np.ndarray | None
    target_weights: np.ndarray | None


def _measure_of_rows(X, mask, weights):
    """Rows of ``X`` in ``mask`` with positive weight, and those weights (in X's namespace).

    A contiguous run of rows (the layout of :func:`skot.pack`) is a view, not a copy.
    """
    kept = mask.copy()
    kept[mask] = weights > 0
    rows, weights = np.flatnonzero(kept), weights[weights > 0]
    if array_namespace_of(X) is not np:
        weights = like(weights, X)
    if rows[-1] - rows[0] + 1 == len(rows):
        return X[int(rows[0]) : int(rows[-1]) + 1, ...], weights
    return take_rows(X, kept), weights


def domain_measures(X, domains, sample_weight):
    """The domain labels of ``domains`` (sorted) and the measure of each: its rows of positive
    weight and their weights, normalised within the domain."""
    labels = np.unique(domains)
    return labels, [_measure_of_rows(X, domains == label, domain_weights(X, sample_weight, domains,
                                                                         domains == label, ""))
                    for label in labels]


def by_domain(X, domains, labels, function):
    """Rows of ``X`` replaced, domain by domain, by ``function(k, rows of domain labels[k])``
    (domains without rows are skipped); in X's namespace."""
    parts = [(np.flatnonzero(domains == label), function(k, take_rows(X, domains == label)))
             for k, label in enumerate(labels) if (domains == label).any()]
    return assemble_rows(X, parts)


def split_source_target(X, y, sample_domain, sample_weight):
    """Source and target measures of validated ``X`` (docs/conventions.rst).

    Rows of zero weight are dropped, so that they act exactly as absent rows.
    """
    domains = infer_sample_domain(X.shape[0], y, sample_domain)
    is_source = domains >= 0
    if not is_source.any():
        raise ValueError(
            "No source rows: every row is marked as target (sample_domain < 0 or masked label)."
        )
    source, source_weights = _measure_of_rows(
        X, is_source, domain_weights(X, sample_weight, domains, is_source, "source")
    )
    target_points = target_weights = None
    if (~is_source).any():
        target_points, target_weights = _measure_of_rows(
            X, ~is_source, domain_weights(X, sample_weight, domains, ~is_source, "target")
        )
    return SourceTarget(source, source_weights, target_points, target_weights)


def reference_points(target, n_features, n_samples, random_state):
    """Target points for data with no target rows: ``"normal"``, ``"uniform"`` or an array."""
    if isinstance(target, str):
        rng = check_random_state(random_state)
        if target == "normal":
            return rng.standard_normal((n_samples, n_features))
        return rng.uniform(size=(n_samples, n_features))
    points = check_array(target, dtype=np.float64)
    if points.shape[1] != n_features:
        raise ValueError(
            f"target has {points.shape[1]} features, but X has {n_features} features."
        )
    if points.shape[0] < 2:
        raise ValueError("target must hold at least 2 points.")
    return points
