"""The ``dropfolder`` connector: files dropped into a folder, claimed, read, archived.

Datasheet
=========
:roles:     source only.
:reads:     every regular file in ``path`` whose name matches ``pattern`` (not recursive;
            hidden files — names starting with ``.`` — never match: uploaders write
            their temporaries that way), in name order (resumed files first), decoded
            exactly as the ``file`` connector decodes it (jsonl, json, csv, xml, fixed,
            text; the format from ``format:`` or from each file's extension).
:meta:      ``file`` (the name as dropped), ``line`` or ``index`` (as the file
            connector gives them), ``claimed`` (the file's path in processing).
:ready:     ``ready: stable`` (default) — a file is read once its size and mtime have
            not changed for ``stable_for`` (judged by its mtime's age, or by watching it
            across scans when that is not yet old enough); ``stable_for: 0`` reads at
            once, for producers that rename finished files into the folder.
            ``ready: done`` — a file is read once ``<name><done_suffix>`` exists (the
            producer writes it after the data); the marker is removed once the file is
            claimed.
:claims:    a file is claimed by renaming it into ``processing/<owner>/`` — a folder of
            this source instance, held with an exclusive ``flock`` on its ``.lock`` for
            the instance's life. A rename is atomic: of two instances that see the same
            file, exactly one claims it. A file whose name is still being processed
            waits in the folder until the earlier one is finished.
:finishes:  when every record of a file has been acknowledged, the file moves to
            ``archive/`` (``on_success: delete`` removes it instead) — or, when some
            record could not be decoded, to ``error/`` with ``<name>.errors.json``
            listing file, line and message of each bad record (``on_bad_records:
            archive`` archives it with its report instead). The good records of such a
            file were delivered all the same. A name already taken in the target folder
            gets a timestamp before its extension (``orders.20240501T101500123456Z.csv``).
:follow:    ``false`` (``integrator run``): the files present at start, then the end;
            one not yet stable is waited for up to twice ``stable_for`` (still changing
            after that, or without its done file: left for the next run, with a log
            line). ``true``: scan every ``poll_interval`` until stopped.

Guarantees
----------
* At-least-once: nothing is archived before all its records are acknowledged. How far
  a file was acknowledged (the contiguous prefix) is saved beside it in
  ``processing/<owner>/.<name>.progress.json`` after each acknowledgement.
* Crash safety: at start, files in ``processing/`` that belong to no live instance (a
  loose file, or the folder of an owner whose lock is free: it crashed or was closed
  with work pending) are adopted and read again, skipping the records already
  acknowledged. A record acknowledged out of order may therefore come again; one never
  acknowledged always does. A run that acknowledges nothing (``--dry-run``) or fails
  leaves its files claimed in ``processing/``; the next start takes them up.
* A file is never read while it is being written, as far as ``ready`` can tell: with
  ``ready: stable`` a writer that pauses longer than ``stable_for`` defeats it — use a
  done file or rename-into-place for such producers.
* Bad input never stops the source: an undecodable record, a file of unknown format or
  with an unreadable CSV header becomes an error record (the engine dead-letters it)
  and the file goes to ``error/``.
* Locking uses ``flock`` (POSIX). On network file systems, prefer one instance per
  folder unless the file system honours ``flock`` across machines.

Options: :data:`DropFolderConnector.spec` (``integrator connectors show dropfolder``).
"""

from __future__ import annotations

import asyncio
import errno
import fnmatch
import json
import os
import re
import secrets
import shutil
import socket
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from integrator.connectors.base import (
    Capabilities,
    CheckResult,
    Connector,
    Progress,
    Record,
    Source,
)
from integrator.connectors.builtin.files import (
    READ_OPTIONS,
    FileSettings,
    derive_format,
    read_records,
)
from integrator.connectors.spec import Config, ConfigSpec, Option, OptionProblem
from integrator.errors import DecodeError, FatalError, IntegratorError

try:  # POSIX; elsewhere instances of one folder are not protected from each other
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["DropFolderConnector", "DropFolderSource", "Readiness"]

