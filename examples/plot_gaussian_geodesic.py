"""
Gaussian (Bures-Wasserstein) maps and the McCann geodesic
=========================================================

:class:`~skot.GaussianBuresMap` between two elongated, rotated point clouds: the source
transported to t = 0.25, 0.5, 0.75 and 1 on the McCann geodesic, and the entropic maps
for comparison.
"""

# %%
# Two anisotropic clouds.
import matplotlib.pyplot as plt
import numpy as np

from skot import GaussianBuresMap, pack

rng = np.random.default_rng(0)
source = rng.normal(size=(500, 2)) @ np.array([[2.0, 0.0], [0.0, 0.3]])
rotation = np.array([[np.cos(np.pi / 3), -np.sin(np.pi / 3)], [np.sin(np.pi / 3), np.cos(np.pi / 3)]])
target = (rng.normal(size=(500, 2)) @ np.array([[1.0, 0.0], [0.0, 0.15]])) @ rotation.T + [6.0, 2.0]
X, _, sample_domain = pack(source, target)
full = GaussianBuresMap().fit(X, sample_domain=sample_domain)
print(f"W2 between the Gaussian fits: {full.distance_:.4f}")

# %%
# Left: points along the geodesic (``t``); right: the entropic maps (``entropic_reg``),
# which shrink towards the target mean as the regularisation grows.
fig, axes = plt.subplots(1, 2, figsize=(12, 5))
axes[0].scatter(*source.T, s=4, alpha=0.4, color="C0", label="source")
axes[0].scatter(*target.T, s=4, alpha=0.4, color="C1", label="target")
for colour, t in zip(("C2", "C3", "C4"), (0.25, 0.5, 0.75)):
    model = GaussianBuresMap(t=t).fit(X, sample_domain=sample_domain)
    axes[0].scatter(*model.transform(source).T, s=2, alpha=0.5, color=colour, label=f"t = {t}")
axes[0].scatter(*full.transform(source).T, s=2, color="k", alpha=0.3, label="t = 1 (mapped source)")
axes[0].set_title(f"McCann geodesic, W2 = {full.distance_:.3f}")
axes[1].scatter(*target.T, s=4, alpha=0.3, color="C1", label="target")
for colour, eps in zip(("k", "C5", "C6"), (0.0, 1.0, 4.0)):
    model = GaussianBuresMap(entropic_reg=eps).fit(X, sample_domain=sample_domain)
    axes[1].scatter(*model.transform(source).T, s=2, alpha=0.5, color=colour, label=f"entropic_reg = {eps}")
axes[1].set_title("entropic Gaussian maps")
for ax in axes:
    ax.legend(fontsize=7, markerscale=3)
    ax.set_aspect("equal")
plt.show()
