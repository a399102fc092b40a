"""A content-addressed cache of analysis results: a rerun reuses what did not change.

Each result of an :func:`~evaluation.analysis.base.analysis` is stored under a key, the sha256
of everything the result can depend on:

- the analysis's name, the package version and a fingerprint of the code results depend on
  (:data:`RESULT_CODE`: an edited estimator never reuses a result of the old code);
- the content of the prepared data (every prepared table and the meta, hashed in memory, so a
  changed input file changes the key whatever its name);
- the parameter sections the analysis reads (``AnalysisSpec.reads``: by default ``data``,
  ``demo``, ``harmonise``, ``ballot``, ``analysis``, ``inference``; the scaling page adds
  ``scaling``), so changing ``scaling.budget_vnd`` recomputes only the scaling analyses;
- the keys of the upstream results passed in (or the content of any other argument).

The cache is off unless switched on: by :func:`use_cache` or, in a notebook kernel started by
the runner, by the ``EVALUATION_CACHE_DIR`` environment variable. What each call did (reused or
computed) is appended to the file named by ``EVALUATION_CACHE_LOG``, which the runner turns into
the manifest's per-page record.

Entries are written atomically (a temporary file in the same folder, then a rename) and carry
the sha256 of their payload: an entry whose payload does not match (truncated, corrupted,
half-written) is deleted and its result recomputed, never used.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import tempfile
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from evaluation.analysis.base import AnalysisSpec
    from evaluation.config import Params
    from evaluation.prepare import Prepared

#: Folder of the cache in a kernel the runner started ("" = switched off).
ENV_DIR = "EVALUATION_CACHE_DIR"
#: JSON-lines file where each analysis call records whether it was reused or computed.
ENV_LOG = "EVALUATION_CACHE_LOG"
#: The code fingerprint a run computed once and handed to its kernels, so that every page of
#: one run keys on the same code even if a source file is saved meanwhile.
ENV_CODE = "EVALUATION_CACHE_CODE"
#: First bytes of every entry; the format's version is part of it.
MAGIC = b"evaluation-cache-2"
PACKAGE = "hanam-evaluation"


@dataclass(frozen=True)
class CacheEvent:
    """What one analysis call did: ``reused`` an entry, or ``computed`` its result."""

    analysis: str
    page: str
    status: str
    key: str | None
    path: str | None

    def to_dict(self) -> dict[str, str | None]:
        return {
            "analysis": self.analysis,
            "page": self.page,
            "status": self.status,
            "key": self.key,
            "path": self.path,
        }


class ResultCache:
    """Results on disk under ``folder/<key[:2]>/<key>.pkl``.

    Pickle is used for the payload because results hold DataFrames and dataclasses. That is
    acceptable only because this cache is local and written by this package itself: an entry
    is unpickled only after its payload's sha256, written beside it, matches. Never point the
    cache at a folder other people can write to.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.pkl"

    def get(self, key: str) -> tuple[bool, Any]:
        """``(True, result)`` for a sound entry; ``(False, None)`` when absent or damaged.

        A damaged entry (wrong header, wrong key, payload whose sha256 does not match) is
        deleted so that the recomputed result replaces it.
        """
        path = self.path(key)
        try:
            blob = path.read_bytes()
        except OSError:
            return False, None
        header, _, payload = blob.partition(b"\n")
        parts = header.split(b" ")
        sound = (
            len(parts) == 3
            and parts[0] == MAGIC
            and parts[1] == key.encode()
            and parts[2] == hashlib.sha256(payload).hexdigest().encode()
        )
        if sound:
            try:
                return True, pickle.loads(payload)  # noqa: S301 - hash checked above, see class doc
            except Exception:  # written by another version of a class: recompute
                sound = False
        with suppress(OSError):
            path.unlink()
        return False, None

    def put(self, key: str, value: Any) -> Path | None:
        """Store ``value`` atomically; None when it cannot be pickled or written (not fatal:
        the result is simply computed again next time)."""
        try:
            payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # a result holding something unpicklable: not cached
            return None
        path = self.path(key)
        header = b" ".join((MAGIC, key.encode(), hashlib.sha256(payload).hexdigest().encode()))
        tmp = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{key[:12]}-", suffix=".tmp", dir=path.parent)
            with os.fdopen(fd, "wb") as handle:
                handle.write(header + b"\n" + payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)  # readers see the whole entry or none
        except OSError:
            if tmp is not None:
                with suppress(OSError):
                    os.unlink(tmp)
            return None
        return path


