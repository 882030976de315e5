"""A sweep SPEC: the YAML file that says which trainings a sweep runs, checked before any of them.

::

    platforms: [odroid-xu3, jetson-nano]   # required: shipped names or descriptor paths
    algos: [maskable-ppo]                  # default [maskable-ppo], like `dynscale train`
    seeds: [0, 1, 2]                       # default [0]
    timesteps: 20000                       # one value or a list (default: hyperparams YAML's n_timesteps)
    traces: []                             # train trace files (default: each platform's shipped train split)
    eval_traces: []                        # held-out trace files (default: the shipped eval split)
    hyperparams:                           # overrides of controllers/hyperparams/ALGO.yml
      n_epochs: 10                         #   a value: the same in every trial
      learning_rate: [1.0e-4, 3.0e-4]      #   a list: one grid axis (a choice under `search`)
      gamma: {uniform: [0.8, 0.99]}        #   a distribution: searched (needs `search`)
    search:                                # optional: Optuna's TPE instead of the grid
      samples: 8                           #   trials to sample
      asha: true                           #   stop weak trials early on their evaluation reward

Without ``search`` the sweep is the grid: every platform x algo x seed x timesteps x hyperparameter
list value. With it, the sweep is one TPE search of ``samples`` trials on one platform, algo and
seed (a search tunes one thing; a grid over seeds then checks what it found). Trace files are
grouped by the platform they name; paths are relative to the working directory, as on the command
line. Distributions are Ray Tune's: ``uniform``/``loguniform`` ``[low, high]``, ``randint``
``[low, high)`` and ``choice`` ``[a, b, ...]``.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from controllers._runs import ALGOS
from controllers.errors import SweepError
from platform_models.user_text import TextProblem, load_yaml_file

KEYS = ("platforms", "algos", "seeds", "timesteps", "traces", "eval_traces", "hyperparams", "search")
DISTRIBUTIONS = {"uniform": 2, "loguniform": 2, "randint": 2, "choice": None}
"""Search distributions and how many arguments each takes (None: any number >= 1)."""
DEFAULT_ALGO = "maskable-ppo"
MAX_SPEC_BYTES = 1 << 20


@dataclass
class SweepSpec:
    """A checked SPEC: every list already resolved, every file already read once."""

    path: str
    platforms: list[str]
    algos: list[str] = field(default_factory=lambda: [DEFAULT_ALGO])
    seeds: list[int] = field(default_factory=lambda: [0])
    timesteps: list[int | None] = field(default_factory=lambda: [None])
    traces: dict[str, list[str]] = field(default_factory=dict)
    """Train trace files per platform name (absent: the shipped train split)."""
    eval_traces: dict[str, list[str]] = field(default_factory=dict)
    """Held-out trace files per platform name (absent: the shipped eval split)."""
    fixed: dict[str, Any] = field(default_factory=dict)
    """Hyperparameters every trial gets."""
    grid: dict[str, list[Any]] = field(default_factory=dict)
    """Hyperparameter grid axes (choices under a search)."""
    space: dict[str, tuple[str, list[Any]]] = field(default_factory=dict)
    """Searched hyperparameters: name -> (distribution, arguments)."""
    samples: int | None = None
    """Trials of the TPE search; None for a grid."""
    asha: bool = False

    @property
    def n_trials(self) -> int:
        """How many trials the sweep runs."""
        if self.samples is not None:
            return self.samples
        n = len(self.platforms) * len(self.algos) * len(self.seeds) * len(self.timesteps)
        for values in self.grid.values():
            n *= len(values)
        return n


class _Where:
    """Line numbers of a YAML document's keys and list items, for one-line errors."""

    def __init__(self, path: str, root: yaml.Node) -> None:
        self.path = path
        self.root = root

    def node(self, key: str) -> yaml.Node | None:
        for key_node, value_node in getattr(self.root, "value", []):
            if key_node.value == key:
                return value_node
        return None

    def error(self, what: str, field: str, node: yaml.Node | None = None) -> SweepError:
        node = node if node is not None else self.node(field.split(".")[0]) or self.root
        return SweepError(what, path=self.path, line=node.start_mark.line + 1, field=field)

    def item(self, key: str, index: int) -> yaml.Node | None:
        node = self.node(key)
        if isinstance(node, yaml.SequenceNode) and index < len(node.value):
            return node.value[index]
        return node


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _check_platforms(doc: dict, where: _Where) -> list[str]:
    from platform_models import load_platform
    from platform_models.errors import PlatformError

    if doc.get("platforms") in (None, [], ""):
        raise where.error("missing: at least one platform name or descriptor path is required", "platforms")
    names: list[str] = []
    seen: set[str] = set()
    for i, value in enumerate(_as_list(doc["platforms"])):
        if not isinstance(value, str):
            raise where.error(
                f"expected a platform name or path, got {value!r}", "platforms", where.item("platforms", i)
            )
        try:
            platform = load_platform(value)
        except PlatformError as err:
            raise where.error(str(err), "platforms", where.item("platforms", i)) from None
        if platform.name in seen:
            raise where.error(f"{value!r} is listed twice", "platforms", where.item("platforms", i))
        seen.add(platform.name)
        # A descriptor path is made absolute: trials run in Ray workers, elsewhere.
        names.append(value if "/" not in value else str(Path(value).resolve()))
    return names


