"""Full-text search: BM25 with exact phrases first, exact filters, snippets, upserts, reopening."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from storage.search import SearchDoc, SearchError, SearchIndex

ROOT = Path(__file__).resolve().parent.parent


def _doc(key: str, text: str, **meta) -> SearchDoc:
    return SearchDoc(key=key, text=text, **meta)


@pytest.fixture
def index(tmp_path: Path) -> SearchIndex:
    return SearchIndex(tmp_path / "search")


@pytest.fixture
def filings(index: SearchIndex) -> SearchIndex:
    index.add([
        _doc("a#1", "The board declared a cash dividend on common stock.", form="8-K",
             ciks=["0000320193"], date=date(2025, 1, 10), accession="0000320193-25-000001"),
        _doc("b#1", "Offer to purchase for cash all outstanding shares; dividend policy.",
             form="SC TO-T/A", ciks=["0001127602", "0000789019"], date=date(2025, 2, 1)),
        _doc("c#1", "Quarterly report: the dividend was unchanged.", form="10-Q",
             ciks=["0000789019"], date=date(2025, 3, 31)),
        _doc("d#1", "Tender offer statement about the dividend.", form="SC TO-T",
             ciks=["0001127602"], date=date(2025, 4, 1)),
    ])
    return index


def _keys(hits) -> list[str]:
    return [h.key for h in hits]


def test_search_ranks_exact_phrase_first(index):
    scattered = ("Quarterly results. The dividend was raised. An increase in quarterly revenue, "
                 "a dividend reinvestment plan and another increase; quarterly dividend notes, "
                 "increase of dividend, quarterly increase. ") * 3
    index.add([
        _doc("scattered", scattered),
        _doc("phrase", "On May 1 the board approved a quarterly dividend increase of 4%. "
                       + "Other business of the meeting followed. " * 30),
        _doc("partial", "A quarterly dividend was paid."),
    ])
    hits = index.search("quarterly dividend increase")
    assert _keys(hits) == ["phrase", "scattered"]  # all words required: "partial" lacks one
    assert hits[0].score > hits[1].score


def test_search_bm25_orders_within_a_tier(index):
    index.add([_doc("once", "dividend " + "filler words here. " * 50),
               _doc("often", "dividend dividend dividend and more filler words.")])
    assert _keys(index.search("dividend")) == ["often", "once"]


def test_search_filters_by_form_with_spaces_and_slash(filings):
    assert _keys(filings.search("cash", form="SC TO-T/A")) == ["b#1"]
    assert _keys(filings.search("cash", form="sc  to-t/a")) == ["b#1"]
    assert _keys(filings.search("dividend", form="SC TO-T")) == ["d#1"]
    assert filings.search("dividend", form="SC TO") == []


def test_search_filters_by_cik_unpadded_or_padded(filings):
    assert sorted(_keys(filings.search("dividend", cik="789019"))) == ["b#1", "c#1"]
    assert sorted(_keys(filings.search("dividend", cik="0000789019"))) == ["b#1", "c#1"]
    assert filings.search("dividend", cik="320193")[0].ciks == ["0000320193"]


def test_search_rejects_a_cik_that_is_not_a_number(filings):
    with pytest.raises(SearchError, match="CIK"):
        filings.search("dividend", cik="apple")


def test_search_filters_by_date_range_inclusive(filings):
    hits = filings.search("dividend", date_from=date(2025, 2, 1), date_to=date(2025, 3, 31))
    assert sorted(_keys(hits)) == ["b#1", "c#1"]
    assert sorted(_keys(filings.search("dividend", date_from=date(2025, 3, 31)))) == [
        "c#1", "d#1"]
    assert _keys(filings.search("dividend", date_to=date(2025, 1, 10))) == ["a#1"]
    assert filings.search("dividend", date_to=date(2025, 1, 10))[0].date == date(2025, 1, 10)


def test_search_filters_combine(filings):
    hits = filings.search("dividend", form="SC TO-T/A", cik="1127602",
                          date_from=date(2025, 1, 1), date_to=date(2025, 12, 31))
    assert _keys(hits) == ["b#1"]


def test_search_filters_do_not_change_scores(filings):
    plain = {h.key: h.score for h in filings.search("dividend")}
    for hit in filings.search("dividend", cik="789019", date_from=date(2025, 1, 1)):
        assert hit.score == pytest.approx(plain[hit.key])


def test_search_limit(index):
    index.add(_doc(f"k{i}", f"shares of common stock, lot {i}") for i in range(25))
    assert len(index.search("shares")) == 10
    assert len(index.search("shares", limit=3)) == 3
    assert len(index.search("shares", limit=100)) == 25
    with pytest.raises(SearchError, match="limit"):
        index.search("shares", limit=0)


def test_adding_a_key_again_replaces_the_document(index):
    assert index.add([_doc("k", "first version about mergers")]) == 1
    index.add([_doc("k", "second version about mergers", form="8-K/A")])
    hits = index.search("mergers")
    assert len(hits) == 1 and hits[0].form == "8-K/A"
    assert index.search("first") == []
    assert len(index) == 1


def test_adding_a_key_twice_in_one_batch_keeps_the_last(index):
    index.add([_doc("k", "draft acquisition"), _doc("k", "final acquisition")])
    assert [h.snippet for h in index.search("acquisition")] == ["final [acquisition]"]


def test_snippet_marks_the_matched_terms(index):
    text = ("Lorem ipsum filler.\n\n" * 40 + "Net sales   increased 8% to $94.9 billion,\n driven "
            "by iPhone.\n" + "More filler text follows. " * 40)
    index.add([_doc("k", text)])
    [hit] = index.search("net sales")
    assert "[Net] [sales] increased 8%" in hit.snippet
    assert len(hit.snippet) <= 200
    assert "\n" not in hit.snippet and "  " not in hit.snippet


def test_search_quoted_phrase(index):
    index.add([_doc("phrase", "Net sales rose in every segment."),
               _doc("apart", "Net income rose; sales fell.")])
    assert _keys(index.search('"net sales"')) == ["phrase"]
    assert sorted(_keys(index.search("net sales"))) == ["apart", "phrase"]
    assert _keys(index.search('"net sales" rose')) == ["phrase"]


def test_a_word_the_tokenizer_splits_is_a_phrase(index):
    index.add([_doc("10k", "Annual report on Form 10-K."), _doc("k10", "K-10 and form")])
    assert _keys(index.search("form 10-K")) == ["10k"]


@pytest.mark.parametrize("query", ['"unbalanced', "a:b:c", "(((", "title:", 'AND OR "" ) -',
                                   "dividend AND (cash OR", "[1 TO", "field:\"x"])
def test_malformed_query_text_does_not_crash(filings, query):
    assert isinstance(filings.search(query), list)


def test_pasted_syntax_is_searched_as_plain_words(filings):
    assert _keys(filings.search('"cash dividend')) == ["a#1", "b#1"]  # the phrase first
    assert _keys(filings.search("cash: dividend (")) == ["a#1", "b#1"]
    assert _keys(filings.search("purchase:cash")) == []  # split words are a phrase


@pytest.mark.parametrize("query", ["", "   ", "\n\t"])
def test_empty_query_raises(filings, query):
    with pytest.raises(SearchError, match="empty") as e:
        filings.search(query)
    assert e.value.reason


def test_reopen_sees_committed_docs(tmp_path):
    folder = tmp_path / "search"
    SearchIndex(folder).add([_doc("k", "Material definitive agreement.", form="8-K",
                                  ciks=["320193"], date=date(2025, 5, 1), url="https://x/y")])
    [hit] = SearchIndex(folder).search("definitive agreement")
    assert (hit.key, hit.form, hit.ciks, hit.date, hit.url) == (
        "k", "8-K", ["0000320193"], date(2025, 5, 1), "https://x/y")
    script = ("import sys; from pathlib import Path; from storage.search import SearchIndex; "
              "i = SearchIndex(Path(sys.argv[1])); print(len(i), i.search('agreement')[0].key)")
    out = subprocess.run([sys.executable, "-c", script, str(folder)], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1", "k"]


def test_a_failed_add_leaves_the_last_commit(index):
    index.add([_doc("kept", "kept document")])

    def docs():
        yield _doc("lost", "lost document")
        raise RuntimeError("extraction failed")

    with pytest.raises(RuntimeError):
        index.add(docs())
    assert _keys(index.search("document")) == ["kept"]
    index.add([_doc("later", "later document")])  # the writer lock was released
    assert len(index) == 2


def test_a_second_writer_is_refused_while_one_is_adding(tmp_path):
    import tantivy

    index = SearchIndex(tmp_path / "search")
    index.add([_doc("k", "first")])
    holder = tantivy.Index.open(str(tmp_path / "search")).writer()
    with pytest.raises(SearchError, match="another salvage process"):
        index.add([_doc("j", "second")])
    holder.rollback()
    del holder
    index.add([_doc("j", "second")])
    assert len(index) == 2


def test_a_folder_that_is_not_an_index_is_refused(tmp_path):
    folder = tmp_path / "other"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(SearchError, match="no search index"):
        SearchIndex(folder)
    (tmp_path / "file").write_text("x")
    with pytest.raises(SearchError, match="is a file"):
        SearchIndex(tmp_path / "file")


def test_an_index_of_another_layout_is_refused(tmp_path):
    import tantivy

    builder = tantivy.SchemaBuilder()
    builder.add_text_field("body", stored=True)
    (tmp_path / "foreign").mkdir()
    tantivy.Index(builder.build(), path=str(tmp_path / "foreign"))
    with pytest.raises(SearchError, match="another layout"):
        SearchIndex(tmp_path / "foreign")


def test_unicode_text(index):
    index.add([_doc("fr", "La Société Générale a annoncé un dividende exceptionnel à Zürich."),
               _doc("jp", "株式会社 の 年次報告書"), _doc("ru", "Годовой отчёт компании")])
    [hit] = index.search("société générale")
    assert hit.key == "fr" and "[Société] [Générale]" in hit.snippet
    assert _keys(index.search("Societe zurich")) == ["fr"]
    assert _keys(index.search("株式会社")) == ["jp"]
    assert _keys(index.search("ОТЧЁТ")) == ["ru"]
