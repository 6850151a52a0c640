"""One file per finished run, so that a sweep can stop at any moment and resume.

Layout under ``<results>/parts/``::

    fingerprint            the scenario the parts belong to (see experiments.folders)
    timeseries/<run_id>.parquet
    cohorts/<run_id>.parquet    cohort survival
    policies/<run_id>.parquet   policy outcomes (only runs whose firms run policies)
    customers/<run_id>.parquet  end-of-run customers (replication 0 of each point only)
    relationships/<run_id>.parquet  every relationship (replication 0 of each point only)
    runs/<run_id>.parquet  written last: its presence marks the run finished
    failed/<run_id>.json   error, traceback and seed of a run that raised

While a sweep runs, the store also appends each finished run's tables, in
run order, to the combined tables (``.stream-<name>.parquet.<pid>.tmp`` in
this folder; :meth:`PartStore.stream`): when the sweep has finished every run
in order, :func:`store.results.write_tables` only moves them into place
instead of reading every part back after the last run. Anything else (a
resumed or partial sweep that did not stream every finished run, a column
whose type changes between runs) falls back to combining the parts.

Each file is written atomically (:mod:`store.files`), and a run's
``runs`` part only after all its other parts, so a killed sweep leaves
whole parts of finished runs and nothing of the runs in flight; file names
are run ids, so a run is never stored twice.
"""

import contextlib
import json
import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .files import atomic_path, move_into_place, remove_temporary, write_table, write_text

EXTRA_PARTS = ("cohorts", "policies", "customers", "relationships")
"""Optional per-run tables besides ``runs`` and ``timeseries`` (a run may lack some)."""