def _check_ints(doc: dict, key: str, where: _Where, minimum: int) -> list[int]:
    values = _as_list(doc[key])
    for i, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise where.error(f"expected an integer >= {minimum}, got {value!r}", key, where.item(key, i))
    if len(set(values)) != len(values):
        raise where.error("a value is listed twice", key)
    return values


def _check_algos(doc: dict, where: _Where) -> list[str]:
    values = _as_list(doc["algos"])
    for i, value in enumerate(values):
        if value not in ALGOS:
            raise where.error(
                f"expected one of {', '.join(ALGOS)}, got {value!r}", "algos", where.item("algos", i)
            )
    return values


def _check_traces(doc: dict, key: str, platforms: list[str], where: _Where) -> dict[str, list[str]]:
    """Trace files grouped by the platform each names; every platform of the sweep needs one."""
    from platform_models import load_platform
    from traces import load_trace
    from traces.errors import TraceError

    grouped: dict[str, list[str]] = {}
    for i, value in enumerate(_as_list(doc[key])):
        node = where.item(key, i)
        if not isinstance(value, str) or not Path(value).is_file():
            raise where.error(f"no such trace file: {value!r}", key, node)
        try:
            trace = load_trace(value)
        except TraceError as err:
            raise where.error(str(err), key, node) from None
        grouped.setdefault(trace.platform, []).append(str(Path(value).resolve()))
    for spec_name in platforms:
        name = load_platform(spec_name).name
        if name not in grouped:
            raise where.error(f"none of the listed traces is for platform {name!r}", key)
    return grouped


def _allowed_hyperparams(algos: list[str]) -> set[str]:
    """Keys ``dynscale train`` accepts for every algo: its YAML's, and its SB3 constructor's arguments."""
    from importlib.resources import files

    from controllers._learned import algo_class

    allowed: set[str] | None = None
    for algo in algos:
        table = yaml.safe_load(files("controllers").joinpath("hyperparams", f"{algo}.yml").read_text())
        keys = set(table["default"]) | set(inspect.signature(algo_class(algo).__init__).parameters)
        keys -= {"self", "env", "seed", "device", "verbose", "tensorboard_log", "_init_setup_model"}
        allowed = keys if allowed is None else allowed & keys
    return allowed or set()


def _check_hyperparams(doc: dict, spec: SweepSpec, where: _Where) -> None:
    table = doc["hyperparams"]
    if not isinstance(table, dict):
        raise where.error("expected a mapping of hyperparameter names to values", "hyperparams")
    allowed = _allowed_hyperparams(spec.algos)
    block = where.node("hyperparams")
    nodes = {k.value: (k, v) for k, v in block.value} if isinstance(block, yaml.MappingNode) else {}
    for name, value in table.items():
        key_node, value_node = nodes.get(name, (None, None))
        fld = f"hyperparams.{name}"
        if name not in allowed:
            raise where.error(f"not a hyperparameter of {', '.join(spec.algos)}", fld, key_node)
        if isinstance(value, dict) and len(value) == 1 and next(iter(value)) in DISTRIBUTIONS:
            spec.space[name] = _check_distribution(value, fld, value_node, where)
        elif isinstance(value, list):
            if not value:
                raise where.error("expected at least one value", fld, value_node)
            spec.grid[name] = value
        else:
            spec.fixed[name] = value


