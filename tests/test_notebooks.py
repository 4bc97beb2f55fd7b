"""Every notebook in notebooks/ executes top to bottom (nbclient); an error in a cell fails the
test, and each notebook must produce its figures (saved files, and inline images where it draws inline)."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
#: seconds a single cell may take (the notebooks run on small inputs)
CELL_TIMEOUT_S = 600
#: figures each notebook must save (lines "saved <path>" naming a PNG) and show inline (image/png outputs)
FIGURES = {
    "01_build_a_fusion_system": {"saved": 1, "inline": 0},
    "02_analyse_a_fusion_trajectory": {"saved": 3, "inline": 3},
    "03_sweep_results": {"saved": 2, "inline": 2},
}


def test_notebook_sources_are_current():
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_notebooks", NOTEBOOK_DIR / "make_notebooks.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert sorted(mod.NOTEBOOKS) == [p.name for p in NOTEBOOKS]
    for p in NOTEBOOKS:
        cells = [c for c in nbformat.read(p, as_version=4).cells]
        want = mod.NOTEBOOKS[p.name]
        assert [(("md" if c.cell_type == "markdown" else "code"), c.source) for c in cells] == want, \
            f"{p.name} is stale: regenerate with 'python notebooks/make_notebooks.py'"


def test_every_notebook_has_figure_expectations():
    assert sorted(FIGURES) == [p.stem for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes_and_draws(path: Path, tmp_path: Path):
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError on any failing cell
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    text = "\n".join(o.get("text", "") for o in outputs)
    saved = [line.split("saved", 1)[1].strip() for line in text.splitlines() if line.startswith("saved")]
    pngs = [p for p in saved if p.endswith(".png")]
    want = FIGURES.get(path.stem, {"saved": 1, "inline": 0})
    assert len(pngs) >= want["saved"], f"{path.name} saved {len(pngs)} figures, expected {want['saved']}"
    for p in saved:
        assert Path(p).stat().st_size > 1000, f"{p} is (nearly) empty"
    inline = [o for o in outputs if o.get("output_type") in ("display_data", "execute_result")
              and "image/png" in o.get("data", {})]
    assert len(inline) >= want["inline"], f"{path.name} shows {len(inline)} figures inline, expected {want['inline']}"
