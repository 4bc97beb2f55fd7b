"""The generated reference covers every spec field and CLI option, the committed copy is current, and every
relative link in docs/ points to an existing file."""

from __future__ import annotations

import re
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


DOC_PAGES = sorted((DOCS.parent).rglob("*.md"))
#: Markdown links and images: [text](target) / ![alt](target); the target up to whitespace or ')'.
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def _relative_links(text: str) -> list[str]:
    text = re.sub(r"```.*?```", "", text, flags=re.DOTALL)  # links inside code blocks are not links
    return [t for t in _LINK.findall(text) if not re.match(r"^[a-z][a-z0-9+.-]*:", t) and not t.startswith("#")]


def test_link_checker_finds_links():
    assert _relative_links("see [a](x.md#y), ![b](img/p.png), [c](https://e.org) and [d](#here)") == ["x.md#y", "img/p.png"]


@pytest.mark.parametrize("page", DOC_PAGES, ids=[str(p.relative_to(DOCS.parent)) for p in DOC_PAGES])
def test_relative_links_in_docs_point_to_existing_files(page: Path):
    broken = [t for t in _relative_links(page.read_text()) if not (page.parent / t.split("#", 1)[0]).exists()]
    assert not broken, f"{page.relative_to(DOCS.parents[1])}: links to missing files: {broken}"
