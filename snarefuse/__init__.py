"""snarefuse: coarse-grained molecular dynamics of SNARE-mediated membrane fusion on OpenMM."""

__version__ = "0.1.0"
