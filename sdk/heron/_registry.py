"""Models known to this process, and the `heron.model` registry record sent once per version."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from . import _env, _record, _setup, _stats

TASKS = ("binary_classification", "multiclass_classification", "regression", "")
_FRAMEWORKS = {  # import name → distribution name
    "sklearn": "scikit-learn", "xgboost": "xgboost", "lightgbm": "lightgbm", "catboost": "catboost",
    "torch": "torch", "tensorflow": "tensorflow", "keras": "keras", "jax": "jax",
    "transformers": "transformers", "statsmodels": "statsmodels", "numpy": "numpy", "pandas": "pandas",
}


class Model:
    """Per (name, version) state shared by every decorator and observation of that version."""

    __slots__ = ("attrs", "framework", "kinds", "metric_attrs", "name", "registered", "task", "version")

    def __init__(self, name: str, version: str, task: str = "") -> None:
        self.name = name
        self.version = version
        self.task = task
        self.attrs = {"ml.model.name": name, "ml.model.version": version, "heron.schema.version": "1"}
        self.metric_attrs = {"ml.model.name": name, "ml.model.version": version}
        self.kinds: dict[str, str] = {}  # feature name → numeric / categorical, as first seen
        self.registered = False
        self.framework = ""  # as detected by @monitor (framework_of), unless register_model says


_models: dict[tuple[str, str], Model] = {}
_lock = threading.Lock()


def model(name: str, version: str, task: str = "") -> Model:
    key = (name, version)
    m = _models.get(key)
    if m is None:
        with _lock:
            m = _models.setdefault(key, Model(name, version, task))
    if task and not m.task:
        m.task = task
    return m


_model = model  # register_model's `model` argument shadows the function


def check_task(task: str | None) -> str:
    task = task or ""
    if task not in TASKS:
        raise ValueError(
            f"task={task!r} is not one of {', '.join(repr(t) for t in TASKS if t)} (or None when unknown)"
        )
    return task


def _git_sha() -> str:
    sha = _env.git_sha_from_environment()
    if sha:
        return sha
    main = sys.modules.get("__main__")
    start = Path(getattr(main, "__file__", None) or os.getcwd()).resolve()
    for d in [start, *start.parents]:
        head = d / ".git" / "HEAD"
        if head.is_file():
            ref = head.read_text().strip()
            if not ref.startswith("ref: "):
                return ref[:40]
            ref_path = d / ".git" / ref[5:]
            if ref_path.is_file():
                return ref_path.read_text().strip()[:40]
            packed = d / ".git" / "packed-refs"
            if packed.is_file():
                for line in packed.read_text().splitlines():
                    if line.endswith(ref[5:]):
                        return line.split()[0][:40]
            return ""
    return ""


_NOT_MODELS = {"numpy", "pandas"}


def framework_in(values: Any) -> str:
    """The distribution of the first model object among `values` (e.g. ``scikit-learn`` for a
    fitted estimator), "" when none is from a known framework."""
    for value in values:
        root = type(value).__module__.split(".")[0]
        dist = _FRAMEWORKS.get(root)
        if dist and root not in _NOT_MODELS:
            return dist
    return ""


def framework_of(fn: Any) -> str:
    """The framework of the model a predict function calls, found without calling it: the object
    a bound method belongs to, then the function's closure, then the globals its code names."""
    owner = getattr(fn, "__self__", None)
    found = framework_in([owner]) if owner is not None else ""
    code = getattr(fn, "__code__", None)
    if not found and code is not None:
        cells = []
        for cell in getattr(fn, "__closure__", None) or ():
            try:
                cells.append(cell.cell_contents)
            except ValueError:  # an empty cell
                continue
        found = framework_in(cells)
        if not found:
            scope = getattr(fn, "__globals__", {})
            found = framework_in(scope[name] for name in code.co_names if name in scope)
    return found


def _libraries(framework: str) -> dict[str, str]:
    from . import __version__

    libs = {"heron": __version__}
    names = {dist for mod, dist in _FRAMEWORKS.items() if mod in sys.modules}
    if framework:
        names.add(framework)
    names.add("opentelemetry-sdk")
    for dist in sorted(names):
        try:
            libs[dist] = metadata.version(dist)
        except Exception:
            continue
    return libs


class ModelBody(_setup.Lazy):
    __slots__ = ("fields",)

    def __init__(self, fields: dict[str, Any]) -> None:
        self.fields = fields

    def render(self) -> list[tuple[str, int, str]]:
        body = dict(self.fields)
        body["libraries"] = _libraries(str(body.get("framework") or ""))
        body["git_sha"] = body.get("git_sha") or _git_sha()
        return [(_record.dumps(_record.json_safe({k: v for k, v in body.items() if v is not None})), 1, "row")]


def emit_registration(
    m: Model,
    *,
    task: str | None = None,
    framework: str | None = None,
    params: Mapping[str, Any] | None = None,
    training_data_version: str | None = None,
    owner: str | None = None,
    tags: Mapping[str, str] | None = None,
    positive_class: Any = None,
    git_sha: str | None = None,
) -> None:
    state = _setup.get()
    m.registered = True
    if not state.enabled:
        return
    try:
        fields = {
            "task": task or m.task or "",
            "positive_class": None if positive_class is None else _record.text(positive_class),
            "framework": framework or m.framework or "",
            "owner": owner or "",
            "training_data_version": training_data_version or "",
            "params": dict(params) if params else {},
            "tags": {str(k): str(v) for k, v in (tags or {}).items()},
            "git_sha": git_sha,
        }
        _setup.emit(state, "heron.model", m.attrs, ModelBody(fields), 1, time.time_ns())
    except Exception as exc:
        _stats.fault("register_model", exc)


def register_model(
    model: str | None = None,
    version: str | None = None,
    *,
    task: str | None = None,
    framework: str | None = None,
    hyperparameters: Mapping[str, Any] | None = None,
    training_data_version: str | None = None,
    owner: str | None = None,
    tags: Mapping[str, str] | None = None,
    positive_class: Any = None,
    git_sha: str | None = None,
    name: str | None = None,
) -> None:
    """Record a model version in the registry (``ml_models``).

    ``model=`` is the model's name, as in every other call; ``name=`` is its older spelling.

    Library versions (the model's framework, numpy, pandas, heron …) and the git commit are
    captured automatically. ``@heron.monitor`` registers implicitly on its first call; call this
    to add metadata (the newest registration of a version wins).
    """
    if name is not None and model is not None and name != model:
        raise ValueError("register_model: pass model= (name= is its older spelling), not both")
    name = model if model is not None else name
    if not isinstance(name, str) or not name:
        raise ValueError(f"register_model(model=...): expected a non-empty model name, got {name!r}")
    if version is None:
        raise ValueError("register_model(version=...): the model's version is required")
    task = check_task(task)
    m = _model(name, str(version), task)
    emit_registration(
        m, task=task, framework=framework, params=hyperparameters,
        training_data_version=training_data_version, owner=owner, tags=tags,
        positive_class=positive_class, git_sha=git_sha,
    )
