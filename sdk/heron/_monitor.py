"""``@heron.monitor``: one decorator, four wrapper shapes, one shared `Observation`.

The shape (function, coroutine function, generator function, async generator function) and
everything that does not depend on the call (model attributes, where the features are among the
arguments) are decided once, at decoration time. At call time the wrapper captures the features,
runs the function exactly as it would run undecorated, and hands the outcome to the observation.
If capturing fails, the function still runs (unobserved); a fault is only ever counted.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar, overload

from . import _extract, _registry, _setup, _stats
from ._observe import Observation, _last

F = TypeVar("F", bound=Callable[..., Any])
_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
_Capture = Callable[[tuple[Any, ...], dict[str, Any]], Any]


def _param_getter(params: list[inspect.Parameter], name: str) -> _Capture:
    index = next((i for i, p in enumerate(params) if p.name == name and p.kind in _POSITIONAL), None)
    default = next((p.default for p in params if p.name == name), inspect.Parameter.empty)
    default = None if default is inspect.Parameter.empty else default

    def get(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if index is not None and len(args) > index:
            return args[index]
        return kwargs.get(name, default)

    return get


def _is_method(fn: Callable[..., Any]) -> bool:
    """Whether `fn` is a plain function whose first parameter is ``self`` (a method, decorated
    in its class body)."""
    try:
        first = next(iter(inspect.signature(fn).parameters.values()), None)
    except (TypeError, ValueError):
        return False
    return first is not None and first.name == "self" and not hasattr(fn, "__self__")


def _single(get: _Capture, name: str) -> _Capture:
    """The only argument as the features; a lone number, string or bool is one feature named
    after its parameter (``def predict(x: float)`` → feature ``x``)."""

    def single(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        value = get(args, kwargs)
        return {name: value} if isinstance(value, _extract.SCALARS) and value is not None else value

    return single


def _capture_for(fn: Callable[..., Any], features: str | Callable[..., Any] | None, ids: str | None) -> _Capture:
    """How to find the features among a call's arguments, decided once per decorated function."""
    if callable(features):
        extractor = features

        def call_extractor(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            return extractor(*args, **kwargs)

        return call_extractor
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        params = []
    if isinstance(features, str):
        if not any(p.name == features for p in params):
            raise ValueError(
                f"monitor(features={features!r}): {fn.__qualname__} has no parameter {features!r}; "
                f"name one of {[p.name for p in params]} or pass an extractor function"
            )
        return _param_getter(params, features)
    skip = 1 if params and params[0].name in ("self", "cls") and params[0].kind in _POSITIONAL else 0
    data = [
        p for p in params[skip:]
        if p.kind in (*_POSITIONAL, inspect.Parameter.KEYWORD_ONLY) and p.name != ids
    ]
    variadic = any(p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD) for p in params)
    if len(data) == 1 and not variadic:
        return _single(_param_getter(params, data[0].name), data[0].name)
    if not data:
        def only_argument(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            rest = args[skip:]
            if len(rest) == 1 and not kwargs:
                return rest[0]
            return dict(kwargs) if kwargs and not rest else None

        return only_argument
    positional = [p.name for p in params[skip:] if p.kind in _POSITIONAL]
    names = {p.name for p in data}
    defaults = {p.name: p.default for p in data if p.default is not inspect.Parameter.empty}

    def keywords(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        row = dict(defaults)
        row.update(zip(positional, args[skip:], strict=False))
        for k, v in kwargs.items():
            if k in names:
                row[k] = v
        row.pop(ids, None)
        return row

    return keywords


class _Tap:
    """Delegates a generator's protocol exactly (for ``yield from``), keeping what it yields."""

    __slots__ = ("_gen", "items")

    def __init__(self, gen: Any) -> None:
        self._gen = gen
        self.items: list[Any] = []

    def __iter__(self) -> _Tap:
        return self

    def __next__(self) -> Any:
        value = next(self._gen)
        self.items.append(value)
        return value

    def send(self, value: Any) -> Any:
        out = self._gen.send(value)
        self.items.append(out)
        return out

    def throw(self, *args: Any) -> Any:
        out = self._gen.throw(*args)
        self.items.append(out)
        return out

    def close(self) -> None:
        self._gen.close()


def _stream_result(items: list[Any], rows: int) -> Any:
    if len(items) == 1:
        return items[0]
    if items and len(items) == rows:
        return items
    return None


class _Calls:
    """What every wrapper shape of one decorated function shares, decided at decoration time:
    the model, where features and ids are among the arguments, and how a result is read."""

    def __init__(self, fn: Callable[..., Any], model: str | None, version: str, task: str,
                 features: str | Callable[..., Any] | None, prediction: Callable[[Any], Any] | None,
                 ids: str | Callable[..., Any] | None, feature_names: Sequence[str] | None,
                 classes: Sequence[Any] | None, tags: Mapping[str, Any] | None) -> None:
        name = model or getattr(fn, "__qualname__", None) or repr(fn)
        self.model = _registry.model(name, version, task)
        if not self.model.framework:
            self.model.framework = _registry.framework_of(fn)
        self.method = _is_method(fn)
        self.capture = _capture_for(fn, features, ids if isinstance(ids, str) else None)
        self.get_ids = _ids_getter(fn, ids)
        self.prediction = prediction
        self.feature_names = feature_names
        self.classes = classes
        self.tags = dict(tags) if tags else None

    def begin(self, args: tuple[Any, ...], kwargs: dict[str, Any], state: _setup.State,
              attach: bool) -> Observation | None:
        """The observation of one call, started; None (counted) when capturing failed."""
        try:
            m = self.model
            if self.method and not m.registered and not m.framework and args and hasattr(args[0], "__dict__"):
                m.framework = _registry.framework_in(vars(args[0]).values())  # the model `self` holds
            obs = Observation(m, state, tags=self.tags, attach=attach, feature_names=self.feature_names,
                              classes=self.classes)
            data = self.capture(args, kwargs)
            if data is not None:
                obs._table = _extract.features_of(data, self.feature_names)
                if obs._table is None:
                    obs.features(data)  # counts the fault with its explanation
            if self.get_ids is not None:
                given = self.get_ids(args, kwargs)
                if given is not None:
                    obs.features(ids=given)
            obs._start()
            return obs
        except Exception as exc:
            _stats.fault("capture", exc)
            return None

    def end(self, obs: Observation, result: Any) -> None:
        """A call that returned `result`."""
        if self.prediction is not None:
            try:
                result = self.prediction(result)
            except Exception as exc:
                _stats.fault("prediction_extractor", exc)
                result = None
        obs._result = result
        obs._finish(None)
        _last.set(obs)


def _ids_getter(fn: Callable[..., Any], ids: str | Callable[..., Any] | None) -> _Capture | None:
    if isinstance(ids, str):
        return _param_getter(list(inspect.signature(fn).parameters.values()), ids)
    if callable(ids):
        id_fn = ids

        def call_ids(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            return id_fn(*args, **kwargs)

        return call_ids
    return None


def _wrap_function(fn: Callable[..., Any], calls: _Calls) -> Callable[..., Any]:
    get_state = _setup.get

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        state = _setup._state or get_state()
        obs = calls.begin(args, kwargs, state, True) if state.enabled else None
        if obs is None:
            return fn(*args, **kwargs)
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            obs._finish(exc)
            raise
        calls.end(obs, result)
        return result

    return wrapper


def _wrap_coroutine(fn: Callable[..., Any], calls: _Calls) -> Callable[..., Any]:
    get_state = _setup.get

    @functools.wraps(fn)
    async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
        state = _setup._state or get_state()
        obs = calls.begin(args, kwargs, state, True) if state.enabled else None
        if obs is None:
            return await fn(*args, **kwargs)
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            obs._finish(exc)
            raise
        calls.end(obs, result)
        return result

    return async_wrapper


def _wrap_generator(fn: Callable[..., Any], calls: _Calls) -> Callable[..., Any]:
    @functools.wraps(fn)
    def gen_wrapper(*args: Any, **kwargs: Any) -> Any:
        state = _setup.get()
        gen = fn(*args, **kwargs)
        obs = calls.begin(args, kwargs, state, False) if state.enabled else None
        if obs is None:
            return (yield from gen)
        tap = _Tap(gen)
        try:
            value = yield from tap
        except GeneratorExit:  # the consumer stopped early: what it took is the prediction
            calls.end(obs, _stream_result(tap.items, obs.rows))
            raise
        except BaseException as exc:
            obs._finish(exc)
            raise
        calls.end(obs, _stream_result(tap.items, obs.rows))
        return value

    return gen_wrapper


def _wrap_async_generator(fn: Callable[..., Any], calls: _Calls) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def agen_wrapper(*args: Any, **kwargs: Any) -> Any:
        state = _setup.get()
        agen = fn(*args, **kwargs)
        obs = calls.begin(args, kwargs, state, False) if state.enabled else None
        items: list[Any] = []
        try:
            try:
                item = await agen.__anext__()
                while True:
                    items.append(item)
                    try:
                        sent = yield item
                    except GeneratorExit:
                        await agen.aclose()
                        raise
                    except BaseException as thrown:
                        item = await agen.athrow(thrown)
                    else:
                        item = await (agen.asend(sent) if sent is not None else agen.__anext__())
            except StopAsyncIteration:
                pass
        except GeneratorExit:
            if obs is not None:
                calls.end(obs, _stream_result(items, obs.rows))
            raise
        except BaseException as exc:
            if obs is not None:
                obs._finish(exc)
            raise
        if obs is not None:
            calls.end(obs, _stream_result(items, obs.rows))

    return agen_wrapper


def _decorate(fn: F, *settings: Any) -> F:
    """`fn` wrapped in the shape it has (function, coroutine, generator, async generator)."""
    if not callable(fn):
        raise TypeError(f"heron.monitor decorates functions, got {type(fn).__name__}")
    calls = _Calls(fn, *settings)
    if inspect.isasyncgenfunction(fn):
        return _wrap_async_generator(fn, calls)  # type: ignore[return-value]
    if inspect.isgeneratorfunction(fn):
        return _wrap_generator(fn, calls)  # type: ignore[return-value]
    if inspect.iscoroutinefunction(fn):
        return _wrap_coroutine(fn, calls)  # type: ignore[return-value]
    return _wrap_function(fn, calls)  # type: ignore[return-value]


@overload
def monitor(fn: F, /) -> F: ...


@overload
def monitor(
    fn: None = None,
    /,
    *,
    model: str | None = None,
    version: str = "unversioned",
    task: str | None = None,
    features: str | Callable[..., Any] | None = None,
    prediction: Callable[[Any], Any] | None = None,
    ids: str | Callable[..., Any] | None = None,
    feature_names: Sequence[str] | None = None,
    classes: Sequence[Any] | None = None,
    tags: Mapping[str, Any] | None = None,
) -> Callable[[F], F]: ...


def monitor(
    fn: F | None = None,
    /,
    *,
    model: str | None = None,
    version: str = "unversioned",
    task: str | None = None,
    features: str | Callable[..., Any] | None = None,
    prediction: Callable[[Any], Any] | None = None,
    ids: str | Callable[..., Any] | None = None,
    feature_names: Sequence[str] | None = None,
    classes: Sequence[Any] | None = None,
    tags: Mapping[str, Any] | None = None,
) -> F | Callable[[F], F]:
    """Monitor a predict function: ``@heron.monitor`` or ``@heron.monitor(model=..., version=...)``.

    Every call becomes one ``heron.predict`` span and one prediction record (one columnar record
    for a batch), plus the ``heron.predictions`` counter and ``heron.predict.duration`` histogram.
    The function returns and raises exactly what it would undecorated.

    - ``model`` (default: the function's qualified name), ``version``, ``task``
      (binary_classification, multiclass_classification, regression).
    - ``features``: the parameter holding the features, or ``f(*args, **kwargs) -> features``.
      Default: the single argument (after self/cls), or all arguments by name.
    - ``prediction``: ``f(result) -> predictions`` when the result is not a label, value, array,
      probability matrix or dict with prediction/score/probabilities keys.
    - ``ids``: the parameter carrying your own prediction ids (or ``f(*args, **kwargs) -> ids``).
    - ``feature_names`` for unnamed numpy/list columns; ``classes`` for probability columns
      (e.g. ``model.classes_``); ``tags``: segments recorded on every call.
    """
    task_checked = _registry.check_task(task)
    if model is not None and (not isinstance(model, str) or not model):
        raise ValueError(f"monitor(model=...): expected a non-empty string, got {model!r}")

    def decorate(f: F) -> F:
        return _decorate(f, model, str(version), task_checked, features, prediction, ids,
                         feature_names, classes, tags)

    return decorate(fn) if fn is not None else decorate
