"""Declarative experiments: the spec, its validation, and building the pieces.

An experiment names its components by registered name (plugins included)
and gives their arguments; :func:`load_experiment` reads one from TOML or
JSON, :func:`build_model` assembles the model and :func:`run_experiment`
trains it. Validation happens before anything runs or any file is written,
and reports every problem at once with its dotted path.
"""

from __future__ import annotations

import dataclasses
import math
import re
import typing
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import (BaseModel, ConfigDict, Discriminator, Field, PrivateAttr, Tag, ValidationError,
                      model_validator)

from framework.config_files import apply_override, depth_problem, read_config, write_config
from framework.data import Dataset, Standardizer
from framework.preprocessing import Standardize
from framework.errors import ConfigError, InvalidValueError, LayerInitError, MinidlError, RegistryError
from framework.loss import pairing_problem
from framework.registry import join_path, pydantic_problems, registry
from framework.sequential import Sequential
from framework.types import NonNegativeFloat, PositiveFloat, PositiveInt

STRICT = ConfigDict(extra="forbid")


class Block(BaseModel):
    """A component: its registered ``type`` and its arguments, e.g.
    ``{"type": "linear", "out_features": 32}``."""

    model_config = ConfigDict(extra="allow")
    type: str = Field(description="registered name of the component")

    @property
    def args(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class ModelSpec(BaseModel):
    model_config = STRICT
    layers: list[Block] = Field(min_length=1, description="layer blocks, applied in order; "
                                "in_features may be left out where the previous layer or the data fixes it")


class DataSpec(BaseModel):
    model_config = STRICT
    source: Block = Field(description="a registered data source and its arguments")
    standardize: bool = Field(False, description="standardise features with the training split's mean and std")
    validation_split: float = Field(0.0, ge=0.0, lt=1.0, allow_inf_nan=False,
                                    description="fraction of examples held out for validation")
    split_seed: int | None = Field(None, description="seed of the split (default: the experiment's seed)")


class TrainerSpec(BaseModel):
    model_config = STRICT
    epochs: PositiveInt = Field(10, description="passes over the training data")
    batch_size: PositiveInt = Field(32, description="examples per step")
    shuffle: bool = Field(True, description="a new permutation each epoch")
    progress: bool = Field(True, description="the training display: a bar on a terminal, one line per epoch on a file or pipe")
    metrics: list[str] = Field(default_factory=list, description="registered metric names")
    callbacks: list[Block] = Field(default_factory=list, description="registered callbacks and their arguments")
    l2: NonNegativeFloat = Field(0.0, description="the course's L2 regularisation lambda: lambda/(2m) * sum of "
                                 "squared weights (biases excluded) added to each batch's loss")
    clip_grad_norm: PositiveFloat | None = Field(None, description="rescale the gradients when their global L2 "
                                                 "norm exceeds this (torch.nn.utils.clip_grad_norm_)")
    clip_grad_value: PositiveFloat | None = Field(None, description="clip every gradient entry to [-v, v] "
                                                  "(torch.nn.utils.clip_grad_value_)")


class Target(BaseModel):
    model_config = STRICT
    min: float | None = Field(None, allow_inf_nan=False)
    max: float | None = Field(None, allow_inf_nan=False)


class _Range(BaseModel):
    model_config = STRICT

    @model_validator(mode="after")
    def _ordered(self):
        if self.low > self.high:
            raise InvalidValueError(f"low must not exceed high. Received: low={self.low}, high={self.high}")
        return self


class Uniform(_Range):
    type: Literal["uniform"] = Field(description="a distribution: uniform, loguniform, int or choice")
    low: float = Field(allow_inf_nan=False, description="the smallest value (uniform, loguniform, int)")
    high: float = Field(allow_inf_nan=False, description="the largest value (uniform, loguniform, int)")


class LogUniform(_Range):
    type: Literal["loguniform"]
    low: float = Field(gt=0, allow_inf_nan=False)
    high: float = Field(gt=0, allow_inf_nan=False)


class IntRange(_Range):
    type: Literal["int"]
    low: int = Field(strict=True)
    high: int = Field(strict=True)


class Choice(BaseModel):
    model_config = STRICT
    type: Literal["choice"]
    values: list[Any] = Field(min_length=1, description="the values a choice draws from, each equally likely")


Distribution = typing.Annotated[Uniform | LogUniform | IntRange | Choice, Field(discriminator="type")]
DISTRIBUTIONS = ("uniform", "loguniform", "int", "choice")


def _grid_or_distribution(value: Any) -> str:
    return "distribution" if isinstance(value, dict) else "grid"


SweepValues = typing.Annotated[
    typing.Union[typing.Annotated[list[Any], Field(min_length=1), Tag("grid")],
                 typing.Annotated[Distribution, Tag("distribution")]],
    Discriminator(_grid_or_distribution)]


def _flatten_parameters(table: Any, prefix: str = "") -> Any:
    """``{"optimizer": {"lr": [...]}}`` (TOML's reading of ``optimizer.lr = [...]``) -> ``{"optimizer.lr": [...]}``.

    A table whose ``type`` is a distribution's name is a distribution, not a level of nesting.
    """
    if not isinstance(table, dict):
        return table
    flat: dict[str, Any] = {}
    for key, value in table.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and not isinstance(value.get("type"), str):
            flat.update(_flatten_parameters(value, path))
        else:
            flat[path] = value
    return flat


class SweepSpec(BaseModel):
    """What ``minidl sweep`` varies: a grid of lists, or a seeded random search of ``n_trials``."""

    model_config = STRICT
    parameters: dict[str, SweepValues] = Field(min_length=1,
        description="dotted path -> a list of values (a grid) or a distribution "
                    "(uniform, loguniform, int, choice; needs n_trials)")
    n_trials: PositiveInt | None = Field(None, description="a random search of this many trials "
                                                           "(lists are then drawn from as choices)")
    objective: str | None = Field(None, description="the final epoch log to optimise "
                                                    "(default: the first target, else val_loss)")
    mode: Literal["min", "max"] | None = Field(None, description="whether the objective is minimised or "
                                                                 "maximised (default: from the metric or target)")
    seed: int | None = Field(None, description="seed of the random search (default: the experiment's seed)")

    @model_validator(mode="before")
    @classmethod
    def _flatten(cls, data):
        if isinstance(data, dict) and isinstance(data.get("parameters"), dict):
            data = {**data, "parameters": _flatten_parameters(data["parameters"])}
        return data


class Experiment(BaseModel):
    """A complete experiment. Build it in Python, from a dict, or from a file.

    Example (Python)::

        Experiment(
            model={"layers": [{"type": "linear", "out_features": 16}, {"type": "sigmoid"},
                              {"type": "linear", "out_features": 1}]},
            loss={"type": "mse"}, optimizer={"type": "sgd", "lr": 0.1},
            data={"source": {"type": "synthetic_nonlinear"}},
        )
    """

    model_config = STRICT
    name: str = Field("experiment", description="names the run directory")
    description: str = ""
    seed: int = Field(0, description="seeds initialisation, the split and shuffling")
    dtype: Literal["float32", "float64"] = "float64"
    model: ModelSpec
    loss: Block
    optimizer: Block
    data: DataSpec | None = Field(None, description="where the data comes from (or pass arrays in Python)")
    trainer: TrainerSpec = Field(default_factory=TrainerSpec)
    targets: dict[str, Target] = Field(default_factory=dict,
                                       description="stated quality: final epoch log -> {min, max}")
    sweep: SweepSpec | None = Field(None, description="parameters that `minidl sweep` varies, and its objective")

    _base_dir: Path | None = PrivateAttr(None)
    _source: str | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _components_exist(self, info):
        if not (info.context or {}).get("skip_components"):
            problems = component_problems(self.model_dump(exclude_none=True))
            if problems:
                raise InvalidValueError("\n".join(f"{p}: {m}" for p, m in problems))
        return self

    # -- construction -----------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str | None = None) -> "Experiment":
        """Validate ``data``, reporting every problem at once (:class:`ConfigError`)."""
        problem = depth_problem(data, "the experiment")
        if problem:  # before any recursive walk over it
            raise ConfigError([("", problem)], source)
        problems: list[tuple[str, str]] = []
        experiment = None
        try:
            experiment = cls.model_validate(data, context={"skip_components": True})
        except ValidationError as exc:
            problems += pydantic_problems(exc, nested_fields=_fields_at)
        problems += component_problems(data)
        if problems:
            order = list(cls.model_fields)  # report in the order the sections appear in a file
            problems.sort(key=lambda p: order.index(top) if (top := re.split(r"[.\[]", p[0])[0]) in order
                          else len(order))
            raise ConfigError(_unique([_sweep_problem(p, m) for p, m in problems]), source)
        experiment._source = source
        return experiment

    def to_dict(self) -> dict[str, Any]:
        """The experiment as plain data. A field left at ``None`` is left out (it means its default),
        but a component argument given as ``None`` where its default is something else
        (batch norm's ``momentum = None``, the cumulative average) is kept: it is a different computation."""
        data = self.model_dump(mode="json", exclude_none=True)
        for kind, block, dumped in self._blocks(data):
            nulls = [k for k, v in block.args.items() if v is None and not _defaults_to_none(kind, block.type, k)]
            if nulls:  # back in, where the block had them
                items = {"type": dumped["type"], **{k: dumped.get(k) for k in block.args if k in dumped or k in nulls}}
                dumped.clear()
                dumped.update(items)
        return data

    def _blocks(self, data: dict[str, Any]) -> list[tuple[str, Block, dict[str, Any]]]:
        """Each component block: (its kind, the Block, its dict in ``data``, which is a ``model_dump`` of self)."""
        found = [("layers", b, d) for b, d in zip(self.model.layers, data["model"]["layers"])]
        found += [("losses", self.loss, data["loss"]), ("optimizers", self.optimizer, data["optimizer"])]
        if self.data is not None:
            found.append(("datasets", self.data.source, data["data"]["source"]))
        found += [("callbacks", b, d) for b, d in zip(self.trainer.callbacks, data["trainer"]["callbacks"])]
        return found

    def save(self, path: str | Path) -> Path:
        """Write the experiment as .toml or .json (atomically).

        TOML has no null: an experiment holding a ``None`` argument (see
        :meth:`to_dict`) is refused as .toml (:class:`ConfigError` naming it);
        save it as .json.
        """
        return write_config(path, self.to_dict())

    @property
    def base_dir(self) -> Path:
        """Where relative data paths are resolved: the file's folder, else the working directory."""
        return self._base_dir or Path.cwd()


def _defaults_to_none(kind: str, name: str, arg: str) -> bool:
    """Whether component ``name``'s argument ``arg`` defaults to None (so None is the same as leaving it out)."""
    try:
        field = registry.config_model(kind, name).model_fields.get(arg)
    except MinidlError:
        return False
    return field is not None and not field.is_required() and field.default_factory is None and field.default is None


_SWEEP_LOC = re.compile(r"^sweep\.parameters\.(.+?)\.(grid|distribution(?:\.(?:uniform|loguniform|int|choice))?)"
                        r"(?=\.|\[|$)")


def _sweep_problem(path: str, message: str) -> tuple[str, str]:
    """Sweep parameters' problems, said as a user writes them: ``sweep.parameters."optimizer.lr".low``."""
    match = _SWEEP_LOC.match(path)
    if not match:
        return path, message
    key, branch = match.group(1).strip("`"), match.group(2)
    path = f'sweep.parameters."{key}"' + path[match.end():]
    if message.startswith("Value error, "):
        message = message[len("Value error, "):].split(". Received: {")[0]
    elif message.startswith("Input tag"):
        tag = re.search(r"Input tag '(.*?)'", message)
        message = (f"unknown distribution {tag.group(1) if tag else '?'!r}; "
                   f"use one of: {', '.join(DISTRIBUTIONS)}")
    elif branch == "grid" and message.startswith("Input should be a valid list"):
        message = ("expected a list of values (a grid) or a distribution such as "
                   "{ type = \"loguniform\", low = 0.0001, high = 1 }" + message[len("Input should be a valid list"):])
    return path, message


def _unique(problems):
    seen, out = set(), []
    for p in problems:
        if p not in seen:
            seen.add(p)
            out.append(p)
    return out


def _fields_at(loc: tuple) -> list[str]:
    """Field names of the model found at ``loc`` in Experiment (for "did you mean")."""
    model: Any = Experiment
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if isinstance(model, type) and issubclass(model, BaseModel) else None
        if field is None:
            return []
        model = _model_in(field.annotation)
    return list(model.model_fields) if isinstance(model, type) and issubclass(model, BaseModel) else []


def _model_in(annotation) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _non_finite(value: Any, path: str) -> list[tuple[str, str]]:
    if isinstance(value, float) and not math.isfinite(value):
        return [(path, f"must be a finite number. Received: {value}")]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _non_finite(v, join_path(path, str(k)))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _non_finite(v, f"{path}[{i}]")]
    return []


