"""Text files the user hands in (descriptors, tables, traces, run configs), read with bounds.

``read_text`` opens regular files only (a FIFO would block forever, a device never ends), refuses a
file larger than its kind allows before reading it, and names the line of a byte that is not UTF-8.
``parse_yaml`` refuses YAML aliases: a few kilobytes of nested ``*refs`` stand for millions of nodes
(seconds of CPU and gigabytes of memory before any check runs), and our files never need one.
Each package turns a ``TextProblem`` into its own error (``platform_models.errors.InputError``).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

MAX_YAML_DEPTH = 64


@dataclass(frozen=True)
class TextProblem(Exception):
    """Why a text file was refused: ``line`` (1-based, None where it has none) and ``reason``."""

    line: int | None
    reason: str

    def __str__(self) -> str:
        return self.reason


def read_text(path: str | os.PathLike, max_bytes: int) -> str:
    """The UTF-8 text of the regular file at ``path`` (TextProblem if it is none, too big or not UTF-8)."""
    try:
        # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise TextProblem(None, f"cannot read it ({exc.strerror or exc})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise TextProblem(None, "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file")
        if info.st_size > max_bytes:
            raise TextProblem(None, f"{info.st_size} bytes; a file of this kind holds at most {max_bytes}")
        with open(fd, "rb", closefd=False) as f:
            data = f.read(max_bytes + 1)
    finally:
        os.close(fd)
    if len(data) > max_bytes:  # grew while we read it
        raise TextProblem(None, f"more than {max_bytes} bytes; a file of this kind holds at most {max_bytes}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise TextProblem(line, f"not UTF-8 text (byte 0x{data[exc.start]:02x}: {exc.reason})") from None


class _NoAliasLoader(yaml.SafeLoader):
    """The safe loader, refusing aliases and deep nesting while it composes (before anything expands)."""

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            line = event.start_mark.line + 1
            raise TextProblem(line, "a YAML alias (*name) is not accepted here: write the value out")
        if self._depth >= MAX_YAML_DEPTH:
            raise TextProblem(event.start_mark.line + 1, f"YAML nested deeper than {MAX_YAML_DEPTH} levels")
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def parse_yaml(text: str) -> tuple[Any, yaml.Node | None]:
    """(data, the document's node tree, for line numbers) of ``text``; TextProblem when refused."""
    loader = None
    try:
        loader = _NoAliasLoader(text)  # its reader already refuses some characters
        node = loader.get_single_node()
        data = None if node is None else loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise TextProblem(None if mark is None else mark.line + 1, f"not valid YAML: {reason}") from None
    except (RecursionError, ValueError, TypeError, OverflowError) as exc:
        # PyYAML's constructors raise these on some malformed scalars (e.g. a bad timestamp).
        raise TextProblem(None, f"not valid YAML: {exc}") from None
    finally:
        if loader is not None:
            loader.dispose()
    return data, node


def load_yaml_file(path: Path, max_bytes: int) -> tuple[Any, yaml.Node | None]:
    """``parse_yaml`` of the file at ``path`` (TextProblem as ``read_text`` and ``parse_yaml``)."""
    return parse_yaml(read_text(path, max_bytes))


def index_lines(root: yaml.Node | None) -> dict[tuple, int]:
    """The 1-based line of every key path under ``root``: ``("pes", 0, "name")`` (lists by index)."""
    lines: dict[tuple, int] = {}
    stack = [] if root is None else [((), root)]
    while stack:
        prefix, node = stack.pop()
        lines.setdefault(prefix, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode):
                    key = (*prefix, key_node.value)
                    lines[key] = key_node.start_mark.line + 1
                    stack.append((key, value_node))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(((*prefix, i), item) for i, item in enumerate(node.value))
    return lines


def line_of(lines: dict[tuple, int], keys: tuple) -> int | None:
    """The line of the deepest key of ``keys`` found in ``lines`` (None when none is)."""
    for n in range(len(keys), -1, -1):
        if keys[:n] in lines:
            return lines[keys[:n]]
    return None