# --------------------------------------------------------------------------------------------
# Switching the cache on and off


_OVERRIDE: list[ResultCache | None] = []


def active_cache() -> ResultCache | None:
    """The cache in use: the innermost :func:`use_cache`, else ``$EVALUATION_CACHE_DIR``."""
    if _OVERRIDE:
        return _OVERRIDE[-1]
    folder = os.environ.get(ENV_DIR, "")
    return ResultCache(Path(folder)) if folder else None


@contextmanager
def use_cache(folder: str | Path | None) -> Iterator[ResultCache | None]:
    """Use the cache in ``folder`` (None: no cache) for the analyses called inside."""
    cache_ = ResultCache(Path(folder)) if folder is not None else None
    _OVERRIDE.append(cache_)
    try:
        yield cache_
    finally:
        _OVERRIDE.pop()


def kernel_environment(folder: Path | None, log: Path, code: str = "") -> dict[str, str]:
    """Environment variables that switch the cache on (or off) in a notebook kernel, name its
    log and the run's code fingerprint."""
    return {
        ENV_DIR: str(folder) if folder is not None else "",
        ENV_LOG: str(log),
        ENV_CODE: code,
    }


def read_log(log: Path) -> list[CacheEvent]:
    """The events a kernel appended to ``log`` (a torn last line is ignored)."""
    events = []
    try:
        lines = log.read_text("utf-8").splitlines()
    except OSError:
        return []
    for line in lines:
        try:
            events.append(CacheEvent(**json.loads(line)))
        except (ValueError, TypeError):
            continue
    return events


def _record(event: CacheEvent) -> None:
    log = os.environ.get(ENV_LOG, "")
    if not log:
        return
    with suppress(OSError), open(log, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(event.to_dict()) + "\n")


# --------------------------------------------------------------------------------------------
# Keys


#: The code a result can depend on (pages, runner and command line only render or orchestrate;
#: changes of the data code reach the key through the prepared data as well).
RESULT_CODE = (
    "analysis",
    "estimators",
    "inference",
    "scaling",
    "data",
    "measures.py",
    "config.py",
    "cache.py",
)


def code_fingerprint() -> str:
    """The package version and the sha256 of the code results depend on (:data:`RESULT_CODE`):
    an edited estimator never reuses the old code's results. In a kernel of a run, the run's
    fingerprint (``$EVALUATION_CACHE_CODE``)."""
    return os.environ.get(ENV_CODE) or _source_fingerprint()


@cache
def _source_fingerprint() -> str:
    try:
        version = metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        version = "unknown"
    digest = hashlib.sha256(version.encode())
    root = Path(__file__).resolve().parent
    for part in RESULT_CODE:
        paths = [root / part] if part.endswith(".py") else sorted((root / part).rglob("*.py"))
        for path in paths:
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(path.read_bytes())
    return f"{version}:{digest.hexdigest()}"


def frame_digest(frame: pd.DataFrame | pd.Series) -> str:
    """sha256 of a table's columns, dtypes, index and values."""
    if isinstance(frame, pd.Series):
        frame = frame.to_frame()
    digest = hashlib.sha256()
    digest.update(json.dumps([str(c) for c in frame.columns]).encode())
    digest.update(json.dumps([str(d) for d in frame.dtypes]).encode())
    try:
        values = pd.util.hash_pandas_object(frame, index=True).to_numpy()
    except (TypeError, ValueError):  # cells pandas cannot hash (lists): hash their text
        values = pd.util.hash_pandas_object(frame.astype(str), index=True).to_numpy()
    digest.update(values.tobytes())
    return digest.hexdigest()


#: Digests already computed, by object identity (the object is kept so its id is not reused).
_KNOWN: OrderedDict[int, tuple[object, str]] = OrderedDict()
_KNOWN_MAX = 512