def _block_problems(kind: str, block: Any, path: str) -> list[tuple[str, str]]:
    if not isinstance(block, dict) or not isinstance(block.get("type"), str):
        return []  # structural problem, reported by the schema validation
    name = block["type"]
    args = {k: v for k, v in block.items() if k != "type"}
    problems = _non_finite(args, path)
    try:
        registry.entry(kind, name)
    except RegistryError:
        return problems + [(f"{path}.type", registry.unknown_name_message(kind, name))]
    already = {p for p, _ in problems}  # a NaN is reported once, not again by the argument model
    return problems + [(full, m) for p, m in registry.check_args(kind, name, args)
                       if (full := join_path(path, p)) not in already]


def _pairing_problems(layers: list, loss: Any) -> list[tuple[str, str]]:
    """The model's last layer against what the loss expects (both declare it; see pairing_problem)."""
    last = layers[-1]
    if not (isinstance(last, dict) and isinstance(loss, dict) and isinstance(last.get("type"), str)
            and isinstance(loss.get("type"), str)):
        return []
    problem = pairing_problem(registry.get("layers", last["type"]), registry.get("losses", loss["type"]),
                              layer_name=repr(last["type"]), loss_name=repr(loss["type"]))
    return [] if problem is None else [(f"model.layers[{len(layers) - 1}]", problem)]


