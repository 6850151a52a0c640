"""Atomic file writes: write a temporary file next to the target, then ``os.replace``.

A reader (or a resumed sweep) therefore sees either the old file or the whole
new one, never a half-written file, even if the process is killed mid-write.
Temporary files are named ``.<name>.<pid>.tmp``; :func:`remove_temporary`
clears the ones a killed process left behind. :class:`TableAppender` writes a
table run by run into one CSV or Parquet file (into such a temporary path).

Ownership: crm-sim writes only into folders it made (or found empty), which
carry its marker :data:`OWNED_MANIFEST`, the list of the files it wrote
there; every atomic write adds its file to that list, and crm-sim deletes
only listed files (:func:`claim`, :func:`remove_owned`).
"""

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

TEMPORARY_PATTERN = ".*.tmp"


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path to write ``path``'s content to; on success move it onto ``path``.

    For files written in several steps (e.g. appended run by run). If the
    block raises, the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield temporary
        move_into_place(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(temporary_path)``, flush it to disk, then move it onto ``path``."""
    with atomic_path(path) as temporary:
        write(temporary)


def write_text(path: Path, text: str) -> None:
    """Write UTF-8 text atomically."""
    write_atomic(path, lambda target: target.write_text(text, encoding="utf-8"))


def write_parquet(path: Path, frame: pd.DataFrame) -> None:
    """Write a data frame as Parquet (without its index) atomically."""
    write_atomic(path, lambda target: frame.to_parquet(target, index=False))


def write_table(path: Path, table: pa.Table) -> None:
    """Write an Arrow table as Parquet atomically."""
    write_atomic(path, lambda target: pq.write_table(table, target))


def remove_temporary(folder: Path) -> int:
    """Delete temporary files left in ``folder`` by a killed writer; return how many."""
    removed = 0
    for leftover in Path(folder).glob(TEMPORARY_PATTERN):
        leftover.unlink(missing_ok=True)
        removed += 1
    return removed


OWNED_MANIFEST = ".crm-sim"
"""The marker of a folder crm-sim made (or found empty): the names of the files it wrote there.

One plain file name a line. Its presence says crm-sim may write into the
folder; its lines say which files crm-sim may delete or replace there
(:func:`remove_owned`). Every atomic write into a marked folder adds its
file's name (:func:`note_owned`), so no writer has to remember it.
"""

LOCK_FILE = ".crm-sim.lock"
"""A results folder's lock (:mod:`store.lock`); not an output, never listed as one."""

_OWN_FILES = (OWNED_MANIFEST, LOCK_FILE)


class OutputError(Exception):
    """An output folder cannot be written (a bad ``--out``, a folder that is not ours, ...)."""


def is_owned(folder: Path) -> bool:
    """True if ``folder`` carries crm-sim's marker (:data:`OWNED_MANIFEST`)."""
    return (Path(folder) / OWNED_MANIFEST).is_file()


def foreign_entries(folder: Path) -> list[str]:
    """What ``folder`` holds besides crm-sim's marker, lock and temporaries (sorted names)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(
        entry.name
        for entry in folder.iterdir()
        if entry.name not in _OWN_FILES and not entry.match(TEMPORARY_PATTERN)
    )


def claim(folder: Path) -> Path:
    """Create ``folder`` (or take an empty one) and mark it as crm-sim's; return it.

    Raises:
        OutputError: ``folder`` holds files and no marker: it is a user's
            folder, and crm-sim writes nothing into it.
    """
    folder = Path(folder)
    if is_owned(folder):
        return folder
    if folder.exists() and foreign_entries(folder):
        raise OutputError(not_ours(folder))
    folder.mkdir(parents=True, exist_ok=True)
    _write_list(folder, [])
    return folder


def not_ours(folder: Path) -> str:
    """The one line that refuses a non-empty folder crm-sim did not make."""
    return (
        f"results folder {folder}: not empty and not made by crm-sim (no {OWNED_MANIFEST} file "
        "in it); crm-sim writes only into a new or empty folder or one it made: "
        "give another --out"
    )


def owned_files(folder: Path) -> list[str]:
    """The file names listed in ``folder``'s marker (none if crm-sim never wrote there)."""
    manifest = Path(folder) / OWNED_MANIFEST
    if not manifest.is_file():
        return []
    return [name for name in manifest.read_text(encoding="utf-8").splitlines() if name]


def note_owned(path: Path) -> None:
    """List ``path`` (a file crm-sim just wrote) in its folder's marker, if the folder has one."""
    path = Path(path)
    if path.name in _OWN_FILES or not is_owned(path.parent):
        return
    names = owned_files(path.parent)
    if path.name not in names:
        _write_list(path.parent, [*names, path.name])


def _write_list(folder: Path, names: list[str]) -> None:
    manifest = Path(folder) / OWNED_MANIFEST
    temporary = manifest.with_name(f".{manifest.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text("".join(f"{name}\n" for name in sorted(set(names))), "utf-8")
        os.replace(temporary, manifest)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def move_into_place(temporary: Path, path: Path) -> None:
    """Flush the finished ``temporary`` to disk, move it onto ``path`` and list it as ours."""
    with open(temporary, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    note_owned(path)


def remove_owned(folder: Path, keep: frozenset[str] = frozenset()) -> list[str]:
    """Delete the files of ``folder`` that crm-sim wrote there, but those in ``keep``.

    Only names listed in the folder's marker are deleted, and only plain file
    names (no path): a file a user put in the folder is never touched, even
    if it looks like one of ours. The marker then lists what is left of
    ours. Returns the names deleted.
    """
    folder = Path(folder)
    removed, kept = [], []
    for name in owned_files(folder):
        path = folder / name
        if name in keep or Path(name).name != name or name in _OWN_FILES:
            kept.append(name)
        elif path.is_file() and not path.is_symlink():
            path.unlink()
            removed.append(name)
    if is_owned(folder):
        _write_list(folder, [name for name in kept if (folder / name).is_file()])
    return removed


class TableAppender:
    """Writes a table run by run into one CSV or Parquet file (one run in memory at a time).

    CSV: pandas writes a float64 as the shortest text that reads back to the
    same float64. Parquet: one row group per run, categorical columns as text.
    """

    def __init__(self, path: Path, file_format: str):
        self.path = Path(path)
        self.file_format = file_format
        self._parquet = None
        self._started = False

    def append(self, frame: pd.DataFrame) -> None:
        """Add ``frame``'s rows (the first call also writes the header or schema)."""
        if self.file_format == "csv":
            frame.to_csv(
                self.path, mode="a" if self._started else "w", header=not self._started, index=False
            )
        else:
            plain = frame.astype(
                {c: str for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)}
            )
            table = pa.Table.from_pandas(plain, preserve_index=False)
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(self.path, table.schema)
            self._parquet.write_table(table.cast(self._parquet.schema))
        self._started = True

    def close(self) -> None:
        """Finish the file."""
        if self._parquet is not None:
            self._parquet.close()
