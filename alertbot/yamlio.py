"""The only ruamel.yaml user: load YAML keeping line marks, map data paths to FILE:LINE:COL.

`load_marked()` parses one document with ruamel (safe loader, composing nodes for their
marks) and returns plain data (dict/list/scalars, what pydantic expects) plus a `Marks`
table of 1-based (line, col) for every key and value by data path. `locate()` maps a
pydantic error `loc` (which may contain union tags and aliases that are not data keys)
to the closest data path, pointing at the offending key or value. YAML syntax errors
become `ConfigError` with the parser's own position.
"""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from .errors import ConfigError, Problem

Path_ = tuple[Any, ...]
Mark = tuple[int, int]


@dataclass
class Marks:
    """1-based positions of keys and values by data path (the root path is `()`)."""

    file: str
    keys: dict[Path_, Mark] = field(default_factory=dict)
    values: dict[Path_, Mark] = field(default_factory=dict)

    def key(self, path: Path_) -> Mark:
        """Position of the key at `path` (falls back to its value, then its parents)."""
        while path:
            if path in self.keys:
                return self.keys[path]
            if path in self.values:
                return self.values[path]
            path = path[:-1]
        return self.values.get((), (1, 1))

    def value(self, path: Path_) -> Mark:
        """Position of the value at `path` (falls back to its key, then its parents)."""
        while path:
            if path in self.values:
                return self.values[path]
            if path in self.keys:
                return self.keys[path]
            path = path[:-1]
        return self.values.get((), (1, 1))

    def problem(self, path: Path_, message: str, *, at_key: bool = False,
                warning: bool = False) -> Problem:
        line, col = self.key(path) if at_key else self.value(path)
        return Problem(self.file, line, col, message, warning)


def locate(data: Any, loc: Sequence[Any]) -> Path_:
    """The data path that best matches pydantic's error `loc` as a subsequence.

    Pydantic's `loc` interleaves union tags (`field`, `all`) and function names with
    real keys; tags are skipped. Later `loc` items weigh more, so the offending key
    itself wins over a tag that happens to share a name with a data key.
    """
    best: tuple[int, Path_] = (0, ())

    def walk(node: Any, i: int, path: Path_, score: int) -> None:
        nonlocal best
        if score > best[0]:
            best = (score, path)
        if i >= len(loc):
            return
        step = loc[i]
        in_dict = isinstance(node, dict) and step in node
        in_list = isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node)
        if in_dict or in_list:
            walk(node[step], i + 1, (*path, step), score + 2 ** i)
        walk(node, i + 1, path, score)

    walk(data, 0, (), 0)
    return best[1]


_LOADERS: dict[bool, Any] = {}


def _yaml(pure: bool) -> Any:
    # Composing nodes (which carry the marks) with the safe loader is about twice as fast
    # as ruamel's round-trip loader, and several times faster again with the C parser
    # (ruamel.yaml.clib) when it is installed; ruamel falls back to pure Python otherwise.
    if pure not in _LOADERS:
        from ruamel.yaml import YAML

        yaml = YAML(typ="safe", pure=pure)
        yaml.allow_duplicate_keys = False
        _LOADERS[pure] = yaml
    return _LOADERS[pure]


def load_marked(text: str, file: str) -> tuple[Any, Marks]:
    """Parse one YAML document; raise ConfigError located at the syntax error."""
    from ruamel.yaml.error import YAMLError

    marks = Marks(file)
    marks.values[()] = (1, 1)
    try:
        node, data = _compose(_yaml(pure=False), text)
    except (YAMLError, ValueError, TypeError, RecursionError):
        # Errors are reported by the pure parser, so messages are the same with or
        # without the C extension.
        node, data = _parse_reporting(text, file)
    if node is None:
        return None, marks
    try:
        plain = _plain(data)
    except ValueError as exc:
        raise ConfigError([Problem(file, 1, 1, f"YAML: {exc}")]) from None
    _record(node, (), marks)
    return plain, marks


def _compose(yaml: Any, text: str) -> tuple[Any, Any]:
    node = yaml.compose(text)
    if node is None:
        return None, None
    return node, yaml.constructor.construct_document(node)