def output_rows(layers: list) -> tuple[int, int | None] | None:
    """(i, rows): the layer block that sets a model's output rows and, when its arguments say, how many.

    Walks back from the last block over layers that keep the number of rows
    (those not overriding :meth:`~framework.layer.Layer.output_features`,
    activations and dropout) to the one that sets it; its ``out_features``
    argument (the framework's name for a layer's output rows) gives
    ``rows``, else ``rows`` is ``None``. ``None`` when no block sets the
    rows, or a block is not a known layer.
    """
    from framework.layer import Layer

    for i in range(len(layers) - 1, -1, -1):
        block = layers[i]
        if not (isinstance(block, dict) and isinstance(block.get("type"), str)) \
                or ("layers", block["type"]) not in registry:
            return None
        cls = registry.get("layers", block["type"])
        if getattr(cls, "output_features", None) is Layer.output_features:
            continue  # keeps the rows it is given
        rows = block.get("out_features")
        return i, rows if isinstance(rows, int) and not isinstance(rows, bool) else None
    return None


def rows_path(layers: list) -> str:
    """The config path to name for the number of a model's output rows (``model.layers[4].out_features``)."""
    found = output_rows(layers)
    if found is None:
        return f"model.layers[{len(layers) - 1}]"
    i, _ = found
    return f"model.layers[{i}]" + (".out_features" if "out_features" in layers[i] else "")


