# Salvage: `make demo` runs the main job on the bundled samples; `make test` runs every test.
VENV      := .venv
INTEROP   := .venv-interop
PY        := $(VENV)/bin/python
SHELL     := /bin/bash
.SHELLFLAGS := -o pipefail -c
QUIET     := { grep -v 'is ignored' || true; }
# Debian packages the project needs: Tesseract 5 with English and orientation detection (OCR),
# Russian for the language-retry test, DejaVu fonts (the tests render scans with them, drill
# reports print in them), poppler's pdftoppm (the tests render drill reports to PNG).
APT_PACKAGES := tesseract-ocr tesseract-ocr-eng tesseract-ocr-osd tesseract-ocr-rus fonts-dejavu-core poppler-utils

.PHONY: setup apt demo test lint bench clean

setup: apt $(VENV)/.installed $(INTEROP)/.installed

apt:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q -e '.[dev]' 2>&1 | $(QUIET)
	$(PY) -c "import archive, prefect, pyarrow, isal, surt, warcio, duckdb, tantivy, pypdfium2, reportlab, rapidfuzz, cloudevents, moto, numba"
	touch $@

$(INTEROP)/.installed: requirements-interop.txt
	python3 -m venv $(INTEROP)
	$(INTEROP)/bin/pip install -q -r requirements-interop.txt 2>&1 | $(QUIET)
	$(INTEROP)/bin/python -c "import pywb, wacz, cdxj_indexer, warcio, ocrmypdf"
	touch $@

demo: setup
	$(VENV)/bin/salvage demo

lint: setup
	$(VENV)/bin/ruff check .

test: setup lint
	$(VENV)/bin/pytest -q

bench: setup
	$(PY) benchmarks/bench_archive.py
	$(PY) benchmarks/bench_catalog.py
	$(PY) benchmarks/bench_documents.py
	$(PY) benchmarks/bench_flows.py
	$(PY) benchmarks/bench_gaps.py
	$(PY) benchmarks/bench_books.py
	$(PY) benchmarks/bench_feeds.py
	$(PY) benchmarks/bench_drill.py

clean:
	rm -rf $(VENV) $(INTEROP) salvage-data salvage-data-replica .pytest_cache
