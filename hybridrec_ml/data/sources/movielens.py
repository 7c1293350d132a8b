"""Reader for MovieLens folders (ML-100K, ML-1M, ML-20M/25M) into the raw tables, for cross-domain runs.

Ratings become reviews (no verified flag, no votes); a movie's title and genres are its item text
(title -> title, genres -> categories joined with " | "). Bad lines are quarantined exactly as the
Amazon readers do, so everything downstream of ingest is the same for every source.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from hybridrec_ml.data.sources.line_reader import LINES, LineBudget, LineLimits, SourceFileError, materialize_text_lines
from hybridrec_ml.data.sources.parse_sql import QUARANTINED_RAW_LINE, UNREADABLE_LINE_CHECKS
from hybridrec_ml.data.sources.parsed_lines import IngestReport, check_parsed_lines, publish_parsed_lines

_RATING_LINES = "movielens_rating_lines"
_MOVIE_LINES = "movielens_movie_lines"

# u.item's 19 flag columns, in file order (u.genre). "unknown" means no genre information, so it
# contributes no category, like ML-25M's "(no genres listed)".
ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip
_NO_GENRE = ("unknown", "(no genres listed)")

_NO_GENRE_SQL = ", ".join(f"'{genre}'" for genre in _NO_GENRE)
_ITEM_TAIL = (
    "NULL AS description, NULL AS features, categories, NULL AS brand, NULL::DOUBLE AS price, false AS price_unparsed"
)


def _split_lines_sql(separator_sql: str, header_lines: int) -> str:
    """The numbered lines after the header, each split into `parts` (a stray `\\r` dropped)."""
    return f"""
    SELECT line_no, line, undecodable, too_long, string_split(rtrim(line, chr(13)), {separator_sql}) AS parts
    FROM {LINES} WHERE line_no > {header_lines}"""


def _ratings_sql(separator_sql: str, header_lines: int) -> str:
    """Parse SQL for `user<sep>movie<sep>rating<sep>timestamp` lines (timestamps are unix seconds)."""
    return f"""
WITH split AS ({_split_lines_sql(separator_sql, header_lines)}
), checked AS (
    SELECT line_no, line, parts AS f,
        CASE {UNREADABLE_LINE_CHECKS}
            WHEN len(parts) <> 4 THEN 'wrong_field_count'
            WHEN trim(parts[1]) = '' THEN 'missing_user_id'
            WHEN trim(parts[2]) = '' THEN 'missing_movie_id'
            WHEN NOT regexp_full_match(trim(parts[2]), '[0-9]{{1,18}}') THEN 'invalid_movie_id'
            WHEN NOT coalesce(try_cast(parts[3] AS DOUBLE) BETWEEN 0.5 AND 5, false) THEN 'invalid_rating'
            WHEN NOT regexp_full_match(trim(parts[4]), '[0-9]{{1,18}}') THEN 'invalid_timestamp'
        END AS reason
    FROM split
)
SELECT line_no, reason, {QUARANTINED_RAW_LINE},
       trim(f[1]) AS user_id, trim(f[2]) AS item_id, try_cast(f[3] AS DOUBLE) AS rating,
       try_cast(trim(f[4]) AS BIGINT) AS ts, NULL::BOOLEAN AS verified, NULL::INTEGER AS vote, false AS vote_unparsed
FROM checked
"""


def _movies_sql(
    separator_sql: str,
    field_count: int,
    categories_sql: str,
    *,
    fields_sql: str = "parts",
    extra_checks: str = "",
    header_lines: int = 0,
) -> str:
    """Parse SQL for movie lines: `fields_sql` turns `parts` into the fields `f` = id, title, ..."""
    return f"""
WITH split AS ({_split_lines_sql(separator_sql, header_lines)}
), checked AS (
    SELECT line_no, line, {fields_sql} AS f,
        CASE {UNREADABLE_LINE_CHECKS}
            WHEN len(f) <> {field_count} THEN 'wrong_field_count'
            WHEN trim(f[1]) = '' THEN 'missing_movie_id'
            WHEN NOT regexp_full_match(trim(f[1]), '[0-9]{{1,18}}') THEN 'invalid_movie_id'{extra_checks}
        END AS reason
    FROM split
), described AS (
    SELECT line_no, line, reason, f, nullif({categories_sql}, '') AS categories FROM checked
)
SELECT line_no, reason, {QUARANTINED_RAW_LINE}, trim(f[1]) AS item_id, nullif(trim(f[2]), '') AS title, {_ITEM_TAIL}
FROM described
"""


def _genre_list_sql(list_sql: str) -> str:
    """Genre names (NULLs, blanks and no-genre markers dropped) joined with " | "."""
    return f"array_to_string(list_filter({list_sql}, lambda g: trim(g) NOT IN ('', {_NO_GENRE_SQL})), ' | ')"


_ML100K_FLAGS = ", ".join(
    f"""CASE WHEN f[{6 + k}] = '1' THEN '{genre.replace("'", "''")}' END""" for k, genre in enumerate(ML100K_GENRES)
)
_ML100K_MOVIES_SQL = _movies_sql(
    "'|'",
    5 + len(ML100K_GENRES),
    _genre_list_sql(f"[{_ML100K_FLAGS}]"),
    extra_checks="""
            WHEN len(list_filter(f[6:], lambda flag: flag NOT IN ('0', '1'))) > 0 THEN 'invalid_genre_flags'""",
)
_ML1M_MOVIES_SQL = _movies_sql("'::'", 3, _genre_list_sql("string_split(f[3], '|')"))
# movies.csv quotes titles that contain commas ("American President, The (1995)") and doubles inner
# quotes. Ids and genres never contain a comma, so the title is everything between the first and
# the last comma.
_ML25M_MOVIES_SQL = _movies_sql(
    "','",
    3,
    _genre_list_sql("string_split(f[3], '|')"),
    fields_sql="""CASE WHEN len(parts) < 3 THEN parts ELSE [
        parts[1],
        replace(regexp_replace(array_to_string(parts[2:-2], ','), '^"(.*)"$', '\\1'), '""', '"'),
        parts[-1]] END""",
    header_lines=1,
)