def _declared_rows_problem(kind: str, name: str, rows: int) -> str | None:
    """What a registered loss or metric says is wrong with ``rows`` output rows (its optional
    ``output_rows_problem(rows)``), or None."""
    check = getattr(registry.get(kind, name), "output_rows_problem", None)
    return check(rows) if callable(check) else None


def _rows_problems(layers: list, loss: Any) -> list[tuple[str, str]]:
    """The model's output rows, when its blocks say, against what the loss needs (``output_rows_problem``)."""
    found = output_rows(layers)
    if found is None or found[1] is None or not (isinstance(loss, dict) and isinstance(loss.get("type"), str)):
        return []
    i, rows = found
    problem = _declared_rows_problem("losses", loss["type"], rows)
    if problem is None:
        return []
    return [(f"model.layers[{i}].out_features",
             f"the model outputs {rows} row{'s' if rows != 1 else ''}, but the loss ({loss['type']!r}) {problem}")]


def component_problems(data: Any) -> list[tuple[str, str]]:
    """Unknown component names and invalid component arguments, with their paths."""
    if not isinstance(data, dict):
        return []
    problems = []
    layers = (data.get("model") or {}).get("layers") if isinstance(data.get("model"), dict) else None
    if isinstance(layers, list):
        for i, block in enumerate(layers):
            problems += _block_problems("layers", block, f"model.layers[{i}]")
    loss_problems = _block_problems("losses", data.get("loss"), "loss")
    problems += loss_problems
    if isinstance(layers, list) and layers and not problems:
        problems += _pairing_problems(layers, data.get("loss"))
        problems += _rows_problems(layers, data.get("loss"))
    problems += _block_problems("optimizers", data.get("optimizer"), "optimizer")
    if isinstance(data.get("data"), dict):
        problems += _block_problems("datasets", data["data"].get("source"), "data.source")
    trainer = data.get("trainer")
    if isinstance(trainer, dict):
        for i, block in enumerate(trainer.get("callbacks") or []):
            problems += _block_problems("callbacks", block, f"trainer.callbacks[{i}]")
        metrics = trainer.get("metrics")
        if isinstance(metrics, list):
            for i, name in enumerate(metrics):
                if isinstance(name, str) and ("metrics", name) not in registry:
                    problems.append((f"trainer.metrics[{i}]", registry.unknown_name_message("metrics", name)))
            if isinstance(layers, list) and layers:
                problems += _metric_rows_problems(layers, metrics)
    return problems