LOCK_NAME = ".lock"
MAX_REPORTED_ERRORS = 1000
_OWNER_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


# --------------------------------------------------------------------------- options

def _read_options() -> tuple[Option, ...]:
    """The file connector's reading options; format defaults to each file's extension."""
    out = []
    for option in READ_OPTIONS:
        o = option
        if o.name == "format":
            o = Option(o.name, o.type, "Format of every file. Default: from each file's "
                       "extension (.jsonl/.ndjson, .json, .csv, .xml, .txt); a file whose "
                       "format cannot be told goes to the error folder.",
                       choices=o.choices, default=None, examples=("csv", "fixed"))
        out.append(o)
    return tuple(out)


_OPTIONS: tuple[Option, ...] = (
    Option("path", "path", "The folder to watch (relative paths resolve against the "
           "flow's work directory). It must exist.", required=True,
           examples=("inbox/orders",)),
    Option("pattern", "string", "Which file names to take (a glob on the name, not "
           "recursive). Hidden names (.*) never match.", default="*",
           examples=("*.csv", "ORD_*.txt")),
    Option("ready", "enum", "When a file is complete: `stable` — its size and mtime "
           "have not changed for stable_for; `done` — its done file (<name><done_suffix>) "
           "exists.", choices=("stable", "done"), default="stable", examples=("done",)),
    Option("stable_for", "duration", "ready: stable — how long a file must stay "
           "unchanged. 0 reads files at once (producers that rename into place).",
           default="2s", examples=("2s", "30s", 0)),
    Option("done_suffix", "string", "ready: done — the suffix of the marker file the "
           "producer writes after the data file (removed once the file is claimed).",
           default=".done", examples=(".done", ".ok")),
    Option("poll_interval", "duration", "How often the folder is scanned.",
           default="1s", minimum=0, examples=("1s", "250ms", "1m")),
    Option("processing_folder", "string", "Where claimed files wait until acknowledged "
           "(relative to path, or absolute; on the same file system as path).",
           default="processing", examples=("processing",)),
    Option("archive_folder", "string", "Where finished files go (relative to path, or "
           "absolute).", default="archive", examples=("archive", "/data/archive/orders")),
    Option("error_folder", "string", "Where files with bad records go, each with a "
           "<name>.errors.json report (relative to path, or absolute).",
           default="error", examples=("error",)),
    Option("on_success", "enum", "What happens to a file whose every record was "
           "acknowledged: archive it, or delete it.", choices=("archive", "delete"),
           default="archive", examples=("delete",)),
    Option("on_bad_records", "enum", "A file with records that could not be decoded: "
           "move it to error_folder (default), or archive it like any other; the report "
           "<name>.errors.json goes with it either way.", choices=("error", "archive"),
           default="error", examples=("archive",)),
    *_read_options(),
)


# ------------------------------------------------------------------------ readiness

@dataclass
class _Seen:
    size: int
    mtime_ns: int
    since: float  # monotonic time the file was first seen with this size and mtime


class Readiness:
    """Decides when a file is complete under ``ready: stable``.

    A file is ready when its size and mtime have not changed for ``stable_for``: right
    away when its mtime is already that old and it did not change since the previous
    scan, otherwise once it has been watched unchanged for that long (a writer whose
    clock runs behind cannot make a fresh file look old for ever).
    """

    def __init__(self, stable_for: float) -> None:
        self.stable_for = stable_for
        self._seen: dict[str, _Seen] = {}

    def check(self, name: str, size: int, mtime_ns: int, *, wall: float,
              mono: float) -> bool:
        if self.stable_for <= 0:
            return True
        seen = self._seen.get(name)
        if seen is None or seen.size != size or seen.mtime_ns != mtime_ns:
            changed = seen is not None
            self._seen[name] = _Seen(size, mtime_ns, mono)
            if changed:
                return False  # it changed since the previous scan: being written
            return wall - mtime_ns / 1e9 >= self.stable_for
        return (wall - mtime_ns / 1e9 >= self.stable_for
                or mono - seen.since >= self.stable_for)

    def forget(self, name: str) -> None:
        self._seen.pop(name, None)

    def keep_only(self, names: set[str]) -> None:
        """Drop files that disappeared (bounded memory)."""
        for name in [n for n in self._seen if n not in names]:
            del self._seen[name]