def _remember(value: object, digest: str) -> None:
    _KNOWN[id(value)] = (value, digest)
    _KNOWN.move_to_end(id(value))
    while len(_KNOWN) > _KNOWN_MAX:
        _KNOWN.popitem(last=False)


def _known(value: object) -> str | None:
    entry = _KNOWN.get(id(value))
    return entry[1] if entry is not None and entry[0] is value else None


def prepared_digest(prepared: Prepared) -> str:
    """sha256 of every prepared table and the meta (once per Prepared object)."""
    known = _known(prepared)
    if known is not None:
        return known
    from evaluation.prepare import PREPARED_TABLES

    digest = hashlib.sha256()
    for name in PREPARED_TABLES:
        table = getattr(prepared, name)
        digest.update(f"{name}:{frame_digest(table) if table is not None else '-'};".encode())
    digest.update(json.dumps(prepared.meta, sort_keys=True, default=str).encode())
    out = digest.hexdigest()
    _remember(prepared, out)
    return out


def value_digest(value: object) -> str:
    """What an upstream argument contributes to a key: a result's own key when it came from
    an analysis, else the sha256 of its content."""
    known = _known(value)
    if known is not None:
        return f"result:{known}"
    if value is None:
        return "none"
    if isinstance(value, pd.DataFrame | pd.Series):
        return f"frame:{frame_digest(value)}"
    from evaluation.analysis.base import to_jsonable

    text = json.dumps(to_jsonable(value), sort_keys=True, default=repr)
    return f"value:{hashlib.sha256(text.encode()).hexdigest()}"


def params_sections(params: Params, sections: tuple[str, ...]) -> dict[str, Any]:
    """The parameter sections ``sections`` as JSON-ready values."""
    dumped = params.model_dump(mode="json")
    return {section: dumped.get(section) for section in sorted(sections)}


def analysis_key(
    spec: AnalysisSpec,
    prepared: Prepared,
    params: Params,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> str:
    """The cache key of one analysis call (see the module's description)."""
    parts = {
        "analysis": spec.name,
        "code": code_fingerprint(),
        "prepared": prepared_digest(prepared),
        "params": params_sections(params, spec.reads),
        "upstream": [value_digest(a) for a in args],
        "keywords": {k: value_digest(v) for k, v in sorted(kwargs.items())},
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


#: Warnings already shown in this process, for :func:`warnings.warn_explicit` (once per place).
_WARNED: dict = {}


def _computed(function: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, list]:
    """Call ``function``; its result and the warnings it raised, as (category, text, file, line)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = function(*args, **kwargs)
    raised = []
    for w in caught:
        item = (w.category, str(w.message), w.filename, w.lineno)
        if item not in raised:
            raised.append(item)
    return result, raised


def _show(raised: list) -> None:
    """Show the warnings a computation raised, the same way whether it ran now or was reused
    (a page shows the same text either way)."""
    for category, text, filename, lineno in raised:
        warnings.warn_explicit(text, category, filename, lineno, registry=_WARNED)


def cached_call(
    spec: AnalysisSpec,
    function: Callable[..., Any],
    prepared: Prepared,
    params: Params,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    """Run ``function`` through the active cache: reuse a sound entry, else compute and store.

    Every call is recorded (reused or computed). The warnings a computation raised are stored
    with its result and shown again when it is reused. A result reused or computed here is
    remembered with its key, so a downstream analysis receiving it keys on that key. Results
    are not to be changed in place by the pages (they render, never compute).
    """
    store = active_cache()
    if store is None:
        result, raised = _computed(function, prepared, params, *args, **kwargs)
        _record(CacheEvent(spec.name, spec.page, "computed", None, None))
        _show(raised)
        return result
    key = analysis_key(spec, prepared, params, args, kwargs)
    found, entry = store.get(key)
    if found:
        result, raised = entry
        _record(CacheEvent(spec.name, spec.page, "reused", key, str(store.path(key))))
    else:
        result, raised = _computed(function, prepared, params, *args, **kwargs)
        path = store.put(key, (result, raised))
        _record(CacheEvent(spec.name, spec.page, "computed", key, str(path) if path else None))
    _show(raised)
    if result is not None:
        _remember(result, key)
    return result
