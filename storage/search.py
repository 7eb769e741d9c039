"""Full-text search over extracted documents: a BM25 index (tantivy) in a folder of its own.

The index is derived: it can be deleted and rebuilt from the catalog's `documents` table at any
time. Each `add` is one atomic commit, so a killed process leaves the last committed state.

Query text, as a researcher types or pastes it:

- every word must occur (AND); `"quoted phrases"` must occur as phrases;
- a word the tokenizer splits (`10-K`, `Apple's`, `a:b:c`) must occur as that phrase;
- anything else (`:`, `(`, `AND`, a lone `"`) is plain text, never an error;
- documents holding the whole query as one exact phrase rank first, then BM25 within each tier;
- form, CIK and date range are exact filters; they do not change scores.

Matching ignores case and accents (`Societe` finds `Société`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path

import tantivy
from tantivy import FieldType, Filter, Occur, Query, TextAnalyzerBuilder, Tokenizer

from archive.errors import SalvageError

WRITER_HEAP = 128_000_000
"""Bytes of indexing buffer per `add`; the writer flushes a segment whenever it fills."""

SNIPPET_CHARS = 180
"""The longest fragment a snippet shows, before the `[` `]` marks around matched words."""

_K1 = 1.2  # tantivy's BM25 parameter; a term scores below idf * (1 + K1)
_IDF_CEILING = math.log(1 + 2**32)  # above the idf of any term in an index of < 2**32 documents
PHRASE_TIER = (1 + _K1) * _IDF_CEILING
"""Score per query word added to exact-phrase matches: more than the word can score by BM25,
so every exact-phrase match outranks every scattered match."""

_QUOTED = re.compile(r'"([^"]*)"')
_TEXT = "salvage_text"
_KEYWORD = "salvage_keyword"


class SearchError(SalvageError):
    """A search could not run (an empty query, a bad filter) or the index folder is unusable."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class SearchDoc:
    """One extracted document as the index holds it."""

    key: str  # unique per document, e.g. "<source digest>#<ordinal>"; adding it again replaces it
    text: str
    accession: str | None = None
    url: str | None = None
    document: str | None = None  # filename or a label such as "2 EX-99.1"
    form: str | None = None  # "8-K", "SC TO-T/A"
    ciks: list[str] = field(default_factory=list)
    date: date | None = None  # filing date or capture date
    title: str | None = None  # searched as part of the text


@dataclass(slots=True)
class Hit:
    """One search result; `snippet` marks matched words as `[word]`."""

    key: str
    score: float
    snippet: str
    accession: str | None
    url: str | None
    document: str | None
    form: str | None
    date: date | None
    ciks: list[str]


def _schema() -> tantivy.Schema:
    b = tantivy.SchemaBuilder()
    b.add_text_field("key", stored=True, tokenizer_name="raw", index_option="basic")
    b.add_text_field("text", stored=True, tokenizer_name=_TEXT)
    b.add_text_field("form", stored=True, tokenizer_name=_KEYWORD, index_option="basic")
    b.add_text_field("cik", stored=True, tokenizer_name="raw", index_option="basic")
    b.add_date_field("date", stored=True, indexed=True, fast=True)
    for name in ("accession", "url", "document", "title"):
        b.add_text_field(name, stored=True, tokenizer_name="raw", index_option="basic")
    return b.build()


SCHEMA = _schema()
ANALYZER = (TextAnalyzerBuilder(Tokenizer.simple()).filter(Filter.remove_long(40))
            .filter(Filter.lowercase()).filter(Filter.ascii_fold()).build())
"""How text and queries are split into words: letters and digits, lowercased, accents folded."""
_FORM_ANALYZER = TextAnalyzerBuilder(Tokenizer.raw()).filter(Filter.lowercase()).build()


def normalise_cik(cik: str) -> str:
    """`320193` or `0000320193` -> `0000320193`."""
    digits = str(cik).strip()
    if not digits.isdigit() or len(digits.lstrip("0")) > 10:
        raise SearchError(f"CIK {cik!r} is not a number of at most 10 digits, e.g. 320193")
    return digits.zfill(10)[-10:]


def _form(form: str) -> str:
    return " ".join(form.split())


def _day(d: date) -> datetime:
    return datetime.combine(d, time(), UTC)


