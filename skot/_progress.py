"""Progress of long fits through the standard ``logging`` module (the ``"skot"`` logger).

An estimator with ``verbose >= 1`` reports its iterating solvers' state (iteration, error
against the tolerance, elapsed time) at INFO level, one line every ``5 / verbose`` seconds
at most over all the solver runs of a fit (a run's last line too when the run was that
long), and one line when the fit ends (:func:`fitted`); ``verbose >= 2`` draws a bar
of the stages known in advance (multiscale levels, annealing stages, iterations against
``max_iter``). When the
application has configured no logging at all, a handler on standard error is added to the
``"skot"`` logger the first time, and its level set to INFO unless the application set
one (configure ``logging`` yourself to route the lines elsewhere or silence them).
"""

import logging
import sys
import time

logger = logging.getLogger("skot")

REPORT_INTERVAL = 5.0  # seconds between two lines at verbose=1
_last_line = [-float("inf")]  # when the last solver line was logged, by any run


def _ensure_visible():
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("[skot] %(message)s"))
        logger.addHandler(handler)
    if logger.level == logging.NOTSET:  # a level the application set is left alone
        logger.setLevel(logging.INFO)


class Progress:
    """Rate-limited progress lines of one solver run; a no-op when ``verbose`` is 0.

    Parameters
    ----------
    name : str
        What runs (``"sinkhorn"``, ``"multiscale level 2/5"``, ...).
    verbose : int
    tol : float or None
        The tolerance the reported errors are compared with.
    """

    def __init__(self, name, verbose, tol=None):
        self.name, self.tol = name, tol
        self.enabled = bool(verbose) and verbose > 0
        self.bars = self.enabled and verbose >= 2
        self.interval = REPORT_INTERVAL / verbose if self.enabled else float("inf")
        self.start = time.perf_counter()
        if self.enabled:
            _ensure_visible()

    def _line(self, iteration, error, note):
        parts = [f"{self.name}: iteration {iteration}"]
        if error is not None:
            parts.append(f"error {error:.3e}" + (f" (tol {self.tol:g})" if self.tol is not None else ""))
        parts.append(f"{time.perf_counter() - self.start:.1f} s")
        if note:
            parts.append(note)
        logger.info(", ".join(parts))

    def __call__(self, iteration, error=None, note=""):
        """Report, if the last line (of any run) is older than the interval."""
        now = time.perf_counter()
        if self.enabled and now - _last_line[0] >= self.interval:
            _last_line[0] = now
            self._line(iteration, error, note)

    def bar(self, done, total, width=20):
        """``[######......] done/total`` at ``verbose >= 2``, else an empty string."""
        if not self.bars or total <= 0:
            return ""
        filled = min(width, round(width * done / total))
        return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total}"

    def done(self, iteration, error=None, converged=True, note=""):
        """The run's last line, when the run or the silence before it lasted the interval."""
        now = time.perf_counter()
        if self.enabled and (now - self.start >= self.interval or now - _last_line[0] >= self.interval):
            _last_line[0] = now
            self._line(iteration, error, ", ".join(part for part in (
                "converged" if converged else "stopped at max_iter", note) if part))


def fitted(estimator, start):
    """The line that ends a fit of ``estimator`` begun at ``start`` (perf_counter), if verbose."""
    if getattr(estimator, "verbose", 0) > 0:
        _ensure_visible()
        iterations = getattr(estimator, "n_iter_", None)
        logger.info(f"{type(estimator).__name__}: fitted in {time.perf_counter() - start:.1f} s"
                    + ("" if iterations is None else f", {iterations} iterations"))
