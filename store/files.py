"""Atomic file writes: write a temporary file next to the target, then ``os.replace``.

A reader (or a resumed sweep) therefore sees either the old file or the whole
new one, never a half-written file, even if the process is killed mid-write.
Temporary files are named ``.<name>.<pid>.tmp``; :func:`remove_temporary`
clears the ones a killed process left behind. :class:`TableAppender` writes a
table run by run into one CSV or Parquet file (into such a temporary path).
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
        with open(temporary, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
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


OWNED_MANIFEST = ".crm-sim-files"
"""In a folder crm-sim writes files into: the names of the files it wrote there."""


def owned_files(folder: Path) -> list[str]:
    """The names :func:`record_owned` listed in ``folder`` (none if it never wrote there)."""
    manifest = Path(folder) / OWNED_MANIFEST
    if not manifest.is_file():
        return []
    return [name for name in manifest.read_text(encoding="utf-8").splitlines() if name]


def record_owned(folder: Path, names: list[str]) -> None:
    """List ``names`` (files crm-sim just wrote in ``folder``) in its manifest, atomically."""
    write_text(Path(folder) / OWNED_MANIFEST, "".join(f"{name}\n" for name in sorted(names)))


def remove_owned(folder: Path, keep: frozenset[str] = frozenset()) -> list[str]:
    """Delete the files of ``folder`` that crm-sim wrote there, but those in ``keep``.

    Only names listed by :func:`record_owned` are deleted, and only plain file
    names (no path): a file a user put in the folder is never touched, even
    if it looks like one of ours. Returns the names deleted.
    """
    folder = Path(folder)
    removed = []
    for name in owned_files(folder):
        if name in keep or Path(name).name != name:
            continue
        path = folder / name
        if path.is_file():
            path.unlink()
            removed.append(name)
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
