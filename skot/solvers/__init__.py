"""Solvers: pure functions on arrays and geometries, returning result objects."""

from .sinkhorn import SinkhornResult, sinkhorn, sinkhorn_divergence, self_transport_potential

__all__ = ["SinkhornResult", "sinkhorn", "sinkhorn_divergence", "self_transport_potential"]