def _metric_rows_problems(layers: list, metrics: list) -> list[tuple[str, str]]:
    """The model's output rows, when its blocks say, against what each metric needs (a metric function's
    optional ``output_rows_problem(rows)``, as a loss's: top_k_accuracy is always 1 with k classes or fewer)."""
    found = output_rows(layers)
    if found is None or found[1] is None:
        return []
    problems = []
    for i, name in enumerate(metrics):
        if not (isinstance(name, str) and ("metrics", name) in registry):
            continue
        problem = _declared_rows_problem("metrics", name, found[1])
        if problem is not None:
            problems.append((f"trainer.metrics[{i}]", f"{name!r} {problem} ({rows_path(layers)} = {found[1]})"))
    return problems


def used_components(data: Any) -> list[tuple[str, str]]:
    """Every (kind, name) an experiment (a dict, as ``to_dict()`` gives) uses, for provenance.

    The blocks (layers, loss, optimizer, data source, callbacks), the metrics,
    and names found in the blocks' arguments that are registered initializers
    or schedules (a layer's ``init``, a scheduler's ``schedule``).
    """
    if not isinstance(data, dict):
        return []
    used: list[tuple[str, str]] = []
    blocks: list[tuple[str, Any]] = []
    model = data.get("model")
    if isinstance(model, dict):
        blocks += [("layers", b) for b in model.get("layers") or []]
    blocks += [("losses", data.get("loss")), ("optimizers", data.get("optimizer"))]
    if isinstance(data.get("data"), dict):
        blocks.append(("datasets", data["data"].get("source")))
    trainer = data.get("trainer") if isinstance(data.get("trainer"), dict) else {}
    blocks += [("callbacks", b) for b in trainer.get("callbacks") or []]
    used += [("metrics", m) for m in trainer.get("metrics") or [] if isinstance(m, str)]

    def named_in(value: Any) -> None:
        if isinstance(value, str):
            used.extend((kind, value) for kind in ("initializers", "schedules") if (kind, value) in registry)
        elif isinstance(value, dict):
            if isinstance(value.get("type"), str) and ("schedules", value["type"]) in registry:
                used.append(("schedules", value["type"]))
            for v in value.values():
                named_in(v)
        elif isinstance(value, list):
            for v in value:
                named_in(v)

    for kind, block in blocks:
        if isinstance(block, dict) and isinstance(block.get("type"), str):
            used.append((kind, block["type"]))
            named_in({k: v for k, v in block.items() if k != "type"})
    return list(dict.fromkeys(used))


