"""Full-book checkpoints of a stored event stream: one Parquet file per (feed file, symbol).

Every `every` events of a stream the book (`engine.Book.checkpoint()`) is written as one row group
of `<home>/books/checkpoints/venue=<v>/symbol=<s>/date=<d>/<sha256>.parquet`, and once more after
the last event. The file's key-value metadata `salvage.checkpoints` indexes them (JSON, one
`[event, ts, skip, state]` per row group, in order):

- `event`: events of the stream applied before the checkpoint (it holds the book after event
  `event - 1`, counting from 0);
- `ts`: the `ts` of that last event (ns since the epoch, UTC);
- `skip`: how many of the events applied have that same `ts`: a reader that selects events by
  `ts >= checkpoint ts` drops that many first rows, which are in the checkpoint already.

Each row group is `Checkpoint.to_table()` as it was; the per-checkpoint state the engine keeps in
schema metadata (`salvage.ts`, `salvage.events`, `salvage.known_bid`...) is kept in the index
entry and put back when the checkpoint is read, since a Parquet file has one schema.

The file is written to a temporary name, fsync'd and renamed when the stream ends, so a reader
sees all of it or nothing.
"""

from __future__ import annotations

import bisect
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from orderbook.engine import Book, Checkpoint
from storage.atomic import commit_file

INDEX_KEY = b"salvage.checkpoints"
_FILE_KEYS = {b"salvage.table", b"salvage.schema_version"}


@dataclass(frozen=True)
class Mark:
    """Where one checkpoint is: its row group, and the events it holds."""

    row_group: int
    event: int
    ts: int
    skip: int
    state: dict[str, str]


class TempParquet:
    """A Parquet file written through a temporary sibling: `_commit` makes it durable and
    renames it into place, `abandon` removes it (a crash leaves no partial file)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        self._writer: pq.ParquetWriter | None = None

    def _commit(self) -> Path:
        assert self._writer is not None
        self._writer.close()
        self._writer = None
        return commit_file(self.tmp, self.path)

    def abandon(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self.tmp.unlink(missing_ok=True)


class CheckpointWriter(TempParquet):
    """Writes a stream's checkpoints, each as one row group, into a temporary file until
    `close` renames it into place (`abandon` removes it instead)."""

    def __init__(self, path: Path, metadata: dict[bytes, bytes] | None = None):
        super().__init__(path)
        self.metadata = metadata or {}
        self.marks: list[Mark] = []
        self._schema: pa.Schema | None = None

    def add(self, checkpoint: Checkpoint, event: int, ts: int, skip: int) -> None:
        table = checkpoint.to_table()
        meta = table.schema.metadata or {}
        state = {k.decode(): v.decode() for k, v in meta.items() if k not in _FILE_KEYS}
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            file_meta = {k: v for k, v in meta.items() if k in _FILE_KEYS}
            self._schema = table.schema.with_metadata({**file_meta, **self.metadata})
            delta = {n: "DELTA_BINARY_PACKED" for n in ("order_id", "price", "priority")
                     if n in self._schema.names}
            self._writer = pq.ParquetWriter(
                self.tmp, self._schema, compression="zstd", column_encoding=delta,
                use_dictionary=[n for n in self._schema.names if n not in delta])
        assert self._schema is not None
        table = table.replace_schema_metadata(self._schema.metadata)
        if not table.schema.equals(self._schema):
            table = table.cast(self._schema)
        # one row group per checkpoint, even an empty book's (the index counts row groups)
        self._writer.write_table(table, row_group_size=max(1, table.num_rows))
        self.marks.append(Mark(len(self.marks), event, ts, skip, state))

    def close(self) -> Path | None:
        """Write the index, make the file durable and rename it into place."""
        if self._writer is None:
            return None
        index = [[m.event, m.ts, m.skip, m.state] for m in self.marks]
        self._writer.add_key_value_metadata({INDEX_KEY: json.dumps(index).encode()})
        return self._commit()


class CheckpointFile:
    """The checkpoints of one stored stream, found by time without reading any book."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._file = pq.ParquetFile(self.path)
        meta = self._file.metadata.metadata or {}
        if INDEX_KEY not in meta:
            raise ValueError(f"{self.path} has no checkpoint index ({INDEX_KEY.decode()}): it "
                             "was not written by orderbook.checkpoints; import the feed again")
        self.marks = [Mark(i, int(e), int(t), int(s), dict(state))
                      for i, (e, t, s, state) in enumerate(json.loads(meta[INDEX_KEY]))]
        self._ts = [m.ts for m in self.marks]

    def before(self, ts: int) -> Mark | None:
        """The last checkpoint holding only events at or before `ts` (None: none does)."""
        i = bisect.bisect_right(self._ts, ts)
        return self.marks[i - 1] if i else None

    def read(self, mark: Mark) -> Checkpoint:
        table = self._file.read_row_group(mark.row_group)
        meta = {**(table.schema.metadata or {}),
                **{k.encode(): v.encode() for k, v in mark.state.items()}}
        return Checkpoint.from_table(table.replace_schema_metadata(meta))

    def book(self, mark: Mark, depth: int) -> Book:
        return Book.from_checkpoint(self.read(mark), depth)