@dataclass(frozen=True)
class MovieLensLayout:
    """One release's file names, encodings and line formats."""

    name: str
    ratings_file: str
    movies_file: str
    movies_encoding: str
    ratings_sql: str
    movies_sql: str
    ratings_header: str | None = None  # exact first line, when the release writes one
    movies_header: str | None = None


LAYOUTS = (
    MovieLensLayout("ml-100k", "u.data", "u.item", "latin-1", _ratings_sql("chr(9)", 0), _ML100K_MOVIES_SQL),
    MovieLensLayout("ml-1m", "ratings.dat", "movies.dat", "latin-1", _ratings_sql("'::'", 0), _ML1M_MOVIES_SQL),
    MovieLensLayout(
        "ml-20m/25m",
        "ratings.csv",
        "movies.csv",
        "utf-8",
        _ratings_sql("','", 1),
        _ML25M_MOVIES_SQL,
        ratings_header="userId,movieId,rating,timestamp",
        movies_header="movieId,title,genres",
    ),
)


def detect_movielens_layout(folder: Path) -> MovieLensLayout:
    """The one layout whose ratings and movies files are both in `folder`, else `SourceFileError`."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SourceFileError(f"{folder}: not a directory (expected an extracted MovieLens folder)")
    found = [
        layout
        for layout in LAYOUTS
        if (folder / layout.ratings_file).is_file() and (folder / layout.movies_file).is_file()
    ]
    if len(found) == 1:
        return found[0]
    looked_for = "; ".join(f"{layout.name}: {layout.ratings_file} + {layout.movies_file}" for layout in LAYOUTS)
    if not found:
        raise SourceFileError(f"{folder}: no MovieLens layout found (looked for {looked_for})")
    names = ", ".join(layout.name for layout in found)
    raise SourceFileError(f"{folder}: ambiguous MovieLens folder, files of several layouts ({names}) are present")


def ingest_movielens(
    con: duckdb.DuckDBPyConnection, folder: Path, *, limits: LineLimits = LineLimits()
) -> IngestReport:
    """Read a MovieLens folder into `raw_reviews`, `raw_items` and `quarantine` (one transaction).

    Ids stay the release's numeric strings; duplicate (user, movie) ratings keep the earliest and
    duplicate movie ids the first line. Raises `SourceFileError` when the folder matches no layout,
    a CSV header is wrong, a file holds no valid line, or more bad lines than `limits` allow. Movie ids
    are numeric in every release: any other id is quarantined as invalid_movie_id.
    """
    started = time.perf_counter()
    layout = detect_movielens_layout(folder)
    ratings_path, movies_path = Path(folder) / layout.ratings_file, Path(folder) / layout.movies_file
    _check_header(ratings_path, layout.ratings_header, "utf-8")
    _check_header(movies_path, layout.movies_header, layout.movies_encoding)
    try:
        materialize_text_lines(con, ratings_path, _RATING_LINES, layout.ratings_sql, LineBudget(ratings_path, limits))
        check_parsed_lines(con, _RATING_LINES, ratings_path, f"{layout.name} ratings", limits)
        materialize_text_lines(
            con, movies_path, _MOVIE_LINES, layout.movies_sql, LineBudget(movies_path, limits), layout.movies_encoding
        )
        check_parsed_lines(con, _MOVIE_LINES, movies_path, f"{layout.name} movies", limits)
        return publish_parsed_lines(
            con, (_RATING_LINES, ratings_path), (_MOVIE_LINES, movies_path), "duplicate_movie_id", started
        )
    finally:
        for table in (_RATING_LINES, _MOVIE_LINES):
            con.execute(f"DROP TABLE IF EXISTS {table}").fetchall()


def _check_header(path: Path, expected: str | None, encoding: str) -> None:
    """A CSV release whose header differs is another file or another release: refuse it by name."""
    if expected is None:
        return
    with path.open("rb") as stream:
        header = stream.readline().decode(encoding, errors="replace").removeprefix("\ufeff").rstrip("\r\n")
    if header != expected:
        raise SourceFileError(f"{path}: header {header!r}, expected {expected!r}")