def load_experiment(path: str | Path, overrides: typing.Iterable[str] = ()) -> Experiment:
    """Read and validate an experiment file (.toml or .json).

    ``overrides`` are ``"dotted.key=value"`` assignments applied first (the
    CLI's ``--set``). Relative data paths resolve against the file's folder.
    """
    path = Path(path)
    experiment = Experiment.from_dict(read_experiment_data(path, overrides), source=str(path))
    experiment._base_dir = path.resolve().parent
    return experiment


def read_experiment_data(path: str | Path, overrides: typing.Iterable[str] = ()) -> dict[str, Any]:
    """An experiment file as a dict with ``overrides`` (``--set``) applied, not yet validated.

    Errors name the file (:class:`ConfigError`).
    """
    data = read_config(path)
    for assignment in overrides:
        try:
            apply_override(data, assignment)
        except ConfigError as exc:
            raise ConfigError(exc.problems, str(path)) from None
    return data


# ----------------------------------------------------------------------------
# Building
# ----------------------------------------------------------------------------
def _accepts(component, name: str) -> bool:
    import inspect

    func = component.__init__ if isinstance(component, type) else component
    return name in inspect.signature(func).parameters


def build_model(spec: Experiment | ModelSpec | dict | list, *, in_features: int | None = None,
                seed: int | None = None, dtype: str | None = None,
                standardizer: Standardizer | None = None) -> Sequential:
    """Assemble a :class:`Sequential` from layer blocks.

    ``in_features`` of a block may be left out: it is taken from the data
    (``in_features=``) for the first layer and from the previous layer's
    output after that. A layer with an ``init`` argument gets the
    initializer the next layer prefers for it (its class attribute
    ``init_before``: ReLU says "he_normal") unless the block sets ``init``;
    otherwise the layer's own default applies (Glorot for Linear). One
    ``numpy.random.Generator`` seeded with ``seed`` initialises all layers
    in order, so the same spec and seed give the same model bit for bit.
    Every random layer (``stochastic = True``) is then seeded from the same
    ``seed`` through :meth:`Sequential.seed`: each gets its own stream.

    An experiment with ``data.standardize = true`` gives a model whose first
    layer is a :class:`~framework.preprocessing.Standardize` (layer 0, so the
    spec's layer i is the model's layer i + 1), holding ``standardizer``'s
    statistics (from :func:`prepare_data`; the identity when not given):
    the model takes raw data, and its checkpoints and saved file carry the
    statistics.
    """
    if isinstance(spec, Experiment):
        seed = spec.seed if seed is None else seed
        dtype = spec.dtype if dtype is None else dtype
        blocks = spec.model.layers
    elif isinstance(spec, ModelSpec):
        blocks = spec.layers
    else:
        raw = spec.get("layers") if isinstance(spec, dict) else spec
        try:
            blocks = ModelSpec.model_validate({"layers": raw}).layers
        except ValidationError as exc:
            raise ConfigError([(f"model.{p}", m) for p, m in pydantic_problems(exc, nested_fields=lambda loc: ["type"])])
        problems = component_problems({"model": {"layers": raw}})
        if problems:
            raise ConfigError(problems)
    dtype = np.dtype(dtype or "float64")
    rng = np.random.default_rng(seed)
    features = in_features
    layers = []
    for i, block in enumerate(blocks):
        path = f"model.layers[{i}]"
        component = registry.get("layers", block.type, where=f"{path}.type")
        args = block.args
        if _accepts(component, "in_features") and "in_features" not in args:
            if features is None:
                raise ConfigError([(f"{path}.in_features", "cannot be inferred: give it, or build the model "
                                                           "with the data (in_features=...)")])
            args["in_features"] = features
        following = registry.get("layers", blocks[i + 1].type) if i + 1 < len(blocks) else None
        preferred = getattr(following, "init_before", None)
        if preferred is not None and _accepts(component, "init") and "init" not in args:
            args["init"] = preferred
        injected: dict[str, Any] = {}
        if _accepts(component, "rng") and "seed" not in args:
            injected["rng"] = rng
        if _accepts(component, "dtype"):
            injected["dtype"] = dtype.name
        layer = registry.build("layers", block.type, args, path=path, **injected)
        if features is not None:
            try:
                features = layer.forward(np.zeros((features, 1), dtype=dtype), training=False).shape[0]
            except LayerInitError:
                raise
            except MinidlError as exc:
                raise ConfigError([(path, f"does not accept the {features} features it receives: {exc}")]) from None
        layers.append(layer)
    if isinstance(spec, Experiment) and spec.data is not None and spec.data.standardize:
        if in_features is None:
            raise ConfigError([("data.standardize", "the model standardizes its inputs: build it with the "
                                                    "data (in_features=...)")])
        first = Standardize(in_features, dtype=dtype.name)
        if standardizer is not None:
            first = Standardize(in_features, mean=standardizer.mean, std=standardizer.std, dtype=dtype.name)
        layers.insert(0, first)
    model = Sequential(layers)
    if seed is not None:
        model.seed(seed)
    return model


