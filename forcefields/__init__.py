"""Force-field data (OpenMM ForceField XML) shipped with snarefuse."""
