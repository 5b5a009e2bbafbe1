"""Solvers: pure functions on arrays and geometries, returning result objects."""

from .barycenter import FreeSupportBarycenterResult, barycenter_map_plans, free_support_barycenter
from .class_regularized import PENALTIES, ClassRegularizedResult, class_regularized_transport, label_constrained_cost
from .exact import ExactTransportResult, barycentric_images, displacement_extension, exact_plan, exact_transport
from .gaussian import (
    BuresBarycenterResult,
    bures_barycenter,
    bures_barycenter_maps,
    bures_map,
    bures_wasserstein_distance,
    entropic_gaussian_map,
    fit_gaussian,
    gaussian_ot,
    GaussianOTResult,
    psd_power,
)
from .jdot import JDOTResult, jdot_classification, jdot_regression
from .langevin import conditional_langevin, entropic_conditional_drift, kde_score, scott_bandwidth, unadjusted_langevin
from .path import (SinkhornPath, circular_label_accuracy, circular_path_score, one_standard_error_choice,
                   reverse_validation_path_score, sinkhorn_path)
from .multiscale import multiscale_sinkhorn, use_multiscale
from .semidiscrete import (
    SemiDiscreteResult,
    SGDState,
    cell_barycenters,
    hard_cell_masses,
    learn_target_points,
    semidiscrete_dual,
    semidiscrete_newton,
    semidiscrete_sgd,
    semidual_objective,
)
from .sinkhorn import (
    ClassProportionsResult,
    SinkhornResult,
    conditional_class_proportions,
    log_weighted,
    self_transport_potential,
    sinkhorn,
    sinkhorn_divergence,
    target_class_proportions,
)

__all__ = [
    "PENALTIES", "ClassRegularizedResult", "class_regularized_transport", "label_constrained_cost",
    "barycentric_images", "displacement_extension", "conditional_class_proportions",
    "SemiDiscreteResult", "cell_barycenters", "hard_cell_masses", "learn_target_points", "semidiscrete_dual", "semidiscrete_newton", "semidiscrete_sgd", "SGDState", "semidual_objective",
    "ExactTransportResult", "FreeSupportBarycenterResult", "exact_plan", "exact_transport", "free_support_barycenter", "barycenter_map_plans",
    "JDOTResult", "jdot_classification", "jdot_regression", "conditional_langevin", "entropic_conditional_drift", "kde_score", "scott_bandwidth", "unadjusted_langevin",
    "BuresBarycenterResult", "bures_barycenter", "bures_barycenter_maps",
    "bures_map", "bures_wasserstein_distance", "entropic_gaussian_map", "fit_gaussian", "gaussian_ot", "GaussianOTResult", "psd_power",
    "SinkhornPath", "circular_label_accuracy", "circular_path_score", "one_standard_error_choice",
    "reverse_validation_path_score", "sinkhorn_path",
    "ClassProportionsResult", "target_class_proportions", "SinkhornResult", "log_weighted", "multiscale_sinkhorn", "use_multiscale", "sinkhorn", "sinkhorn_divergence", "self_transport_potential"]