def build_dataset(experiment: Experiment) -> Dataset:
    """Load the experiment's data source (relative paths from the experiment file's folder)."""
    if experiment.data is None:
        raise ConfigError([("data", "the experiment has no data section; add one, or pass data= in Python")],
                          experiment._source)
    source = experiment.data.source
    args = source.args
    for key in ("path",):
        if isinstance(args.get(key), str) and not Path(args[key]).expanduser().is_absolute():
            args[key] = str(experiment.base_dir / args[key])
    dataset = registry.build("datasets", source.type, args, path="data.source")
    if not isinstance(dataset, Dataset):
        raise ConfigError([("data.source", f"data source {source.type!r} returned {type(dataset).__name__}, "
                                           f"not a framework.Dataset")], experiment._source)
    return dataset


def prepare_data(experiment: Experiment, data=None) -> tuple[Dataset, Dataset | None, Standardizer | None]:
    """(train, validation, standardizer) in the experiment's dtype.

    The data is returned raw; ``standardizer`` (when ``data.standardize``)
    holds the training split's statistics, for
    ``build_model(experiment, in_features=..., standardizer=...)``.
    """
    if data is None:
        dataset = build_dataset(experiment)
    elif isinstance(data, Dataset):
        dataset = data
    else:
        X, y = data
        dataset = Dataset(X, y, name="arrays")
    spec = experiment.data or DataSpec(source=Block(type="arrays"))
    split_seed = experiment.seed if spec.split_seed is None else spec.split_seed
    train, val = dataset.split(spec.validation_split, seed=split_seed)
    # The data stays raw: the statistics fitted here become the model's first
    # layer (build_model(..., standardizer=scaler)), so the model takes raw data.
    scaler = Standardizer.fit(train.X) if spec.standardize else None
    dtype = experiment.dtype
    return train.astype(dtype), (val.astype(dtype) if val is not None else None), scaler