def _check_distribution(value: dict, fld: str, node: yaml.Node | None, where: _Where) -> tuple[str, list]:
    (kind, args), n_args = next(iter(value.items())), DISTRIBUTIONS[next(iter(value))]
    args = _as_list(args)
    if n_args is None and not args:
        raise where.error(f"{kind}: expected at least one choice", fld, node)
    if n_args is not None:
        numbers = len(args) == n_args and all(
            isinstance(a, (int, float)) and not isinstance(a, bool) for a in args
        )
        if not numbers or not args[0] < args[1] or (kind == "loguniform" and args[0] <= 0):
            raise where.error(
                f"{kind}: expected [low, high] with 0 < low < high, got {args!r}"
                if kind == "loguniform"
                else f"{kind}: expected [low, high] with low < high, got {args!r}",
                fld,
                node,
            )
    return kind, args


def _check_search(doc: dict, spec: SweepSpec, where: _Where) -> None:
    search = doc["search"]
    if not isinstance(search, dict) or set(search) - {"samples", "asha"}:
        raise where.error("expected a mapping with 'samples' (and optionally 'asha')", "search")
    samples = search.get("samples")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise where.error(f"expected an integer >= 1, got {samples!r}", "search.samples")
    if not isinstance(search.get("asha", False), bool):
        raise where.error(f"expected true or false, got {search['asha']!r}", "search.asha")
    for key, n in (
        ("platforms", len(spec.platforms)),
        ("algos", len(spec.algos)),
        ("seeds", len(spec.seeds)),
        ("timesteps", len(spec.timesteps)),
    ):
        if n != 1:
            raise where.error(f"a search tunes one value, got {n} (use a grid SPEC to compare them)", key)
    for name, values in spec.grid.items():
        if not all(isinstance(v, (str, int, float, bool)) or v is None for v in values):
            raise where.error(
                "a searched choice takes plain values (numbers, strings)", f"hyperparams.{name}"
            )
    spec.samples, spec.asha = samples, bool(search.get("asha", False))


def read_spec(path: str | Path) -> SweepSpec:
    """Read and check a SPEC file; ``SweepError`` (file, line, field) on the first problem found."""
    path = str(path)
    try:  # a regular file, bounded, UTF-8, YAML without aliases (as every YAML a user hands in)
        doc, root = load_yaml_file(Path(path), MAX_SPEC_BYTES)
    except TextProblem as problem:
        raise SweepError(problem.reason, path=path, line=problem.line) from None
    if not isinstance(doc, dict) or root is None:
        raise SweepError("expected a mapping with at least 'platforms'", path=path, line=1)
    where = _Where(path, root)
    for key_node, _ in root.value:
        if key_node.value not in KEYS:
            raise where.error(
                f"unknown key (expected one of {', '.join(KEYS)})", str(key_node.value), key_node
            )
    spec = SweepSpec(path=path, platforms=_check_platforms(doc, where))
    if doc.get("algos") is not None:
        spec.algos = _check_algos(doc, where)
    if doc.get("seeds") is not None:
        spec.seeds = _check_ints(doc, "seeds", where, 0)
    if doc.get("timesteps") is not None:
        spec.timesteps = list(_check_ints(doc, "timesteps", where, 1))
    if doc.get("traces"):
        spec.traces = _check_traces(doc, "traces", spec.platforms, where)
    if doc.get("eval_traces"):
        spec.eval_traces = _check_traces(doc, "eval_traces", spec.platforms, where)
    if doc.get("hyperparams") is not None:
        _check_hyperparams(doc, spec, where)
    if doc.get("search") is not None:
        _check_search(doc, spec, where)
    elif spec.space:
        name = next(iter(spec.space))
        raise where.error(
            "a distribution needs a 'search' block (a grid takes a list of values)", f"hyperparams.{name}"
        )
    return spec