# --------------------------------------------------------------------------- source

@dataclass(frozen=True)
class _Folders:
    inbox: Path
    processing: Path
    archive: Path
    error: Path


@dataclass
class _Claim:
    """One claimed file: where it is, what was read and acknowledged."""

    cid: int
    name: str
    path: Path
    skip: int = 0  # records acknowledged in an earlier run (resumed files)
    read: int = 0  # records produced so far, skipped ones included
    total: int | None = None  # every record, once the end of the file was reached
    committed: int = 0  # every record with an index below this is acknowledged
    acked: set[int] = field(default_factory=set)  # acknowledged beyond ``committed``
    bad: list[dict[str, Any]] = field(default_factory=list)
    bad_count: int = 0
    finished: bool = False

    @property
    def progress_path(self) -> Path:
        return _progress_path(self.path)


def _progress_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.progress.json")


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def _free_name(folder: Path, name: str) -> Path:
    """``folder/name``, or with a timestamp before the extension when it is taken."""
    target = folder / name
    if not target.exists():
        return target
    stem, dot, ext = name.rpartition(".")
    if not stem:
        stem, dot, ext = name, "", ""
    for n in range(1, 1000):
        extra = f"-{n}" if n > 1 else ""
        candidate = folder / f"{stem}.{_stamp()}{extra}{dot}{ext}"
        if not candidate.exists():
            return candidate
    raise FatalError(f"cannot find a free name for {name} in {folder}")


def _move(src: Path, dst: Path) -> None:
    try:
        os.rename(src, dst)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        shutil.move(src, dst)  # another file system: copy, then remove