class PartStore:
    """The parts folder of one results folder."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.runs = self.root / "runs"
        self.timeseries = self.root / "timeseries"
        self.failed = self.root / "failed"
        self.extras = {name: self.root / name for name in EXTRA_PARTS}

    @property
    def fingerprint_file(self) -> Path:
        """Where the fingerprint of the scenario the parts belong to is kept."""
        return self.root / "fingerprint"

    def exists(self) -> bool:
        """True if the store holds anything."""
        return self.root.exists() and any(self.root.iterdir())

    def fingerprint(self) -> str | None:
        """The fingerprint the store was created for, or None."""
        try:
            return self.fingerprint_file.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None

    def create(self, fingerprint: str) -> None:
        """Make the folders (keeping parts already there) and record the fingerprint."""
        for folder in (self.runs, self.timeseries, self.failed, *self.extras.values()):
            folder.mkdir(parents=True, exist_ok=True)
            remove_temporary(folder)
        remove_temporary(self.root)  # combined tables a killed sweep was streaming
        write_text(self.fingerprint_file, fingerprint + "\n")

    def clear(self) -> None:
        """Delete every part, and the folders if nothing else is in them.

        Only files named as parts are (``<run_id>.parquet``, failure records,
        the fingerprint, temporaries): anything else a user put there stays.
        """
        if not self.root.is_dir():
            return
        for folder, pattern in (
            (self.runs, "*.parquet"),
            (self.timeseries, "*.parquet"),
            (self.failed, "*.json"),
            *((extra, "*.parquet") for extra in self.extras.values()),
        ):
            if folder.is_dir():
                for path in folder.glob(pattern):
                    path.unlink(missing_ok=True)
                remove_temporary(folder)
                with contextlib.suppress(OSError):  # not empty: a user's file is in it
                    folder.rmdir()
        self.fingerprint_file.unlink(missing_ok=True)
        remove_temporary(self.root)
        with contextlib.suppress(OSError):
            self.root.rmdir()

    def finished(self) -> set[str]:
        """Run ids with both parts on disk."""
        if not self.runs.exists():
            return set()
        done = {p.stem for p in self.runs.glob("*.parquet") if not p.name.startswith(".")}
        return {run_id for run_id in done if (self.timeseries / f"{run_id}.parquet").exists()}

    def write(
        self,
        run_id: str,
        runs: pd.DataFrame,
        timeseries: pd.DataFrame,
        extras: dict[str, pd.DataFrame | None] | None = None,
    ) -> dict[str, pa.Table]:
        """Store a finished run: timeseries and extras first, then the runs part that marks it done.

        Args:
            run_id: the run's id (the parts' file name).
            runs: its rows of ``runs.parquet``.
            timeseries: its rows of ``timeseries.parquet``.
            extras: name in :data:`EXTRA_PARTS` -> table; None or empty tables
                are not written.

        Returns:
            The parts written, as Arrow tables by name (for :meth:`stream`).
        """
        frames = {"timeseries": timeseries, **(extras or {}), "runs": runs}
        tables = {}
        for name, frame in frames.items():  # the runs part last: it marks the run finished
            if frame is None or (name in EXTRA_PARTS and not len(frame)):
                continue
            tables[name] = pa.Table.from_pandas(frame, preserve_index=False)
            write_table(self.folder(name) / f"{run_id}.parquet", tables[name])
        (self.failed / f"{run_id}.json").unlink(missing_ok=True)
        return tables

    def read_tables(self, run_id: str) -> dict[str, pa.Table]:
        """The parts of a finished run, as Arrow tables by name (those that exist)."""
        tables = {}
        for name in ("runs", "timeseries", *EXTRA_PARTS):
            path = self.folder(name) / f"{run_id}.parquet"
            if path.exists():
                tables[name] = pq.ParquetFile(path).read()
        return tables

    # -- combined tables written while the sweep runs -------------------------

    def begin_stream(self) -> None:
        """Start appending runs' tables to the combined tables (drops an earlier stream)."""
        self.discard_stream()
        self._streamed: list[str] = []
        self._writers: dict[str, tuple[pq.ParquetWriter, Path]] = {}
        self._pending: dict[str, RowGroup] = {}
        self._broken: set[str] = set()

    def stream(self, run_id: str, tables: dict[str, pa.Table]) -> None:
        """Append the tables of the next finished run (in run order) to the combined tables.

        A table whose schema differs from the first run's (a swept value that
        is an integer in one point and a float in another) stops streaming
        that table: it is combined from the parts at the end instead.
        """
        self._streamed.append(run_id)
        for name, table in tables.items():
            if name in self._broken or not table.num_rows:
                continue
            if name not in self._writers:
                path = self.root / f".stream-{name}.parquet.{os.getpid()}.tmp"
                self._writers[name] = (pq.ParquetWriter(str(path), table.schema), path)
            writer, path = self._writers[name]
            if table.schema.equals(writer.schema, check_metadata=False):
                self._pending.setdefault(name, RowGroup(writer)).add(table)
            else:
                writer.close()
                path.unlink(missing_ok=True)
                del self._writers[name]
                self._pending.pop(name, None)
                self._broken.add(name)

    def finish_stream(self, run_ids, folder: Path) -> set[str]:
        """Move the streamed combined tables into ``folder`` if they hold exactly ``run_ids``.

        Returns:
            The names of the tables written (``runs``, ``timeseries``, ...);
            empty if nothing was streamed or the stream does not match.
        """
        if getattr(self, "_streamed", None) != list(run_ids):
            self.discard_stream()
            return set()
        done = set()
        for name, (writer, path) in self._writers.items():
            if name in self._pending:
                self._pending.pop(name).flush()
            writer.close()
            move_into_place(path, Path(folder) / f"{name}.parquet")
            done.add(name)
        self._writers = {}
        self._streamed = None
        return done

    def discard_stream(self) -> None:
        """Close and delete whatever was streamed."""
        for writer, path in getattr(self, "_writers", {}).values():
            writer.close()
            path.unlink(missing_ok=True)
        self._writers, self._streamed, self._pending = {}, None, {}

    def write_failure(self, run_id: str, record: dict) -> None:
        """Store why a run failed (replaced if it fails again, removed if it later succeeds)."""
        write_text(self.failed / f"{run_id}.json", json.dumps(record, indent=2) + "\n")

    def failures(self) -> list[dict]:
        """Failure records of runs that are not finished, by run id."""
        if not self.failed.exists():
            return []
        done = self.finished()
        return [
            json.loads(path.read_text(encoding="utf-8"))
            for path in sorted(self.failed.glob("*.json"))
            if not path.name.startswith(".") and path.stem not in done
        ]

    def folder(self, name: str) -> Path:
        """Where the ``name`` parts are: ``runs``, ``timeseries`` or one of :data:`EXTRA_PARTS`."""
        return {"runs": self.runs, "timeseries": self.timeseries, **self.extras}[name]

    def part_paths(self, name: str, run_ids) -> list[Path]:
        """The ``name`` part files of ``run_ids`` that exist, in that order."""
        folder = self.folder(name)
        return [path for path in (folder / f"{i}.parquet" for i in run_ids) if path.exists()]

    def combined_table(self, name: str, run_ids) -> pa.Table | None:
        """The ``name`` parts of ``run_ids`` that exist, concatenated in that order (Arrow).

        Holds every part in memory at once: for a few runs (tests, small
        folders); :meth:`write_combined` writes a whole sweep part by part.
        A column whose type differs between parts (integers in one, floats in
        another) gets the common type. None when no part exists.
        """
        tables = [pq.ParquetFile(p).read() for p in self.part_paths(name, run_ids)]
        if not tables:
            return None
        return pa.concat_tables(tables, promote_options="permissive")

    def write_combined(self, name: str, run_ids, path: Path) -> bool:
        """Write the combined ``name`` parts of ``run_ids`` to ``path``; False if there are none.

        One part in memory at a time, whatever the number of runs: the common
        schema is worked out from the parts' footers first (a column that is
        an integer in one part and a float in another becomes a float, as
        :meth:`combined_table` makes it), then each part is read, conformed to
        it and appended as one row group.
        """
        paths = self.part_paths(name, run_ids)
        if not paths:
            return False
        # the first part's metadata (pandas' column types), as concatenating keeps it
        schema = pa.unify_schemas([pq.read_schema(p) for p in paths], promote_options="permissive")
        rows = 0
        try:
            with atomic_path(path) as temporary:
                with pq.ParquetWriter(str(temporary), schema) as writer:
                    group = RowGroup(writer)
                    for part in paths:
                        table = conform(pq.ParquetFile(part).read(), schema)
                        rows += table.num_rows
                        group.add(table)
                    group.flush()
                if not rows:
                    raise _NoRows
        except _NoRows:
            return False
        return True

    def combine(self, run_ids) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Concatenate the parts of ``run_ids`` in the given order (runs, timeseries)."""
        return self.combine_extra("runs", run_ids), self.combine_extra("timeseries", run_ids)

    def combine_extra(self, name: str, run_ids) -> pd.DataFrame:
        """Concatenate the ``name`` parts that exist for ``run_ids``, as a data frame."""
        table = self.combined_table(name, run_ids)
        return pd.DataFrame() if table is None else table.to_pandas()


ROW_GROUP_ROWS = 1 << 16
"""Rows gathered into one row group of a combined table (a few runs' worth, or one big run).

A Parquet writer keeps every row group's metadata (a few hundred bytes per
column) until it closes: a row group per run made the main process grow with
the number of runs (a 3,200-run sweep's writers held hundreds of MB).
"""


ROW_GROUP_TABLES = 128
"""Runs gathered into one row group at most.

Each small table costs memory of its own (its columns' buffers), so a table
of a few rows a run (``runs``) must not wait for 2^16 rows.
"""


class RowGroup:
    """Tables appended to a Parquet writer as row groups of a bounded size.

    A row group is written once :data:`ROW_GROUP_ROWS` rows or
    :data:`ROW_GROUP_TABLES` tables are gathered.
    """

    def __init__(self, writer: pq.ParquetWriter):
        self.writer = writer
        self.tables: list[pa.Table] = []
        self.rows = 0

    def add(self, table: pa.Table) -> None:
        """Append ``table``; write the gathered rows once they reach a row group's size."""
        self.tables.append(table)
        self.rows += table.num_rows
        if self.rows >= ROW_GROUP_ROWS or len(self.tables) >= ROW_GROUP_TABLES:
            self.flush()

    def flush(self) -> None:
        """Write the gathered rows as one row group (nothing if none)."""
        if self.tables:
            table = pa.concat_tables(self.tables)
            self.writer.write_table(table, row_group_size=max(table.num_rows, 1))
        self.tables, self.rows = [], 0


class _NoRows(Exception):
    """Raised inside :meth:`PartStore.write_combined` to drop a table of empty parts."""


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with ``schema``'s columns in its order: missing ones null, the rest cast to it.

    What ``pa.concat_tables(promote_options="permissive")`` does to each
    table, one table at a time.
    """
    columns = [
        table.column(field.name).cast(field.type)
        if field.name in table.column_names
        else pa.nulls(table.num_rows, field.type)
        for field in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)
