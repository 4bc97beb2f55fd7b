"""The generated reference covers every spec field and CLI option, and the committed copy is current."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from snarefuse.cli import main
from snarefuse.docs import cli_reference, spec_reference
from snarefuse.spec import FIELD_DOCS, documented_paths, example_spec_path, load_spec

DOCS = Path(__file__).resolve().parents[1] / "docs" / "reference"
EXAMPLES = sorted(p.stem for p in example_spec_path("bilayer_small").parent.glob("*.yaml") if "sweep" not in p.stem)


@pytest.mark.parametrize("example", EXAMPLES)
def test_every_field_of_every_example_is_documented(example):
    missing = documented_paths(load_spec(example_spec_path(example))) - set(FIELD_DOCS)
    assert not missing, f"spec fields without an entry in snarefuse.spec.FIELD_DOCS: {sorted(missing)}"


def test_every_documented_field_is_in_the_generated_reference():
    text = spec_reference()
    for path in FIELD_DOCS:
        assert f"`{path}`" in text


def _options(cmd: click.Command, ctx: click.Context):
    for p in cmd.params:
        yield from getattr(p, "opts", [])
    if isinstance(cmd, click.Group):
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            yield from _options(sub, click.Context(sub, info_name=name))


def test_every_cli_option_is_in_the_generated_reference():
    text = cli_reference()
    ctx = click.Context(main, info_name="snarefuse")
    for name in main.list_commands(ctx):
        assert f"`snarefuse {name}" in text
    for opt in _options(main, ctx):
        if opt.startswith("-"):
            assert opt in text, f"CLI option {opt} missing from the generated reference"


@pytest.mark.parametrize("name,generate", [("spec.md", spec_reference), ("cli.md", cli_reference)])
def test_committed_reference_is_current(name, generate):
    assert (DOCS / name).read_text() == generate(), \
        f"docs/reference/{name} is stale: regenerate with 'python -m snarefuse.docs docs/reference'"
