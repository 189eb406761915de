"""Serving a model repository (models/repository.py) as it changes: the worker looks at
the folder every REPOSITORY_POLL_S and

- loads a new version (in a thread: reading, converting, warming up) and only then
  adds its endpoint, so its first frames are no slower than the others, while the
  versions already served go on answering;
- drains a version gone from the folder (its endpoint leaves the service, the frames
  it took are answered, then its model is freed);
- leaves a version that fails to load out, with why in the log and in the service's
  `model_errors`, and tries it again only once its files change (not every poll).

A version changed in place (same folder, new files) is not reloaded: add a version.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Callable

from ..config import Config
from ..models.base import ModelLoadError
from ..models.repository import ModelVersion, ServeSelection, scan_repository
from ..models.served import LoadedModel, load_version
from ..ops.log import log_fields
from ..wire import contract
from .worker import Worker

log = logging.getLogger("inference_server.serving.repository")

# How often the repository folder is looked at: a copied version is noticed within
# seconds (loading and warming it up takes longer), and listing a few folders that
# often costs nothing. Polling rather than inotify: it works on every file system
# (network and container mounts too) with no dependency.
REPOSITORY_POLL_S = 2.0

Load = Callable[[Config, ModelVersion], LoadedModel]
# What a version's files are: (path, size, mtime) of each; a failed load is tried
# again only when this changes.
Signature = tuple[tuple[str, int, int], ...]


def signature(version: ModelVersion) -> Signature:
    if version.directory is None:
        return ()
    found = []
    for path in sorted(Path(version.directory).iterdir()):
        with contextlib.suppress(OSError):
            st = path.stat()
            found.append((path.name, st.st_size, st.st_mtime_ns))
    return tuple(found)


class RepositoryWatcher:
    """The model-versions of one repository folder that `selection` picks."""

    def __init__(self, cfg: Config, root: str, selection: ServeSelection,
                 load: Load = load_version) -> None:
        self.cfg = cfg
        self.root = root
        self.selection = selection
        self._load = load
        self.errors: dict[str, str] = {}  # scan errors and failed loads, by reference
        self._failed: dict[str, Signature] = {}  # failed loads: their files then

    async def load_initial(self) -> list[LoadedModel]:
        """Load every version picked (before the worker serves): the worker's first
        endpoints. A version that fails is in `errors`."""
        scan = await asyncio.to_thread(scan_repository, self.root)
        picked = self.selection.pick(scan.versions)
        self._scan_errors(scan.errors)
        for missing in self.selection.missing(scan.versions):
            log_fields(log, logging.WARNING, "--serve names a model the repository does "
                       "not have (yet)", model=missing, repository=self.root)
        loaded = []
        for version in picked:
            model = await self._try_load(version)
            if model is not None:
                loaded.append(model)
        return loaded

    async def watch(self, worker: Worker, stop: asyncio.Event) -> None:
        """Follow the folder until `stop`."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), REPOSITORY_POLL_S)
            if stop.is_set():
                return
            try:
                await self.sync(worker, stop)
            except OSError as exc:  # the folder went away or cannot be read: keep serving
                log_fields(log, logging.ERROR, "cannot read the model repository",
                           repository=self.root, error=str(exc))

    async def sync(self, worker: Worker, stop: asyncio.Event | None = None) -> None:
        """Bring what the worker serves in line with the folder once."""
        scan = await asyncio.to_thread(scan_repository, self.root)
        wanted = {v.ref: v for v in self.selection.pick(scan.versions)}
        for ref in set(self._failed) - set(wanted):
            del self._failed[ref]  # gone: no error to keep
        self._scan_errors(scan.errors)
        for ref in sorted(set(worker.models) - set(wanted)):
            log_fields(log, logging.INFO, "model version gone from the repository: draining",
                       model=ref)
            await worker.remove_model(ref)
        for ref, version in sorted(wanted.items()):
            if stop is not None and stop.is_set():
                break
            if ref in worker.models or self._failed.get(ref) == signature(version):
                continue
            loaded = await self._try_load(version)
            if loaded is not None and stop is not None and stop.is_set():
                await asyncio.to_thread(loaded.close)  # stopping: not served after all
                break
            if loaded is not None:
                await worker.add_model(loaded)
        worker.set_model_errors(self.errors)

    def _scan_errors(self, scan_errors: dict[str, str]) -> None:
        """Keep the failed loads still current, and the scan's errors of what
        --serve picks."""
        for key, why in scan_errors.items():
            if key not in self.errors:
                log_fields(log, logging.ERROR, "model version not served", model=key,
                           error=why)
        self.errors = {**{k: v for k, v in scan_errors.items() if self._picks(k)},
                       **{ref: self.errors[ref] for ref in self._failed if ref in self.errors}}

    def _picks(self, key: str) -> bool:
        """Whether --serve picks the version of a scan error (`name@version`; a folder
        that is not a version, `name` or `name/folder`: when its name is picked)."""
        name, _, version = key.partition(contract.MODEL_REF_VERSION_SEPARATOR)
        if version.isdigit():
            return self.selection.wants(name, int(version))
        name = key.split("/")[0]
        return not self.selection.refs or any(n == name for n, _ in self.selection.refs)

    async def _try_load(self, version: ModelVersion) -> LoadedModel | None:
        files = signature(version)
        log_fields(log, logging.INFO, "loading model version", model=version.ref,
                   file=version.model)
        try:
            loaded = await asyncio.to_thread(self._load, self.cfg, version)
        except Exception as exc:  # noqa: BLE001 - ModelLoadError, or a runtime failing on
            # a broken file in its own way: that version is out, the others serve on.
            if not isinstance(exc, ModelLoadError):
                log.debug("load failure", exc_info=True)
            self._failed[version.ref] = files
            self.errors[version.ref] = str(exc)
            log_fields(log, logging.ERROR, "model version failed to load; the others "
                       "serve on", model=version.ref, error=str(exc))
            return None
        self._failed.pop(version.ref, None)
        self.errors.pop(version.ref, None)
        return loaded
