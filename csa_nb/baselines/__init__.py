"""The methods the paper compares against: trainable baselines registered with `csa_nb.networks.register_model`
(`pconv`, `gated`, `ca`, `shift`) and classical training-free `inpaint_fn`s (`telea`, `navier_stokes`, `biharmonic`, `shiftmap`).
Importing this package registers the trainable ones."""
from .classical import CLASSICAL_METHODS, classical_inpaint_fn, telea, navier_stokes, biharmonic, shiftmap
from . import pconv, gated, contextual, shiftnet

__all__ = ["CLASSICAL_METHODS", "classical_inpaint_fn", "telea", "navier_stokes", "biharmonic", "shiftmap",
           "pconv", "gated", "contextual", "shiftnet"]
