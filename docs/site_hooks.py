"""MkDocs hooks of the documentation site (mkdocs.yml): what the Markdown pages in docs/ cannot say themselves.

The pages are written to be read both in the repository and on the site, so they link to files beside docs/
(``../BENCHMARKS.md``, ``../notebooks/*.ipynb``). MkDocs only knows files under docs/; rather than copying those
files into docs/ (two copies to keep in step), the hooks add them to the site under the same relative layout and
rewrite the links that leave docs/ to point at the added copies. Links to anything else outside docs/ are left as
they are, so ``mkdocs build --strict`` still reports them.

The API reference pages are generated here too (one page per public module, rendered by mkdocstrings from the
docstrings), so there is no hand-kept list of ``::: module`` stubs in docs/ to fall out of step with the code.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]

_LINK = re.compile(r"(!?\[[^\]]*\]\(\s*<?)([^)\s>#]+)")


def _linked_files(rel: str) -> list[str]:
    """The existing repository files that the Markdown file ``rel`` (relative to the root) links to."""
    out = []
    for _, target in _LINK.findall((ROOT / rel).read_text()):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            continue
        linked = posixpath.normpath(posixpath.join(posixpath.dirname(rel), target))
        if not linked.startswith("../") and (ROOT / linked).is_file():
            out.append(linked)
    return out


#: files outside docs/ that the pages link to, added to the site at the same path relative to the repository root,
#: with what BENCHMARKS.md itself links to (its figures)
EXTRA_FILES = ["BENCHMARKS.md", *_linked_files("BENCHMARKS.md"),
               *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "notebooks").glob("*.ipynb"))]

#: the public modules, one API page each (api/<module>.md); the order is the nav's
API_MODULES = {
    "snarefuse.spec": "Specs",
    "snarefuse.build": "Building systems",
    "snarefuse.runner": "Running",
    "snarefuse.rundir": "Run directories",
    "snarefuse.protocol": "Run protocols",
    "snarefuse.events": "In-run events",
    "snarefuse.analysis": "Analysis",
    "snarefuse.plot": "Plots",
    "snarefuse.render": "Rendering",
    "snarefuse.sweep": "Sweeps",
    "snarefuse.sweep_results": "Sweep results",
    "snarefuse.export": "Exports",
    "snarefuse.units": "Units",
    "snarefuse.platforms": "Platforms",
    "snarefuse.forcefield": "Force fields",
    "snarefuse.reference": "Reference implementations",
    "snarefuse.errors": "Errors",
}


def api_page(module: str) -> str:
    return f"api/{module.removeprefix('snarefuse.')}.md"


# before the plugins' on_files, so that mkdocs-jupyter sees the notebooks added here and renders them as pages
@event_priority(50)
def on_files(files: Files, config) -> Files:  # noqa: ANN001 - MkDocs' config object
    for rel in EXTRA_FILES:
        # an ordinary File with the repository root as its source directory (not File.generated: mkdocs-jupyter's
        # wrapper of a notebook does not see a generated file's source path)
        files.append(File(rel, src_dir=str(ROOT), dest_dir=config["site_dir"],
                          use_directory_urls=config["use_directory_urls"]))
    for module, title in API_MODULES.items():
        files.append(File.generated(config, api_page(module), content=f"# {title}: `{module}`\n\n::: {module}\n"))
    return files


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ANN001 - MkDocs' objects
    """Point links that leave docs/ for one of EXTRA_FILES at the site's copy (relative to the page)."""
    page_dir = posixpath.dirname(page.file.src_uri)
    docs_rel = Path(config["docs_dir"]).resolve().relative_to(ROOT).as_posix()

    def fix(m: re.Match) -> str:
        target = m.group(2)
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or not target.startswith("../"):
            return m.group(0)
        in_repo = posixpath.normpath(posixpath.join(docs_rel, page_dir, target))
        if in_repo not in EXTRA_FILES:
            return m.group(0)
        return m.group(1) + posixpath.relpath(in_repo, page_dir or ".")

    return _LINK.sub(fix, markdown)


#: a Sphinx role left in a docstring as mkdocstrings renders it: ``:func:`~a.b.c` `` -> ``:func:<code>~a.b.c</code>``
_ROLE = re.compile(r":(?:func|class|meth|mod|attr|data|exc|obj):<code>(~?)([\w.]+)(\(\))?</code>")


def on_page_content(html: str, page, config, files) -> str:  # noqa: ANN001 - MkDocs' objects
    """Sphinx roles in the docstrings (they are also read with help() and in editors) become links to the API pages
    where the name resolves (mkdocs-autorefs; ``optional``: no warning where it does not), code otherwise."""

    def link(m: re.Match) -> str:
        tilde, name, call = m.groups()
        shown = (name.rsplit(".", 1)[-1] if tilde else name.lstrip(".")) + (call or "")
        if name.startswith("."):  # relative to the documented object: not resolvable here
            return f"<code>{shown}</code>"
        return f'<autoref identifier="{name}" optional><code>{shown}</code></autoref>'

    return _ROLE.sub(link, html)

