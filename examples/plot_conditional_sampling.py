r"""
Sampling the entropic coupling
==============================

:math:`\pi(\cdot \mid x)` for a few source points x. Source: a Gaussian blob; target: a
noisy ring. :meth:`~skot.SinkhornTransport.sample` draws from the conditional coupling,
either among the target samples ("discrete") or anywhere in the plane by Langevin
dynamics on :math:`\pi(y \mid x) \propto e^{(g(y) - |x - y|^2) / \varepsilon} \nu(y)`, with
the target score from a kernel density estimate.
"""

# %%
# The two clouds and the entropic coupling between them.
import matplotlib.pyplot as plt
import numpy as np

from skot import SinkhornTransport, pack

rng = np.random.default_rng(0)
source = rng.normal(size=(800, 2)) * 0.5
angle = rng.uniform(0, 2 * np.pi, 800)
target = np.c_[np.cos(angle), np.sin(angle)] * (2.0 + 0.15 * rng.normal(size=(800, 1))) + [4.0, 0.0]
X, _, sample_domain = pack(source, target)
model = SinkhornTransport(reg=0.02).fit(X, sample_domain=sample_domain)

# %%
# 300 draws from pi(. | x) for three anchors x, both ways.
anchors = np.array([[-0.6, 0.0], [0.5, 0.5], [0.2, -0.7]])
discrete = model.sample(anchors, 300, random_state=0)
langevin = model.sample(anchors, 300, method="langevin", n_steps=300, random_state=0)
spread = np.linalg.norm(langevin - langevin.mean(axis=1, keepdims=True), axis=2).mean()
print(f"{langevin.shape[1]} Langevin draws per anchor, mean spread {spread:.3f}")

# %%
# Stars: the anchors; crosses: the entropic map T(x), the mean of each conditional.
fig, axes = plt.subplots(1, 2, figsize=(12, 5), sharex=True, sharey=True)
colours = ["tab:red", "tab:green", "tab:purple"]
for ax, draws, title in [(axes[0], discrete, "discrete: target samples from the plan"),
                         (axes[1], langevin, "Langevin: continuous draws (KDE score)")]:
    ax.scatter(*source.T, s=3, c="lightgrey", label="source")
    ax.scatter(*target.T, s=3, c="tan", label="target")
    for k, (anchor, cloud, colour) in enumerate(zip(anchors, draws, colours)):
        ax.scatter(*cloud.T, s=4, c=colour, alpha=0.5, label=f"draws for anchor {k}")
        ax.scatter(*anchor, s=80, c=colour, marker="*", edgecolors="k")
        ax.scatter(*model.transform(anchor[None])[0], s=80, c=colour, marker="X", edgecolors="k")
    ax.set_title(title)
    ax.set_aspect("equal")
axes[0].legend(loc="upper left", fontsize=8, markerscale=3)
fig.suptitle(f"pi(. | x) for three x; eps = {model.epsilon_:.3f}")
plt.show()
