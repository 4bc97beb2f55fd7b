"""The documentation site (mkdocs.yml) builds in strict mode: a broken link or anchor in docs/, a nav entry
without a page, or a docstring mkdocstrings cannot parse fails the build, and so this test."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _missing() -> list[str]:
    out = []
    for mod in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python", "mkdocs_jupyter"):
        try:
            found = importlib.util.find_spec(mod) is not None
        except ModuleNotFoundError:  # the parent package is missing
            found = False
        if not found:
            out.append(mod)
    return out


pytestmark = pytest.mark.skipif(bool(_missing()), reason=f"docs packages not installed ({', '.join(_missing())}): "
                                                          "pip install -e \".[docs]\" (also in the test extra)")


def _build(config: Path, out: Path, execute_notebooks: bool = False) -> tuple[int, list[str], str]:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1",
           "SNAREFUSE_SITE_EXECUTE_NOTEBOOKS": "true" if execute_notebooks else "false"}
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(out)],
                       cwd=config.parent, env=env, capture_output=True, text=True, timeout=300)
    # mkdocs's own warnings; the Jupyter kernel that executes the notebooks logs its transport notice as
    # "[IPKernelApp] WARNING", which says nothing about the site
    return r.returncode, [line for line in r.stderr.splitlines()
                          if ("WARNING" in line or "ERROR" in line) and not line.startswith("[IPKernelApp]")], r.stderr


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    # the notebooks are executed at build time (small inputs), so the site shows their outputs and figures
    rc, warnings, stderr = _build(ROOT / "mkdocs.yml", out, execute_notebooks=True)
    assert rc == 0 and not warnings, \
        f"mkdocs build --strict failed (exit {rc}):\n" + "\n".join(warnings or stderr.splitlines()[-30:])
    return out


def test_site_builds_in_strict_mode_with_every_page(site: Path):
    for page in ("index.html", "reference/spec/index.html", "reference/cli/index.html", "BENCHMARKS/index.html"):
        assert (site / page).is_file(), f"{page} missing from the site"
    for md in (ROOT / "docs").glob("*.md"):
        assert md.stem == "index" or (site / md.stem / "index.html").is_file(), f"docs/{md.name} not in the site"


def test_api_pages_are_rendered_from_the_docstrings(site: Path):
    html = (site / "api" / "analysis" / "index.html").read_text()
    assert 'id="snarefuse.analysis.FusionAnalysis"' in html and "detect_pore" in html
    assert 'id="snarefuse.spec.load_spec"' in (site / "api" / "spec" / "index.html").read_text()
    # Sphinx roles in the docstrings (:class:`X`) are links or code on the site, never shown as written
    pages = {p: p.read_text() for p in (site / "api").rglob("index.html")}
    left = [str(p.relative_to(site)) for p, text in pages.items()
            if re.search(r":(func|class|meth|mod|data):<code", text)]
    assert not left, f"Sphinx roles shown literally in {left}"
    assert 'class="autorefs autorefs-internal"' in html


def test_links_to_files_beside_docs_reach_the_sites_copies(site: Path):
    # docs/index.md links to ../notebooks/*.ipynb and ../BENCHMARKS.md, as a reader of the repository needs;
    # the site carries those files and the links point at them
    html = (site / "index.html").read_text()
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert f'href="notebooks/{nb.stem}/"' in html  # the notebook's page (mkdocs-jupyter)
    assert 'href="BENCHMARKS/"' in html


def test_notebooks_are_pages_with_their_source_and_outputs(site: Path):
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        page = site / "notebooks" / nb.stem
        assert (page / nb.name).is_file(), f"{nb.name}: the .ipynb is not downloadable beside its page"
        html = (page / "index.html").read_text()
        assert "make_notebooks" not in html and "import" in html, f"{nb.name}: its code is not on its page"
        if not nb.stem.startswith("01"):  # 01 saves its figure to a file; 02 and 03 show theirs in the notebook
            assert re.search(r'<img[^>]+src="data:image/png;base64,', html), f"{nb.name}: no figure on its page"


def test_strict_build_fails_on_a_broken_link_or_anchor(tmp_path: Path):
    # the same configuration on a copy of the pages, one of which gains a link to a missing page and one to a
    # missing heading: the build must fail and name both (so a passing site build means there is no such link)
    for name in ("mkdocs.yml", "BENCHMARKS.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    for name in ("docs", "notebooks", "snarefuse"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    (tmp_path / "bench" / "results").mkdir(parents=True)
    for p in (ROOT / "bench" / "results").glob("*.png"):
        shutil.copy(p, tmp_path / "bench" / "results" / p.name)
    units = tmp_path / "docs" / "units.md"
    units.write_text(units.read_text() + "\nSee [a page](no_such_page.md) and [a heading](model.md#no-such-heading).\n")
    rc, warnings, _ = _build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert rc != 0
    assert any("no_such_page.md" in w for w in warnings), warnings
    assert any("no-such-heading" in w for w in warnings), warnings
