"""``snarefuse export``: a build for LAMMPS, HOOMD-blue (GSD) and VMD. Thin commands over
:mod:`snarefuse.export`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

_OUTPUT = click.option("-o", "--output", "out_dir", default=None, type=click.Path(file_okay=False),
                       help="Directory to write into (created; default: BUILD_DIR/export/<format>).")


def _export(fmt: str, build_dir: str, out_dir: str | None) -> None:
    from .errors import SnarefuseError
    from .export import gsd, lammps, vmd

    writer = {"lammps": lammps.export_lammps, "gsd": gsd.export_gsd, "vmd": vmd.export_vmd}[fmt]
    from .rundir import RunDirectory

    out = Path(out_dir) if out_dir is not None else RunDirectory(build_dir).export_dir(fmt)
    try:
        files = writer(build_dir, out)
    except SnarefuseError as e:
        click.echo(f"Error: {e}", err=True)
        sys.exit(2)
    for f in files:
        click.echo(f"wrote {f}")


@click.group()
def export() -> None:
    """Export a build (a directory written by 'snarefuse build') for another engine or viewer."""


@export.command("lammps")
@click.argument("build_dir", type=click.Path(file_okay=False))
@_OUTPUT
def export_lammps(build_dir: str, out_dir: str | None) -> None:
    """LAMMPS: system.data (atom_style bond, units lj) and in.lammps (pair_style cosine/squared, bond_style fene +
    harmonic, SNARE contacts as lepton bonds, the spec's Langevin dynamics; the membrane barostat is not exported).
    Run with 'lmp -in in.lammps' in the output directory."""
    _export("lammps", build_dir, out_dir)


@export.command("gsd")
@click.argument("build_dir", type=click.Path(file_okay=False))
@_OUTPUT
def export_gsd(build_dir: str, out_dir: str | None) -> None:
    """HOOMD-blue: system.gsd (particles, types, bonds, box; reduced units, the mapping in log/snarefuse/*).
    Needs the gsd package: pip install 'snarefuse[export]'."""
    _export("gsd", build_dir, out_dir)


@export.command("vmd")
@click.argument("build_dir", type=click.Path(file_okay=False))
@_OUTPUT
def export_vmd(build_dir: str, out_dir: str | None) -> None:
    """VMD: view.vmd (heads, tails, lumen gas, SNARE helices coloured, TMDs, bonds, periodic images in x and y);
    open with 'vmd -e view.vmd'."""
    _export("vmd", build_dir, out_dir)
