import math

import duckdb
import pytest

from hybridrec_ml.data.sources.markup import SCRIPT_FRAGMENT
from hybridrec_ml.data.transforms.interactions import DataTooSmallError
from hybridrec_ml.data.transforms.tfidf import SCRIPT_KEYWORDS, build_item_tfidf
from hybridrec_ml.data.warehouse import schema

# Items a..e. d has no metadata row; e has only markup, so no text once it is stripped.
ITEMS = [
    ("a", "Red apple", "apple pie"),
    ("b", "<b>Green</b> apple &amp; pear", "<script>var x = 1;</script>fresh"),
    ("c", "var t = new Date().getTime();", "red pear"),  # the JavaScript title is dropped
    ("e", "&nbsp;<br/>", None),
]


def catalogue(con: duckdb.DuckDBPyConnection, items: list[tuple[str, str | None, str | None]]) -> None:
    con.execute(f"CREATE TABLE {schema.ITEM_INDEX} {schema.ddl(schema.ITEM_INDEX_COLUMNS)}")
    con.executemany(f"INSERT INTO {schema.ITEM_INDEX} VALUES (?, ?)", list(enumerate("abcde")))
    con.execute(f"CREATE TABLE {schema.RAW_ITEMS} {schema.ddl(schema.RAW_ITEMS_COLUMNS)}")
    con.executemany(
        f"INSERT INTO {schema.RAW_ITEMS} VALUES (?, ?, ?, NULL, NULL, NULL, NULL, 'meta.json.gz', ?)",
        [(*item, line_no) for line_no, item in enumerate(items, start=1)],
    )


def hand_tfidf(counts: dict[str, int], document_frequency: dict[str, int], n_documents: int) -> dict[str, float]:
    """scikit-learn defaults: raw counts x smooth idf ln((1 + n) / (1 + df)) + 1, then L2 normalisation."""
    raw = {t: c * (math.log((1 + n_documents) / (1 + document_frequency[t])) + 1) for t, c in counts.items()}
    norm = math.sqrt(sum(v * v for v in raw.values()))
    return {t: v / norm for t, v in raw.items()}


def test_tfidf_of_three_documents_matches_the_hand_computation(con):
    catalogue(con, ITEMS)

    report = build_item_tfidf(con)

    vocabulary = ["apple", "fresh", "green", "pear", "pie", "red"]
    df = {"apple": 2, "fresh": 1, "green": 1, "pear": 2, "pie": 1, "red": 2}  # over documents a, b, c
    assert con.execute("SELECT term_idx, term, idf FROM tfidf_vocabulary ORDER BY term_idx").fetchall() == [
        (i, term, pytest.approx(math.log(4 / (1 + df[term])) + 1, rel=1e-6)) for i, term in enumerate(vocabulary)
    ]
    documents = {
        0: {"red": 1, "apple": 2, "pie": 1},
        1: {"green": 1, "apple": 1, "pear": 1, "fresh": 1},
        2: {"red": 1, "pear": 1},
    }
    expected = [
        (item, vocabulary.index(term), pytest.approx(weight, rel=1e-6))
        for item, counts in documents.items()
        for term, weight in sorted(hand_tfidf(counts, df, 3).items(), key=lambda tw: vocabulary.index(tw[0]))
    ]
    assert con.execute("SELECT item_idx, term_idx, weight FROM item_tfidf ORDER BY item_idx, term_idx").fetchall() == (
        expected
    )
    assert report.metadata() | {"seconds": 0} == {
        "items": 5,
        "items_with_terms": 3,
        "items_without_metadata": 1,
        "items_without_terms": 1,
        "vocabulary": 6,
        "nonzeros": 9,
        "mean_terms_per_item": 3.0,
        "seconds": 0,
    }


def test_max_features_keeps_the_most_frequent_terms(con):
    catalogue(con, ITEMS)

    report = build_item_tfidf(con, max_features=1)

    assert con.execute("SELECT term_idx, term FROM tfidf_vocabulary").fetchall() == [(0, "apple")]
    assert con.execute("SELECT item_idx, term_idx, weight FROM item_tfidf ORDER BY item_idx").fetchall() == [
        (0, 0, 1.0),
        (1, 0, 1.0),
    ]
    assert (report.items_with_terms, report.items_without_terms) == (2, 2)


def test_no_text_at_all_raises_data_too_small(con):
    catalogue(con, [("a", "<p></p>", None)])

    with pytest.raises(DataTooSmallError, match="no item in item_index has text"):
        build_item_tfidf(con)


def test_every_script_fragment_alternative_needs_a_keyword():
    # Text without any SCRIPT_KEYWORDS skips the SCRIPT_FRAGMENT regex, so it must not be able to match.
    for alternative in SCRIPT_FRAGMENT.split("|"):
        assert any(keyword in alternative.replace("\\", "") for keyword in SCRIPT_KEYWORDS), alternative
