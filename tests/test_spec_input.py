"""Hostile spec and sweep files: a FIFO, a device, a huge file, a YAML alias bomb. Each is refused quickly
with a SpecError naming the file, and no error message grows with the value it quotes."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from snarefuse.errors import SpecError
from snarefuse.quantities import MAX_SHOWN_CHARS, show_value
from snarefuse.spec import Spec, example_spec_path, load_spec
from snarefuse.sweep import Sweep
from snarefuse.yaml_input import MAX_EXPANDED_NODES, MAX_INPUT_BYTES, expanded_size

#: Seconds within which every refusal here must come back (the unfixed code hung or ran for minutes).
QUICK_S = 10.0


def _bomb_yaml(levels: int = 9, width: int = 9) -> str:
    """A flow list whose last element expands to width**levels integers through aliases (a 'billion laughs')."""
    parts = [f"&l0 [{', '.join(['1'] * width)}]"]
    for i in range(1, levels):
        parts.append(f"&l{i} [{', '.join([f'*l{i - 1}'] * width)}]")
    return "[" + ", ".join(parts) + "]"


def _in_thread(fn):
    """Run ``fn`` in a daemon thread; return (finished, exception) after at most QUICK_S seconds."""
    box: dict[str, BaseException | None] = {"exc": None}

    def target() -> None:
        try:
            fn()
        except BaseException as e:  # noqa: BLE001 - handed to the test
            box["exc"] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(QUICK_S)
    return not t.is_alive(), box["exc"]


def test_a_fifo_as_spec_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)
    done, exc = _in_thread(lambda: load_spec(fifo))
    assert done, "load_spec blocked on a FIFO"
    assert isinstance(exc, SpecError)
    assert str(fifo) in str(exc) and "FIFO" in str(exc)


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero on this system")
def test_dev_zero_as_spec_is_refused_without_reading_it() -> None:
    done, exc = _in_thread(lambda: load_spec("/dev/zero"))
    assert done, "load_spec kept reading /dev/zero"
    assert isinstance(exc, SpecError)
    assert "/dev/zero" in str(exc) and "character device" in str(exc)


def test_a_directory_as_spec_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="directory") as e:
        load_spec(tmp_path)
    assert str(tmp_path) in str(e.value)


def test_a_file_above_the_size_limit_is_refused_with_its_size(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * MAX_INPUT_BYTES + "\nname: big\n")
    with pytest.raises(SpecError) as e:
        load_spec(big)
    assert str(big) in str(e.value) and str(big.stat().st_size) in str(e.value)


@pytest.mark.parametrize("field", ["seed", "name", "system.bilayer.n_lipids"])
def test_an_alias_bomb_in_a_spec_field_is_refused_quickly(tmp_path: Path, field: str) -> None:
    text = example_spec_path("bilayer_small").read_text()
    path = tmp_path / "bomb.yaml"
    key = field.split(".")[-1]
    lines = [ln for ln in text.splitlines() if not ln.strip().startswith(f"{key}:")]
    if field == "system.bilayer.n_lipids":
        i = next(i for i, ln in enumerate(lines) if ln.strip() == "bilayer:")
        indent = " " * (len(lines[i + 1]) - len(lines[i + 1].lstrip()))
        lines.insert(i + 1, f"{indent}n_lipids: {_bomb_yaml()}")
    else:
        lines.insert(0, f"{key}: {_bomb_yaml()}")
    path.write_text("\n".join(lines) + "\n")
    t0 = time.perf_counter()
    done, exc = _in_thread(lambda: load_spec(path))
    assert done and time.perf_counter() - t0 < QUICK_S
    assert isinstance(exc, SpecError)
    assert str(path) in str(exc) and "alias" in str(exc)
    assert len(str(exc)) < 1000


def test_an_alias_bomb_in_a_sweep_is_refused_quickly(tmp_path: Path) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text(f"base: bilayer_small\nworkspace: ws\nreplicas: {_bomb_yaml()}\n"
                    "grid: {system.bilayer.n_lipids: [200]}\n")
    done, exc = _in_thread(lambda: Sweep.from_yaml(path))
    assert done
    assert isinstance(exc, SpecError)
    assert str(path) in str(exc) and "alias" in str(exc)


def _shared_bomb(levels: int = 30) -> list:
    """Nested lists sharing one object per level: 10**levels elements when walked, ~300 bytes in memory."""
    x: list = [1] * 10
    for _ in range(levels):
        x = [x] * 10
    return x


@pytest.mark.parametrize("field", ["seed", "name", "model.kT_over_epsilon", "model.sigma", "run.platform"])
def test_error_messages_quote_a_huge_value_in_bounded_text(field: str) -> None:
    """Without going through YAML (a Python caller), the value still never expands inside the message."""
    data = {"system": {"geometry": "bilayer", "bilayer": {"n_lipids": 200}}}
    node = data
    *parents, leaf = field.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = _shared_bomb()
    done, exc = _in_thread(lambda: Spec.from_dict(data))
    assert done
    assert isinstance(exc, SpecError) and exc.field == field
    assert len(str(exc)) < 3 * MAX_SHOWN_CHARS + 200


def test_a_sweep_grid_of_a_huge_value_errs_in_bounded_text(tmp_path: Path) -> None:
    done, exc = _in_thread(lambda: Sweep("bilayer_small", grid={"seed": _shared_bomb()}, workspace=tmp_path))
    assert done
    assert isinstance(exc, SpecError)
    assert len(str(exc)) < 2000


def test_show_value_is_bounded_and_keeps_short_values_whole() -> None:
    assert show_value("310 K") == "'310 K'"
    assert show_value([1, 2]) == "[1, 2]"
    assert len(show_value("y" * 10**6)) <= MAX_SHOWN_CHARS
    assert len(show_value(_shared_bomb())) <= MAX_SHOWN_CHARS


def test_expanded_size_counts_aliases_as_used_and_stops_at_the_limit() -> None:
    leaf = [1, 2, 3]
    assert expanded_size({"a": leaf, "b": leaf}) == 1 + 4 + 4
    assert expanded_size(_shared_bomb()) == MAX_EXPANDED_NODES + 1
    loop: list = []
    loop.append(loop)
    assert expanded_size(loop) == MAX_EXPANDED_NODES + 1


def test_an_ordinary_spec_with_aliases_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "aliases.yaml"
    path.write_text("system:\n  geometry: bilayer\n  bilayer: {n_lipids: 200, upper: &c {CKL: 1}, lower: *c}\n")
    spec = load_spec(path)
    assert spec.system.bilayer.upper == spec.system.bilayer.lower == {"CKL": 1.0}


@pytest.mark.parametrize("command", [["build", "{path}", "-o", "{out}"], ["sweep", "init", "{path}"]])
def test_the_cli_refuses_a_fifo_spec_quickly_naming_it(tmp_path: Path, command: list[str]) -> None:
    from click.testing import CliRunner

    from snarefuse.cli import main

    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)
    args = [a.format(path=fifo, out=tmp_path / "out") for a in command]
    box: dict = {}
    done, exc = _in_thread(lambda: box.update(result=CliRunner().invoke(main, args)))
    assert done and exc is None, "the command blocked on a FIFO"
    result = box["result"]
    assert result.exit_code == 2
    assert str(fifo) in result.output and "FIFO" in result.output
