"""Registry factories for classes that take their parameters as one pydantic model.

`params_factory(SyncShapes, SyncShapesParams, ("clip", "split", "audio_repr"))` is a callable
whose signature names exactly the context it takes plus each parameter field, so
proav_core.build offers it nothing else and rejects unknown keywords with a clear message.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from proav_core import ComponentParams


def params_factory(cls: type, params: type[ComponentParams], context: tuple[str, ...]) -> Callable[..., Any]:
    """factory(**context, **fields) -> cls(**context, params=params(**fields))."""

    def factory(**kwargs: Any) -> Any:
        ctx = {k: kwargs.pop(k) for k in context if k in kwargs}
        return cls(**ctx, params=params(**kwargs))

    kw = inspect.Parameter.KEYWORD_ONLY
    fields = [inspect.Parameter(n, kw, default=inspect.Parameter.empty if f.is_required() else f.default)
              for n, f in params.model_fields.items()]
    own = inspect.signature(cls).parameters  # context defaults are the class's own (split="train", ...)
    given = [inspect.Parameter(c, kw, default=own[c].default if c in own else inspect.Parameter.empty)
             for c in context]
    signature = inspect.Signature(given + fields)
    factory.__signature__ = signature  # type: ignore[attr-defined]
    factory.__name__ = factory.__qualname__ = cls.__name__
    factory.__module__ = cls.__module__
    factory.__doc__ = cls.__doc__
    return factory
