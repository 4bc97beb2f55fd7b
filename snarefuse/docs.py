"""Generate the reference documentation from the code: every spec field (from
``spec.FIELD_DOCS``) and every CLI command and option (from the click definitions).

    python -m snarefuse.docs docs/reference
"""

from __future__ import annotations

import sys
from pathlib import Path

import click


def spec_reference() -> str:
    from .spec import FIELD_DOCS

    lines = ["# Spec reference", "", "Generated from `snarefuse.spec.FIELD_DOCS` by `python -m snarefuse.docs`; "
             "do not edit by hand.", "",
             "Quantities accept units (`\"0.88 nm\"`, `\"310 K\"`, `\"0.01 tau\"`); bare numbers are in MD units "
             "(nm, ps, K, amu, kJ/mol).", "", "| field | accepts | default | meaning |", "|---|---|---|---|"]
    for path, (kind, default, text) in FIELD_DOCS.items():
        lines.append(f"| `{path}` | {kind} | {default} | {text} |")
    return "\n".join(lines) + "\n"


def cli_reference() -> str:
    from .cli import main

    lines = ["# CLI reference", "", "Generated from the click definitions by `python -m snarefuse.docs`; "
             "do not edit by hand.", ""]

    def walk(cmd: click.Command, path: list[str], parent: click.Context | None) -> None:
        # contexts chained as on the command line, so that subcommands inherit the group's settings
        # (help option names) exactly as a user sees them
        ctx = cmd.make_context(path[-1], [], parent=parent, resilient_parsing=True, terminal_width=100,
                               max_content_width=100)
        lines.extend([f"## `{' '.join(path)}`", "", "```", cmd.get_help(ctx), "```", ""])
        if isinstance(cmd, click.Group):
            for name in sorted(cmd.list_commands(ctx)):
                sub = cmd.get_command(ctx, name)
                if sub is not None:
                    walk(sub, path + [name], ctx)

    walk(main, ["snarefuse"], None)
    return "\n".join(lines)


def write_reference(directory: str | Path) -> list[Path]:
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    out = []
    for name, text in (("spec.md", spec_reference()), ("cli.md", cli_reference())):
        (d / name).write_text(text)
        out.append(d / name)
    return out


if __name__ == "__main__":  # pragma: no cover
    for p in write_reference(sys.argv[1] if len(sys.argv) > 1 else "docs/reference"):
        print(p)