def _write_json(path: Path, value: Any) -> None:
    """Write JSON atomically: a hidden temporary, fsync, rename."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as f:
        json.dump(value, f, ensure_ascii=False, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class DropFolderSource(Source):
    """Claims ready files, reads them, finishes them when acknowledged.

    Ack tokens are ``(claim, index)``: the file's claim number in this instance and the
    record's position in the file. Meta is the file connector's (``file`` — the name as
    dropped — and ``line`` or ``index``), plus ``claimed`` — the path in processing.
    """

    def __init__(self, connector: DropFolderConnector, follow: bool,
                 batch_size: int | None) -> None:
        self.connector = connector
        self.runtime = connector.runtime
        self.config = connector.config
        self.where = connector.where
        self.follow = follow
        self.folders = connector.folders()
        self.settings_by_format: dict[str, FileSettings] = {}
        self.batch_size = batch_size or self.config.batch_size or 512
        self.readiness = Readiness(self.config.stable_for)
        self.claims: dict[int, _Claim] = {}
        self.done_files = 0
        self.initial: int | None = None
        self._next_cid = 1
        self._owner: Path | None = None
        self._lock_fd: int | None = None
        self._orphans_left = False
        self._stopped = False
        self._closed = False
        self._wake = asyncio.Event()
        self._warned: set[str] = set()

    # -- open and close --------------------------------------------------------------

    async def open(self) -> None:
        f = self.folders
        if not f.inbox.is_dir():
            what = "is not a folder" if f.inbox.exists() else "does not exist"
            raise FatalError(f"{self.where}: {f.inbox} {what}",
                             hint="create the folder, or fix path (relative paths resolve "
                                  f"against {self.runtime.workdir})")
        if self.runtime.dry_run:
            return  # read files where they are; claim, move and adopt nothing
        try:
            for folder in (f.processing, f.archive, f.error):
                folder.mkdir(parents=True, exist_ok=True)
            if f.processing.stat().st_dev != f.inbox.stat().st_dev:
                raise FatalError(
                    f"{self.where}: {f.processing} is on another file system than "
                    f"{f.inbox}; claiming a file is a rename, which cannot cross them",
                    hint="put processing_folder on the same file system as path")
            self._owner = self._make_owner()
        except OSError as exc:
            raise FatalError(f"{self.where}: cannot prepare {exc.filename}: {exc.strerror}",
                             hint="check the permissions of the folder") from None
        self._adopt()

    def _make_owner(self) -> Path:
        """Create ``processing/<owner>/`` with its lock held: hidden first, then renamed
        into view, so no other instance ever sees it unlocked."""
        host = _OWNER_SAFE.sub("_", socket.gethostname())[:40] or "host"
        name = f"{host}-{os.getpid()}-{secrets.token_hex(3)}"
        hidden = self.folders.processing / f".new-{name}"
        hidden.mkdir()
        fd = os.open(hidden / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        owner = self.folders.processing / name
        os.rename(hidden, owner)
        self._lock_fd = fd
        return owner

    async def close(self) -> None:
        """Release the claim folder: files not finished stay for the next start."""
        if self._closed:
            return
        self._closed = True
        self._stopped = True
        owner, fd = self._owner, self._lock_fd
        self._owner = self._lock_fd = None
        if owner is None or fd is None:
            return
        try:
            left = [p for p in owner.iterdir() if p.name != LOCK_NAME]
            if not left:
                (owner / LOCK_NAME).unlink(missing_ok=True)
                owner.rmdir()
        except OSError as exc:
            self.runtime.logger.warning("%s: cannot tidy %s: %s", self.where, owner,
                                        exc.strerror)
        finally:
            os.close(fd)  # releases the lock: another start adopts what is left

    # -- adopting files of crashed instances -----------------------------------------

    def _adopt(self) -> None:
        """Claim loose files in processing/ and those of owners whose lock is free."""
        assert self._owner is not None
        self._orphans_left = False
        processing = self.folders.processing
        try:
            entries = sorted(processing.iterdir())
        except OSError as exc:
            raise FatalError(f"{self.where}: cannot list {processing}: {exc.strerror}") \
                from None
        for entry in entries:
            if entry.name.startswith(".") or entry == self._owner:
                continue
            if entry.is_file():
                self._adopt_file(entry)
            elif entry.is_dir():
                self._adopt_owner(entry)

    def _adopt_owner(self, folder: Path) -> None:
        lock = folder / LOCK_NAME
        try:
            fd = os.open(lock, os.O_RDWR)
        except FileNotFoundError:
            fd = None  # an owner folder without its lock: nobody holds it
        except OSError:
            return
        try:
            if fd is not None and fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    return  # a live instance holds it
            for path in sorted(folder.iterdir()):
                if path.name.startswith(".") or not path.is_file():
                    continue
                self._adopt_file(path)
            leftovers = [p for p in folder.iterdir()
                         if p.name != LOCK_NAME and not p.name.endswith(".tmp")]
            if not leftovers:
                for p in folder.iterdir():
                    p.unlink(missing_ok=True)
                folder.rmdir()
        except OSError:
            self._orphans_left = True
        finally:
            if fd is not None:
                os.close(fd)

    def _adopt_file(self, path: Path) -> None:
        assert self._owner is not None
        target = self._owner / path.name
        if target.exists():
            self._orphans_left = True  # a file of that name is in progress: later
            return
        try:
            os.rename(path, target)
        except FileNotFoundError:
            return  # another instance adopted it first
        except OSError as exc:
            self._warn_once(path.name, f"cannot adopt {path}: {exc.strerror}")
            return
        progress = _progress_path(path)
        if progress.exists():
            try:
                os.rename(progress, _progress_path(target))
            except OSError:
                pass  # read from the start: at-least-once holds
        self.runtime.logger.info("%s: resuming %s left in processing", self.where,
                                 path.name)

    # -- claiming ----------------------------------------------------------------------

    def _list_inbox(self) -> list[os.DirEntry[str]]:
        pattern = self.config.pattern
        done = self.config.done_suffix if self.config.ready == "done" else None
        out = []
        try:
            with os.scandir(self.folders.inbox) as it:
                for entry in it:
                    name = entry.name
                    if name.startswith(".") or not fnmatch.fnmatchcase(name, pattern):
                        continue
                    if done and name.endswith(done):
                        continue
                    if entry.is_file(follow_symlinks=False):
                        out.append(entry)
        except OSError as exc:
            raise FatalError(f"{self.where}: cannot list {self.folders.inbox}: "
                             f"{exc.strerror}") from None
        out.sort(key=lambda e: e.name)
        return out

    def _ready(self, entries: list[os.DirEntry[str]]) -> tuple[list[str], list[str]]:
        """Names ready to claim, and names present but not ready yet."""
        ready: list[str] = []
        waiting: list[str] = []
        if self.config.ready == "done":
            suffix = self.config.done_suffix
            for entry in entries:
                marker = self.folders.inbox / (entry.name + suffix)
                (ready if marker.exists() else waiting).append(entry.name)
            return ready, waiting
        wall, mono = time.time(), time.monotonic()
        names = set()
        for entry in entries:
            names.add(entry.name)
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if self.readiness.check(entry.name, st.st_size, st.st_mtime_ns, wall=wall,
                                    mono=mono):
                ready.append(entry.name)
            else:
                waiting.append(entry.name)
        self.readiness.keep_only(names)
        return ready, waiting

    def _claim(self, name: str) -> _Claim | None:
        """Rename ``name`` into our processing folder; None when another took it."""
        if self.runtime.dry_run:
            return self._new_claim(name, self.folders.inbox / name)
        assert self._owner is not None
        target = self._owner / name
        if target.exists():
            return None  # the previous file of this name is still in progress
        try:
            os.rename(self.folders.inbox / name, target)
        except FileNotFoundError:
            return None  # another instance claimed it first
        except OSError as exc:
            self._warn_once(name, f"cannot claim {name}: {exc.strerror}")
            return None
        self.readiness.forget(name)
        if self.config.ready == "done":
            try:
                (self.folders.inbox / (name + self.config.done_suffix)).unlink()
            except OSError:
                pass  # already gone; a stale marker only matters if it stays
        return self._new_claim(name, target)

    def _new_claim(self, name: str, path: Path, skip: int = 0) -> _Claim:
        claim = _Claim(self._next_cid, name, path, skip=skip, committed=skip)
        self._next_cid += 1
        self.claims[claim.cid] = claim
        return claim

    def _resume(self) -> list[_Claim]:
        """Claims for files already in our folder (adopted at open)."""
        if self.runtime.dry_run:
            return []
        assert self._owner is not None
        out = []
        for path in sorted(self._owner.iterdir()):
            if path.name.startswith(".") or not path.is_file():
                continue
            if any(c.path == path for c in self.claims.values()):
                continue
            skip, bad = 0, []
            try:
                saved = json.loads(_progress_path(path).read_text(encoding="utf-8"))
                skip = int(saved.get("committed", 0))
                bad = [b for b in saved.get("bad", []) if b.get("index", 0) < skip]
            except (OSError, ValueError, TypeError, AttributeError):
                pass  # no (readable) progress: read it all again
            claim = self._new_claim(path.name, path, skip=skip)
            claim.bad = bad
            claim.bad_count = len(bad)
            out.append(claim)
        return out

    def _warn_once(self, key: str, text: str) -> None:
        if key not in self._warned:
            if len(self._warned) > 10_000:
                self._warned.clear()
            self._warned.add(key)
            self.runtime.logger.warning("%s: %s", self.where, text)

    # -- reading -----------------------------------------------------------------------

    async def batches(self) -> AsyncIterator[list[Record]]:
        pending: list[Record] = []
        size = self.batch_size
        for claim in self._resume():
            for records in self._read(claim):
                pending.extend(records)
                while len(pending) >= size:
                    batch, pending = pending[:size], pending[size:]
                    yield batch
                    if self._stopped:
                        return
        only: set[str] | None = None
        deadline: float | None = None
        while not self._stopped:
            if self._orphans_left:
                self._adopt()
                for claim in self._resume():
                    for records in self._read(claim):
                        pending.extend(records)
            entries = self._list_inbox()
            if only is None and not self.follow:
                only = {e.name for e in entries}
                self.initial = len(only) + len(self.claims)
            if only is not None:
                entries = [e for e in entries if e.name in only]
            ready, waiting = self._ready(entries)
            for name in ready:
                if self._stopped:
                    break
                claimed = self._claim(name)
                if only is not None:
                    only.discard(name)
                if claimed is None:
                    continue
                for records in self._read(claimed):
                    pending.extend(records)
                    while len(pending) >= size:
                        batch, pending = pending[:size], pending[size:]
                        yield batch
                        if self._stopped:
                            return
            while pending and not self._stopped:
                batch, pending = pending[:size], pending[size:]
                yield batch
            if not self.follow:
                if not waiting or self.config.ready == "done":
                    if waiting:
                        self.runtime.logger.info(
                            "%s: %d file(s) have no done file yet and are left for the "
                            "next run: %s", self.where, len(waiting), ", ".join(waiting[:5]))
                    return
                now = time.monotonic()
                if deadline is None:
                    # a file that stops changing soon becomes ready stable_for later
                    deadline = now + 2 * self.config.stable_for + self.config.poll_interval
                if now >= deadline:
                    self.runtime.logger.warning(
                        "%s: %d file(s) are still changing and are left for the next run: "
                        "%s", self.where, len(waiting), ", ".join(waiting[:5]))
                    return
            await self._sleep(self.config.poll_interval if self.follow else
                              min(self.config.poll_interval, 0.2) or 0.05)

    async def _sleep(self, seconds: float) -> None:
        self._wake.clear()
        if self._stopped:
            return
        try:
            await asyncio.wait_for(self._wake.wait(), timeout=max(seconds, 0.01))
        except TimeoutError:
            pass

    def _settings(self, name: str) -> FileSettings | DecodeError:
        fmt = self.config.format or derive_format(name)
        if fmt is None:
            return DecodeError(
                f"{name}: cannot tell the format from the extension",
                hint="set format: on the connection, or narrow pattern to known extensions",
                context={"file": name})
        settings = self.settings_by_format.get(fmt)
        if settings is None:
            values = dict(self.config)
            values.update(format=fmt, path=name)
            settings = self.settings_by_format[fmt] = FileSettings.from_values(
                values, where=self.where)
        return settings

    def _read(self, claim: _Claim) -> Iterator[list[Record]]:
        """Yield lists of Records of one claimed file; at its end, maybe finish it."""
        settings = self._settings(claim.name)
        label = claim.name
        if isinstance(settings, DecodeError):
            yield [self._record_error(claim, settings)]
        else:
            try:
                stream = open(claim.path, "rb", buffering=0)  # noqa: SIM115 - closed below
            except OSError as exc:
                raise FatalError(f"{self.where}: cannot open {claim.path}: "
                                 f"{exc.strerror}") from None
            try:
                for records in read_records(stream, settings, label, claim.cid):
                    out = []
                    for record in records:
                        index = claim.read
                        claim.read += 1
                        if index < claim.skip:
                            continue
                        record.ack = (claim.cid, index)
                        record.meta["claimed"] = str(claim.path)
                        if record.error is not None:
                            self._note_bad(claim, index, record.meta, record.error)
                        out.append(record)
                    if out:
                        yield out
            except FatalError as exc:  # a CSV header that cannot be read
                error = DecodeError(exc.message, hint=exc.hint, context=exc.context)
                yield [self._record_error(claim, error)]
            except OSError as exc:
                raise FatalError(f"{self.where}: reading {claim.path} failed: "
                                 f"{exc.strerror}") from None
            finally:
                stream.close()
        claim.total = claim.read
        self._maybe_finish(claim)

    def _record_error(self, claim: _Claim, error: DecodeError) -> Record:
        index = claim.read
        claim.read += 1
        meta: dict[str, Any] = {"file": claim.name, "claimed": str(claim.path)}
        self._note_bad(claim, index, meta, error)
        return Record(None, meta, (claim.cid, index), error)

    @staticmethod
    def _note_bad(claim: _Claim, index: int, meta: Mapping[str, Any],
                  error: IntegratorError) -> None:
        claim.bad_count += 1
        if len(claim.bad) < MAX_REPORTED_ERRORS:
            entry: dict[str, Any] = {"file": claim.name, "line": meta.get("line"),
                                     "index": index, "message": error.message,
                                     "error_class": error.error_class}
            if "index" in meta:
                entry["record"] = meta["index"]
            if "field" in error.context:
                entry["field"] = error.context["field"]
            claim.bad.append(entry)

    # -- acknowledging and finishing ----------------------------------------------------

    async def ack(self, tokens: Sequence[Any]) -> None:
        """Advance each file's acknowledged prefix; finish files that are complete."""
        touched: dict[int, _Claim] = {}
        for cid, index in tokens:
            claim = self.claims.get(cid)
            if claim is None or claim.finished:
                continue
            claim.acked.add(index)
            touched[cid] = claim
        for claim in touched.values():
            while claim.committed in claim.acked:
                claim.acked.discard(claim.committed)
                claim.committed += 1
            if not self._maybe_finish(claim):
                await asyncio.to_thread(self._save_progress, claim)

    def _save_progress(self, claim: _Claim) -> None:
        try:
            _write_json(claim.progress_path, {
                "committed": claim.committed,
                "bad": [b for b in claim.bad if b["index"] < claim.committed],
            })
        except OSError as exc:
            self._warn_once(f"progress:{claim.name}",
                            f"cannot save progress of {claim.name}: {exc.strerror}; "
                            "after a crash it is read again from the start")

    def _maybe_finish(self, claim: _Claim) -> bool:
        if claim.finished or claim.total is None or claim.committed < claim.total:
            return False
        claim.finished = True
        try:
            self._finish(claim)
        except OSError as exc:
            raise FatalError(f"{self.where}: cannot move {claim.path} out of processing: "
                             f"{exc.strerror}", hint="check the permissions and free space "
                             "of the archive and error folders") from None
        finally:
            del self.claims[claim.cid]
        self.done_files += 1
        return True

    def _finish(self, claim: _Claim) -> None:
        folders = self.folders
        bad = claim.bad_count > 0
        if bad:
            folder = folders.error if self.config.on_bad_records == "error" \
                else folders.archive
            target = _free_name(folder, claim.name)
            report = {
                "file": claim.name,
                "moved_to": str(target),
                "records": claim.total,
                "bad_records": claim.bad_count,
                "errors": [{k: v for k, v in b.items() if k != "index"} for b in claim.bad],
                "truncated": claim.bad_count > len(claim.bad),
            }
            _write_json(target.with_name(target.name + ".errors.json"), report)
            _move(claim.path, target)
            self.runtime.logger.warning("%s: %s had %d bad record(s); moved to %s",
                                        self.where, claim.name, claim.bad_count, target)
        elif self.config.on_success == "delete":
            claim.path.unlink()
        else:
            _move(claim.path, _free_name(folders.archive, claim.name))
        claim.progress_path.unlink(missing_ok=True)

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()

    def progress(self) -> Progress:
        return Progress(self.done_files, self.initial, unit="files")