def _parse_reporting(text: str, file: str) -> tuple[Any, Any]:
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        return _compose(_yaml(pure=True), text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        what = exc.problem or exc.context or "invalid YAML"
        raise ConfigError([Problem(file, line, col, f"YAML syntax: {_first_line(what)}")]) \
            from None
    except (YAMLError, ValueError, TypeError, RecursionError) as exc:
        raise ConfigError([Problem(file, 1, 1, f"YAML: {_first_line(str(exc))}")]) from None


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "invalid YAML"


def _record(node: Any, path: Path_, marks: Marks) -> None:
    """Record 1-based key and value positions of every node under `path`."""
    from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

    if isinstance(node, MappingNode):
        for knode, vnode in node.value:
            if not isinstance(knode, ScalarNode):
                continue
            key: Any = knode.value
            sub = (*path, key)
            if sub not in marks.keys:
                marks.keys[sub] = (knode.start_mark.line + 1, knode.start_mark.column + 1)
                marks.values[sub] = (vnode.start_mark.line + 1, vnode.start_mark.column + 1)
                _record(vnode, sub, marks)
    elif isinstance(node, SequenceNode):
        for i, vnode in enumerate(node.value):
            sub = (*path, i)
            marks.values[sub] = (vnode.start_mark.line + 1, vnode.start_mark.column + 1)
            _record(vnode, sub, marks)


def _plain(value: Any, depth: int = 0) -> Any:
    """Builtin types only: dates and other YAML types become text (pydantic sees plain data)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if depth > 100:
        raise ValueError("YAML nested too deeply (or a recursive anchor)")
    if isinstance(value, dict):
        return {_key(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, depth + 1) for v in value]
    return str(value)


def _key(key: Any) -> Any:
    return key if isinstance(key, (str, int, bool, float)) or key is None else str(key)


def validation_problems(errors: Sequence[Mapping[str, Any]], data: Any, marks: Marks,
                        prefix: Path_, model: type[BaseModel]) -> list[Problem]:
    """Located problems for pydantic `errors` raised validating `data` at `prefix`.

    `data` is the root document (so paths are absolute); `model` validated the value at
    `prefix` and supplies the valid keys for "did you mean".
    """
    located = [(err, locate(data, (*prefix, *err["loc"]))) for err in errors]
    # A union reports one "wrong type" error per member; when one member got further into
    # the data, its errors are the useful ones, and same-place type errors are merged.
    deeper = {path[:n] for _, path in located for n in range(len(path))}
    type_msgs: dict[Path_, list[str]] = {}
    for err, path in located:
        if str(err["type"]).endswith("_type") and path not in deeper:
            type_msgs.setdefault(path, []).append(str(err["msg"]))
    out: list[Problem] = []
    seen: set[tuple[Path_, str]] = set()
    for err, path in located:
        kind = str(err["type"])
        if kind.endswith("_type"):
            if path in deeper:
                continue
            msg = ", or ".join(dict.fromkeys(type_msgs[path]))
            err = {**err, "msg": msg.replace(", or Input should be", ", or")}
        problem = _problem(err, (*prefix, *err["loc"]), path, marks, model, len(prefix))
        if (path, problem.message) not in seen:
            seen.add((path, problem.message))
            out.append(problem)
    return out


def _problem(err: Mapping[str, Any], loc: Path_, path: Path_, marks: Marks,
             model: type[BaseModel], skip: int) -> Problem:
    from .suggest import did_you_mean

    kind = err["type"]
    last = loc[-1] if loc else ""
    if kind == "extra_forbidden":
        allowed = model_keys(model, path[skip:-1])
        return marks.problem(path, f"unknown key `{last}`" + did_you_mean(str(last), allowed),
                             at_key=True)
    if kind == "missing":
        owner = f"`{path[-1]}`: " if path and isinstance(path[-1], str) else ""
        return marks.problem(path, f"{owner}missing required key `{last}`", at_key=True)
    text = str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    name = next((p for p in reversed(path) if isinstance(p, str)), "")
    return marks.problem(path, f"`{name}`: {text}" if name else text)


def model_keys(model: type[BaseModel], path: Sequence[Any]) -> set[str]:
    """The keys valid at `path` under `model` (aliases), following lists, dicts, unions."""
    types: list[Any] = [model]
    for step in path:
        nxt: list[Any] = []
        for t in types:
            nxt.extend(_child(t, step))
        types = nxt
    keys: set[str] = set()
    for t in types:
        if isinstance(t, type) and issubclass(t, BaseModel):
            keys.update(f.alias or n for n, f in t.model_fields.items())
    return keys


def _flat(ann: Any) -> list[Any]:
    origin = get_origin(ann)
    if origin is Annotated:
        return _flat(get_args(ann)[0])
    if origin is Union or origin is types.UnionType:
        return [x for a in get_args(ann) for x in _flat(a)]
    return [ann]


def _child(t: Any, step: Any) -> list[Any]:
    out: list[Any] = []
    for ann in _flat(t):
        origin = get_origin(ann)
        if isinstance(ann, type) and issubclass(ann, BaseModel) and isinstance(step, str):
            for name, f in ann.model_fields.items():
                if step in (name, f.alias):
                    out.extend(_flat(f.annotation))
        elif origin is list and isinstance(step, int):
            out.extend(_flat(get_args(ann)[0]))
        elif origin is dict:
            out.extend(_flat(get_args(ann)[1]))
    return out
