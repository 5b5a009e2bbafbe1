"""
Quickstart: entropic OT map between two point clouds
====================================================

Align a generated source point cloud onto a target with entropic optimal transport:
fit :class:`~skot.SinkhornTransport`, map the source and new points, and look at the
result (``python examples/quickstart.py`` also saves ``examples/quickstart.png``).
"""

# %%
# Two clouds: a source "two moons" and a target of the same shape, stretched, rotated and
# moved. :func:`skot.pack` stacks them into one ``X``; the target rows get the masked
# label -1.
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_moons

from skot import SinkhornTransport, pack

x_source, y_source = make_moons(600, noise=0.08, random_state=0)
x_target, _ = make_moons(800, noise=0.08, random_state=1)
angle = np.pi / 5
rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
x_target = (x_target * [1.4, 0.8]) @ rotation.T + [2.5, 1.5]
X, y_masked, _ = pack(x_source, x_target, y_source)

# %%
# Fit and map the source rows. ``reg`` is the entropic regularisation in units of the
# mean cost, so the same value means the same smoothing on any data.
model = SinkhornTransport(reg=0.01)
mapped = model.fit_transform(X, y_masked)[: len(x_source)]
print(f"{model.n_iter_} Sinkhorn iterations on {model.backend_}, epsilon {model.epsilon_:.4f}")
print(f"transport cost <C, P> = {model.transport_cost_:.4f}")
print(f"means: source {x_source.mean(0).round(3)}, mapped {mapped.mean(0).round(3)}, "
      f"target {x_target.mean(0).round(3)}")
print(f"score (minus the Sinkhorn divergence, higher is better): {model.score(X, y_masked):.4f}")

# %%
# The map is defined at any point, new ones included, and stays finite however far.
new_points = np.array([[0.0, 0.5], [1.0, -0.4], [50.0, 50.0]])
for point, image in zip(new_points, model.transform(new_points)):
    print(f"new point {point} -> {image.round(3)}")

# %%
# Each source moon lands on its image in the target.
fig, ax = plt.subplots(figsize=(7, 5))
ax.scatter(*x_source.T, s=6, c="tab:blue", alpha=0.4, label="source")
ax.scatter(*x_target.T, s=6, c="tab:orange", alpha=0.4, label="target")
for label, colour in ((0, "tab:red"), (1, "tab:green")):
    ax.scatter(*mapped[y_source == label].T, s=6, c=colour, label=f"mapped source, moon {label}")
ax.legend(loc="upper left", fontsize=8, markerscale=2)
ax.set_title("SinkhornTransport: the source mapped onto the target")
ax.set_aspect("equal")
fig.savefig(Path(sys.argv[0]).with_name("quickstart.png"), dpi=120, bbox_inches="tight")
