"""Reading a YAML input file (a spec or a sweep) that cannot hang or exhaust memory.

A spec path is user input: it may name a FIFO (reading blocks forever), ``/dev/zero`` (reads until
memory runs out), a huge file, or hold a YAML alias bomb (a few lines whose aliases nest lists into
lists, ``[*a, *a, ...]`` nine levels deep is 10^9 elements once anything walks it). :func:`read_yaml`
accepts only a regular file of at most :data:`MAX_INPUT_BYTES` and a document that expands to at most
:data:`MAX_EXPANDED_NODES` values; every refusal is a :class:`~snarefuse.errors.SpecError` naming the file.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml

from .errors import SpecError

__all__ = ["MAX_INPUT_BYTES", "MAX_EXPANDED_NODES", "read_yaml", "expanded_size"]

#: Largest input file accepted (bytes). The shipped specs are 1-3 kB; a sweep with long grids a few kB more.
MAX_INPUT_BYTES = 1_000_000
#: Most values (scalars plus containers, every alias counted as often as it is used) a document may expand to.
#: A long hand-written grid has hundreds; a million would be a 30 MB spec.
MAX_EXPANDED_NODES = 100_000

_KINDS = {stat.S_IFIFO: "a FIFO", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
          stat.S_IFSOCK: "a socket", stat.S_IFDIR: "a directory"}


def expanded_size(data: Any, limit: int = MAX_EXPANDED_NODES) -> int:
    """Number of values ``data`` holds with every shared (aliased) container counted as often as it is
    reached; stops counting at ``limit + 1``. Shared containers are sized once (memoised), so the cost is
    that of the distinct objects however large the expansion is.
    """
    sizes: dict[int, int] = {}

    def size(x: Any, depth: int) -> int:
        if not isinstance(x, (list, dict)):
            return 1
        if id(x) in sizes:
            return sizes[id(x)]
        if depth > 1000:  # deeper than any spec; also keeps the recursion off Python's limit
            return limit + 1
        sizes[id(x)] = limit + 1  # a self-referencing container (&a [*a]) is unbounded
        children = x.values() if isinstance(x, dict) else x
        n = 1
        for c in children:
            n += size(c, depth + 1)
            if n > limit:
                break
        sizes[id(x)] = min(n, limit + 1)
        return sizes[id(x)]

    return size(data, 0)


def read_yaml(path: str | Path) -> Any:
    """Parse the YAML file ``path`` after checking that it is a regular file of sane size, and check
    that the document does not expand beyond :data:`MAX_EXPANDED_NODES` values.

    Raises
    ------
    SpecError
        Naming the file: not found, not a regular file (FIFO, device, directory, socket), larger than
        :data:`MAX_INPUT_BYTES`, unreadable, not UTF-8, not valid YAML, or expanding too far.
    """
    p = Path(path)
    where = str(p)
    try:
        # O_NONBLOCK: opening a FIFO with no writer returns at once instead of blocking; the
        # descriptor is then refused by the fstat check before anything is read from it.
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise SpecError("", "file not found", where) from None
    except IsADirectoryError:
        raise SpecError("", "is a directory; give a YAML file", where) from None
    except OSError as e:
        raise SpecError("", f"cannot open: {e.strerror or e}", where) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = _KINDS.get(stat.S_IFMT(st.st_mode), "not a regular file")
            raise SpecError("", f"is {kind}; a spec or sweep must be a regular YAML file", where)
        if st.st_size > MAX_INPUT_BYTES:
            raise SpecError("", f"is {st.st_size} bytes; a spec or sweep file may have at most "
                                f"{MAX_INPUT_BYTES} bytes", where)
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as f:
        try:
            raw = f.read(MAX_INPUT_BYTES + 1)  # a file that grows while read is still bounded
        except OSError as e:
            raise SpecError("", f"cannot read: {e.strerror or e}", where) from None
    if len(raw) > MAX_INPUT_BYTES:
        raise SpecError("", f"grew beyond {MAX_INPUT_BYTES} bytes while being read", where)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SpecError("", f"is not UTF-8 text ({e.reason} at byte {e.start})", where) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise SpecError("", f"not valid YAML: {e}", where) from None
    except RecursionError:
        raise SpecError("", "nests too deeply to be a spec", where) from None
    if expanded_size(data) > MAX_EXPANDED_NODES:
        raise SpecError("", f"expands to more than {MAX_EXPANDED_NODES} values (YAML aliases reused over and over, "
                            "an 'alias bomb'); write the values out or use fewer aliases", where)
    return data
