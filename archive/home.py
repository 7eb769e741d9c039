"""Where everything of one Salvage archive lives (the "home") and how it is laid out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from storage.audit import AuditLog


@dataclass(frozen=True)
class Home:
    """The folders of a home: `warcs/` and `imported/` are the source of truth, the rest derives."""

    root: Path

    @property
    def warcs(self) -> Path:
        return self.root / "warcs"

    @property
    def imported(self) -> Path:
        return self.root / "imported"

    @property
    def indexes(self) -> Path:
        return self.root / "indexes"

    @property
    def catalog(self) -> Path:
        return self.root / "catalog"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def audit(self) -> AuditLog:
        return AuditLog(self.root / "audit" / "log.jsonl")

    def ensure(self) -> Home:
        for folder in (self.warcs, self.imported, self.indexes, self.catalog, self.tmp,
                       self.root / "audit"):
            folder.mkdir(parents=True, exist_ok=True)
        return self

    def relative(self, path: Path) -> str:
        """A stored file's name as the index and catalog write it: relative to the home."""
        return Path(path).resolve().relative_to(self.root.resolve()).as_posix()

    def index_path(self, warc_name: str) -> Path:
        """The CDXJ file of one WARC: `warcs/x.warc.gz` -> `indexes/warcs__x.warc.gz.cdxj`."""
        return self.indexes / (warc_name.replace("/", "__") + ".cdxj")

    def batch_id(self, warc_name: str) -> str:
        """The catalog batch id of one WARC's captures."""
        return warc_name.replace("/", "__")

    def archive_files(self) -> list[Path]:
        """Every closed archive file in the home, ours and imported, in name order."""
        ours = sorted(self.warcs.glob("*.warc.gz")) if self.warcs.exists() else []
        theirs = sorted(p for p in self.imported.glob("*") if p.is_file()) \
            if self.imported.exists() else []
        return ours + theirs