class SearchIndex:
    """The search index in `folder`, opened, or created if the folder is new or empty."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise SearchError(f"{self.folder} is a file, not a search index folder; "
                              "give a new or empty folder")
        self.folder.mkdir(parents=True, exist_ok=True)
        path = str(self.folder)
        if tantivy.Index.exists(path):
            if not tantivy.Index.is_compatible(path):
                raise SearchError(f"{self.folder} holds a search index in a format this tantivy "
                                  "cannot read; delete the folder and rebuild it from the catalog")
        elif any(self.folder.iterdir()):
            raise SearchError(f"{self.folder} holds files but no search index; "
                              "give a new or empty folder")
        try:
            self._index = tantivy.Index(SCHEMA, path=path, reuse=True)
        except ValueError as e:
            raise SearchError(f"{self.folder} holds a search index of another layout ({e}); "
                              "delete the folder and rebuild the index from the catalog") from e
        self._index.register_tokenizer(_TEXT, ANALYZER)
        self._index.register_tokenizer(_KEYWORD, _FORM_ANALYZER)

    def __len__(self) -> int:
        return self._index.searcher().num_docs

    def add(self, docs: Iterable[SearchDoc]) -> int:
        """Add or replace (by key) documents in one commit; return how many were given."""
        try:
            writer = self._index.writer(heap_size=WRITER_HEAP)
        except ValueError as e:
            raise SearchError(f"cannot write the search index in {self.folder}: {e}; if another "
                              "salvage process is adding to it, wait for it to finish") from e
        n = 0
        try:
            for doc in docs:
                writer.delete_documents_by_term("key", doc.key)
                writer.add_document(_document(doc))
                n += 1
            writer.commit()
        except BaseException:
            writer.rollback()
            raise
        writer.wait_merging_threads()
        self._index.reload()
        return n

    def search(self, terms: str, *, form: str | None = None, cik: str | None = None,
               date_from: date | None = None, date_to: date | None = None,
               limit: int = 10) -> list[Hit]:
        """The best `limit` documents for `terms` (see the module docstring), best first."""
        if not terms.strip():
            raise SearchError('the search is empty; give words to find, or a "quoted phrase"')
        if limit < 1:
            raise SearchError(f"the limit must be 1 or more, not {limit}")
        filters = _filters(form, cik, date_from, date_to)
        groups = _groups(terms)
        if not groups:
            return []  # punctuation only: nothing can match
        relevance = [(Occur.Must, _match(g)) for g in groups]
        clauses = list(relevance)
        words = [w for g in groups for w in g]
        if len(groups) > 1:
            phrase = Query.phrase_query(SCHEMA, "text", words)
            clauses.append((Occur.Should,
                            Query.const_score_query(phrase, PHRASE_TIER * len(words))))
        clauses += [(Occur.Must, Query.const_score_query(f, 0.0)) for f in filters]
        searcher = self._index.searcher()
        found = searcher.search(Query.boolean_query(clauses), limit, count=False)
        snippets = tantivy.SnippetGenerator.create(
            searcher, Query.boolean_query(relevance), SCHEMA, "text")
        snippets.set_max_num_chars(SNIPPET_CHARS)
        hits = []
        for score, address in found.hits:
            doc = searcher.doc(address)
            day = doc.get_first("date")
            hits.append(Hit(
                key=doc.get_first("key"), score=float(score),
                snippet=_snippet(snippets.snippet_from_doc(doc), doc),
                accession=doc.get_first("accession"), url=doc.get_first("url"),
                document=doc.get_first("document"), form=doc.get_first("form"),
                date=day.date() if day else None, ciks=doc.get_all("cik")))
        return hits


def _document(doc: SearchDoc) -> tantivy.Document:
    d = tantivy.Document()
    d.add_text("key", doc.key)
    if doc.title:
        d.add_text("text", doc.title)
    d.add_text("text", doc.text)
    for name in ("accession", "url", "document", "title"):
        if value := getattr(doc, name):
            d.add_text(name, value)
    if doc.form:
        d.add_text("form", _form(doc.form))
    for cik in doc.ciks:
        d.add_text("cik", normalise_cik(cik))
    if doc.date:
        d.add_date("date", _day(doc.date))
    return d


def _groups(terms: str) -> list[list[str]]:
    """The query's must-clauses as word lists: a quoted phrase, or a word as the tokenizer
    splits it; a lone `"` and other syntax are plain text."""
    groups: list[list[str]] = []

    def bare(text: str) -> None:
        groups.extend(words for word in text.split() if (words := ANALYZER.analyze(word)))

    start = 0
    for m in _QUOTED.finditer(terms):
        bare(terms[start:m.start()])
        if words := ANALYZER.analyze(m.group(1)):
            groups.append(words)
        start = m.end()
    bare(terms[start:])
    return groups


def _match(words: list[str]) -> Query:
    if len(words) == 1:
        return Query.term_query(SCHEMA, "text", words[0], index_option="freq")
    return Query.phrase_query(SCHEMA, "text", words)


def _filters(form: str | None, cik: str | None, date_from: date | None,
             date_to: date | None) -> list[Query]:
    filters = []
    if form is not None:
        filters.append(Query.term_query(SCHEMA, "form", _form(form).lower(), index_option="basic"))
    if cik is not None:
        filters.append(Query.term_query(SCHEMA, "cik", normalise_cik(cik), index_option="basic"))
    if date_from and date_to and date_from > date_to:
        raise SearchError(f"the date range is empty: {date_from} is after {date_to}")
    if date_from or date_to:
        filters.append(Query.range_query(
            SCHEMA, "date", FieldType.Date, _day(date_from) if date_from else None,
            _day(date_to) if date_to else None))
    return filters


def _snippet(snippet: tantivy.Snippet, doc: tantivy.Document) -> str:
    """The fragment with `[` `]` around matches, whitespace collapsed; the text's start if the
    matches are not in the text itself."""
    fragment = snippet.fragment().encode()
    if not fragment.strip():
        return " ".join(doc.get_first("text")[:SNIPPET_CHARS * 2].split())[:SNIPPET_CHARS]
    parts, at = [], 0
    for r in sorted(snippet.highlighted(), key=lambda r: r.start):
        parts += [fragment[at:r.start], b"[", fragment[r.start:r.end], b"]"]
        at = r.end
    parts.append(fragment[at:])
    return " ".join(b"".join(parts).decode(errors="replace").split())
