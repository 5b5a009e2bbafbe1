r"""
Semi-discrete OT: Laguerre cells
================================

:class:`~skot.SemiDiscreteMap` finds the weights g of 12 target points so that each
Laguerre cell :math:`\{x : g_j - |x - y_j|^2 \text{ is maximal}\}` receives its prescribed
mass from the uniform square; the second panel learns 12 points with equal masses
(capacity-constrained quantization).
"""

# %%
# Given points with masses 1 to 3, and 12 points learned from the samples.
import matplotlib.pyplot as plt
import numpy as np

from skot import SemiDiscreteMap, pack

rng = np.random.default_rng(0)
source = rng.uniform(size=(50_000, 2))
points = rng.uniform(0.1, 0.9, size=(12, 2))
X, _, sample_domain = pack(source, points)
weights = np.r_[np.ones(len(source)), np.linspace(1.0, 3.0, 12)]
fixed = SemiDiscreteMap().fit(X, sample_domain=sample_domain, sample_weight=weights)
learned = SemiDiscreteMap(target=12, random_state=0).fit(source)
print(f"cell masses {np.round(fixed.cell_masses_, 4)}")

# %%
# Each colour is a cell; a point's size shows its mass.
grid = np.stack(np.meshgrid(np.linspace(0, 1, 400), np.linspace(0, 1, 400)), axis=-1).reshape(-1, 2)
fig, axes = plt.subplots(1, 2, figsize=(12, 6))
for ax, model, title in [(axes[0], fixed, "given points, masses 1 : 3"),
                         (axes[1], learned, "12 learned points, equal masses")]:
    ax.imshow(model.predict(grid).reshape(400, 400), origin="lower", extent=(0, 1, 0, 1), cmap="tab20", alpha=0.8)
    ax.scatter(*model.target_points_.T, c="k", s=30 + 400 * model.target_weights_)
    error = np.abs(model.cell_masses_ / model.target_weights_ - 1).max()
    ax.set_title(f"{title}\nlargest relative cell-mass error on the fit samples: {error:.1e}")
plt.show()
