"""Every Salvage flow by name: what `salvage run FLOW` runs and `salvage serve` deploys."""

from __future__ import annotations

from flows.drill import forensic_drill
from flows.gaps import detect_gaps
from flows.ingest import extract_pending, ingest_drop, ingest_edgar, ingest_feeds, ingest_pages

FLOWS = {"ingest-edgar": ingest_edgar, "ingest-pages": ingest_pages,
         "ingest-drop": ingest_drop, "extract-pending": extract_pending,
         "detect-gaps": detect_gaps, "ingest-feeds": ingest_feeds,
         "forensic-drill": forensic_drill}
