"""Sparse TF-IDF of item text (title, description, features, categories) for the items in `item_index`.

Markup is removed in SQL before tokenising: script/style blocks, fields that still read as
JavaScript (the `getTime` titles of Amazon 2018), then HTML tags and entities. The matrix stays
sparse end to end and is stored as (item_idx, term_idx, weight) triples.

scikit-learn's TfidfVectorizer defines the weights; on `full` its fit (tokenising and counting
~8M tokens in Python) is most of this step's time.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import duckdb
import numpy as np
import pyarrow as pa
from sklearn.feature_extraction.text import TfidfVectorizer

from hybridrec_ml.data.sources.markup import HTML_ENTITY, HTML_TAG, SCRIPT_BLOCK, SCRIPT_FRAGMENT
from hybridrec_ml.data.transforms.interactions import DataTooSmallError
from hybridrec_ml.data.warehouse import schema
from hybridrec_ml.data.warehouse.tables import TableBuild, replace_tables

_TRIPLES = "tfidf_triples"
_TERMS = "tfidf_terms"


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# What each pattern cannot match without: '<' (SCRIPT_BLOCK, HTML_TAG), '&' and ';' (HTML_ENTITY),
# and one of these words (every alternative of SCRIPT_FRAGMENT, which is case-sensitive).
SCRIPT_KEYWORDS = ("getTime", "function", "document.", "window.", "var")


def _clean(field: str) -> str:
    """SQL: `field` without markup; NULL when what is left after script blocks is JavaScript.

    A field with none of what the patterns need comes back unchanged without running them: that is
    most text, and the regexes were most of the documents query.
    """
    unscripted = f"regexp_replace({field}, {_sql_literal(SCRIPT_BLOCK)}, ' ', 'g')"
    untagged = f"regexp_replace({unscripted}, {_sql_literal(HTML_TAG)}, ' ', 'g')"
    cleaned = f"""CASE WHEN regexp_matches({unscripted}, {_sql_literal(SCRIPT_FRAGMENT)}) THEN NULL
        ELSE regexp_replace({untagged}, {_sql_literal(HTML_ENTITY)}, ' ', 'g') END"""
    needs = [f"contains({field}, '<')", f"(contains({field}, '&') AND contains({field}, ';'))"]
    needs += [f"contains({field}, {_sql_literal(keyword)})" for keyword in SCRIPT_KEYWORDS]
    return f"CASE WHEN {' OR '.join(needs)} THEN {cleaned} ELSE {field} END"


# Patterns are inlined as literals so DuckDB compiles each regex once, not per row.
_DOCUMENTS_SQL = f"""
WITH metadata AS (
    SELECT item_id, title, description, features, categories
    FROM {schema.RAW_ITEMS}
    QUALIFY row_number() OVER (PARTITION BY item_id ORDER BY source_file, line_no) = 1
)
SELECT ix.item_idx,
       m.item_id IS NOT NULL AS has_metadata,
       concat_ws(chr(10), {_clean("m.title")}, {_clean("m.description")}, {_clean("m.features")},
                 {_clean("m.categories")}) AS document
FROM {schema.ITEM_INDEX} AS ix
LEFT JOIN metadata AS m ON m.item_id = ix.item_id
ORDER BY ix.item_idx
"""
# Both are built in this order (CSR rows by item, sorted indices; terms by index) and DuckDB keeps it.
_ITEM_TFIDF_SQL = f"SELECT item_idx, term_idx, weight FROM {_TRIPLES}"
_VOCABULARY_SQL = f"SELECT term_idx, term, idf FROM {_TERMS}"


@dataclass(frozen=True)
class TfidfReport:
    items: int  # in item_index
    items_with_terms: int
    items_without_metadata: int  # no raw_items row: no tfidf rows
    items_without_terms: int  # a raw_items row, but no vocabulary term in its text: no tfidf rows
    vocabulary: int
    nonzeros: int
    mean_terms_per_item: float  # over items with terms
    seconds: float

    def metadata(self) -> dict[str, int | float | str]:
        return asdict(self)


def build_item_tfidf(con: duckdb.DuckDBPyConnection, max_features: int = 5000) -> TfidfReport:
    """Write `item_tfidf` and `tfidf_vocabulary` (scikit-learn TfidfVectorizer defaults, top `max_features` terms).

    Rows are L2-normalised; items without text get no rows. Raises `DataTooSmallError` if no item has text.
    """
    started = time.perf_counter()
    columns = con.execute(_DOCUMENTS_SQL).fetchnumpy()
    item_idx = columns["item_idx"].astype(np.int32)
    has_metadata = columns["has_metadata"].astype(bool)
    documents = columns["document"].tolist()
    # Only documents with text are fitted, so that text-less items do not count towards idf's n.
    with_text = np.array([bool(document and document.strip()) for document in documents], dtype=bool)
    vectorizer = TfidfVectorizer(max_features=max_features, dtype=np.float32)
    try:
        matrix = vectorizer.fit_transform([documents[i] for i in np.flatnonzero(with_text)])
    except ValueError as error:  # scikit-learn: "empty vocabulary"
        raise DataTooSmallError(f"no item in {schema.ITEM_INDEX} has text to build TF-IDF from ({error})") from error
    matrix.sort_indices()
    terms_per_item = np.diff(matrix.indptr)
    frames = {
        _TRIPLES: pa.table(
            {
                "item_idx": np.repeat(item_idx[with_text], terms_per_item),
                "term_idx": matrix.indices.astype(np.int32),
                "weight": matrix.data,
            }
        ),
        _TERMS: pa.table(
            {
                "term_idx": np.arange(len(vectorizer.idf_), dtype=np.int32),
                "term": vectorizer.get_feature_names_out(),
                "idf": vectorizer.idf_.astype(np.float64),
            }
        ),
    }
    try:
        for name, frame in frames.items():
            con.register(name, frame)
        nonzeros, vocabulary = replace_tables(
            con,
            [
                TableBuild(schema.ITEM_TFIDF, schema.ITEM_TFIDF_COLUMNS, _ITEM_TFIDF_SQL),
                TableBuild(schema.TFIDF_VOCABULARY, schema.TFIDF_VOCABULARY_COLUMNS, _VOCABULARY_SQL),
            ],
        )
    finally:
        for name in frames:
            con.unregister(name)
    with_terms = int((terms_per_item > 0).sum())
    return TfidfReport(
        items=len(item_idx),
        items_with_terms=with_terms,
        items_without_metadata=int((~has_metadata).sum()),
        items_without_terms=int(has_metadata.sum()) - with_terms,
        vocabulary=vocabulary,
        nonzeros=nonzeros,
        mean_terms_per_item=round(nonzeros / with_terms, 4) if with_terms else 0.0,
        seconds=round(time.perf_counter() - started, 3),
    )
