"""Example system specs (YAML) shipped with snarefuse."""