# ------------------------------------------------------------------------ connector

class DropFolderConnector(Connector):
    """A folder that partners drop files into, as a source."""

    type_name = "dropfolder"
    summary = ("Claim files dropped into a folder (atomic rename), read them like the file "
               "connector, then archive them or move them to an error folder.")
    spec = ConfigSpec(_OPTIONS)
    source_options = ConfigSpec((
        Option("follow", "boolean", "false: take the files present now, then end "
               "(integrator run); true: keep watching until stopped (serve).",
               default=False, examples=(True,)),
        Option("batch_size", "integer", "Records per batch (overrides the connection's).",
               minimum=1, maximum=1_000_000, examples=(5000,)),
    ))
    capabilities = Capabilities(batching=True, ordering=True)
    examples = (
        "connections:\n  partner_orders:\n    type: dropfolder\n    path: /srv/sftp/acme/in\n"
        "    pattern: '*.csv'\n    delimiter: ';'\n    encoding: cp1250\n",
        "connections:\n  bank:\n    type: dropfolder\n    path: inbox/bank\n"
        "    pattern: 'STMT_*.txt'\n    ready: done\n    format: fixed\n    fields:\n"
        "      - {name: account, start: 1, width: 10}\n"
        "      - {name: amount, width: 12, type: decimal, implied_decimals: 2, pad: '0'}\n",
    )

    @property
    def where(self) -> str:
        return f"connection {self.name!r} (dropfolder)"

    @classmethod
    def check_config(cls, raw: Mapping[str, Any]) -> list[OptionProblem]:
        values: dict[str, Any] = {}
        for opt in cls.spec:
            if opt.name in raw and raw[opt.name] is not None:
                try:
                    values[opt.name] = opt.parse(raw[opt.name])
                except ValueError:
                    return []  # spec.check reports it
            elif opt.has_default:
                values[opt.name] = opt.parse(opt.default) if opt.default is not None else None
        return [OptionProblem(key, text) for key, text in _problems(values)]

    def folders(self) -> _Folders:
        inbox = Path(self.config.path).expanduser()
        if not inbox.is_absolute():
            inbox = Path(self.runtime.workdir) / inbox

        def under(name: str) -> Path:
            p = Path(name).expanduser()
            return p if p.is_absolute() else inbox / p

        return _Folders(inbox, under(self.config.processing_folder),
                        under(self.config.archive_folder), under(self.config.error_folder))

    async def check(self) -> CheckResult:
        f = self.folders()
        if not f.inbox.is_dir():
            return CheckResult("misconfigured", f"{f.inbox} is not a folder")
        if not os.access(f.inbox, os.R_OK | os.W_OK | os.X_OK):
            return CheckResult("misconfigured", f"{f.inbox} is not readable and writable "
                                                "(files are claimed by renaming them)")
        for folder in (f.processing, f.archive, f.error):
            probe = folder
            while not probe.exists() and probe != probe.parent:
                probe = probe.parent
            if not (probe.is_dir() and os.access(probe, os.W_OK)):
                return CheckResult("misconfigured", f"{folder} cannot be created or "
                                                    "written")
        try:
            with os.scandir(f.inbox) as entries:
                count = sum(1 for e in entries if e.is_file()
                            and not e.name.startswith(".")
                            and fnmatch.fnmatchcase(e.name, self.config.pattern))
        except OSError as exc:
            return CheckResult("misconfigured", f"cannot list {f.inbox}: {exc.strerror}")
        return CheckResult("ok", f"{f.inbox}: {count} file(s) matching "
                                 f"{self.config.pattern!r}")

    def source(self, options: Config) -> DropFolderSource:
        problems = _problems(dict(self.config))
        if problems:
            raise FatalError(f"{self.where}: {problems[0][1]}")
        return DropFolderSource(self, bool(options.get("follow")), options.get("batch_size"))


def _problems(values: Mapping[str, Any]) -> list[tuple[str | None, str]]:
    """Cross-option problems: the reading options as the file connector checks them."""
    out: list[tuple[str | None, str]] = []
    fmt = values.get("format") or derive_format(values.get("pattern") or "")
    check = dict(values)
    check.update(format=fmt or "text", path=values.get("pattern") or "*")
    if fmt is None and check.get("fields") is not None:
        check["format"] = "fixed"  # fields without format: report it below instead
        out.append(("format", "fields describes fixed-width records: set format: fixed"))
    for text in FileSettings.problems(check):
        out.append((None, text))
    if values.get("ready") == "done" and not values.get("done_suffix"):
        out.append(("done_suffix", "ready: done needs a done_suffix such as .done"))
    names = [values.get(k) for k in ("processing_folder", "archive_folder", "error_folder")]
    if len(set(names)) != len(names):
        out.append((None, "processing_folder, archive_folder and error_folder must be "
                          "different folders"))
    return out
