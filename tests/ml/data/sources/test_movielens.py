"""ingest_movielens() on small generated folders in the ML-100K, ML-1M and ML-20M/25M layouts."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from hybridrec_ml.data.sources.line_reader import SourceFileError
from hybridrec_ml.data.sources.movielens import ingest_movielens
from hybridrec_ml.data.warehouse import schema
from tests.source_formats import ml100k_item as _u_item


def _reviews(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute(
        f"SELECT {schema.column_list(schema.RAW_REVIEWS_COLUMNS)} FROM {schema.RAW_REVIEWS} ORDER BY line_no"
    ).fetchall()


def _items(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """(item_id, title, categories, line_no): the other item columns are NULL for MovieLens (checked too)."""
    rows = con.execute(
        f"SELECT {schema.column_list(schema.RAW_ITEMS_COLUMNS)} FROM {schema.RAW_ITEMS} ORDER BY line_no"
    ).fetchall()
    assert {(row[2], row[3], row[5], row[6]) for row in rows} == {(None, None, None, None)}
    return [(row[0], row[1], row[4], row[7], row[8]) for row in rows]


def _quarantine(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute(
        f"SELECT {schema.column_list(schema.QUARANTINE_COLUMNS)} FROM {schema.QUARANTINE} ORDER BY table_name, line_no"
    ).fetchall()


def test_ml100k_layout(tmp_path: Path) -> None:
    (tmp_path / "u.data").write_text(
        "196\t242\t3\t881250949\n"
        "186\t302\t3\t891717742\n"
        "196\t242\t5\t881250000\n"  # the same (user, movie) earlier: kept, line 1 quarantined
        "22\t377\t1\t878887116\n"
        "244\t51\t2\t880606923\textra\n"
        "166\t346\tx\t886397596\n"
        "1\tabc\t5\t881250949\n",  # a movie id is a number in every release
        encoding="ascii",
    )
    bad_flags = _u_item("51", "Legends of the Fall (1994)", {"Drama"}).replace("|1|", "|2|")
    (tmp_path / "u.item").write_bytes(
        "\n".join(
            [
                _u_item("242", "Kolya (1996)", {"Comedy"}),
                _u_item("302", "L.A. Confidential (1997)", {"Crime", "Film-Noir", "Mystery", "Thriller"}),
                _u_item("377", "Heavyweights (1994)", {"Children's", "Comedy"}),
                _u_item("1", "Misérables, Les (1995)", {"Drama", "War"}),
                _u_item("267", "unknown", {"unknown"}),
                bad_flags,
                _u_item("abc", "Not a movie id (1995)", {"Drama"}),
            ]
        ).encode("latin-1")
        + b"\n"
    )
    con = duckdb.connect(str(tmp_path / "w.duckdb"))

    report = ingest_movielens(con, tmp_path)

    assert _reviews(con) == [
        ("186", "302", 3.0, 891717742, None, None, "u.data", 2),
        ("196", "242", 5.0, 881250000, None, None, "u.data", 3),
        ("22", "377", 1.0, 878887116, None, None, "u.data", 4),
    ]
    assert _items(con) == [
        ("242", "Kolya (1996)", "Comedy", "u.item", 1),
        ("302", "L.A. Confidential (1997)", "Crime | Film-Noir | Mystery | Thriller", "u.item", 2),
        ("377", "Heavyweights (1994)", "Children's | Comedy", "u.item", 3),
        ("1", "Misérables, Les (1995)", "Drama | War", "u.item", 4),
        ("267", "unknown", None, "u.item", 5),
    ]
    assert _quarantine(con) == [
        ("raw_items", "u.item", 6, "invalid_genre_flags", bad_flags),
        ("raw_items", "u.item", 7, "invalid_movie_id", _u_item("abc", "Not a movie id (1995)", {"Drama"})),
        ("raw_reviews", "u.data", 1, "duplicate_review", None),
        ("raw_reviews", "u.data", 5, "wrong_field_count", "244\t51\t2\t880606923\textra"),
        ("raw_reviews", "u.data", 6, "invalid_rating", "166\t346\tx\t886397596"),
        ("raw_reviews", "u.data", 7, "invalid_movie_id", "1\tabc\t5\t881250949"),
    ]
    assert (report.review_lines, report.reviews, report.users, report.item_lines, report.items) == (7, 3, 3, 7, 5)
    assert (report.first_ts, report.last_ts) == (878887116, 891717742)


def test_ml1m_layout(tmp_path: Path) -> None:
    (tmp_path / "ratings.dat").write_text(
        "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n3::abc\n", encoding="ascii"
    )
    (tmp_path / "movies.dat").write_bytes(
        "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n"
        "661::James and the Giant Peach (1996)::Animation|Children's|Musical\n"
        "73::Misérables, Les (1995)::Drama|Musical\n"
        "661::James again (1996)::Drama\n".encode("latin-1")
    )
    con = duckdb.connect()

    ingest_movielens(con, tmp_path)

    assert _reviews(con) == [
        ("1", "1193", 5.0, 978300760, None, None, "ratings.dat", 1),
        ("1", "661", 3.0, 978302109, None, None, "ratings.dat", 2),
        ("2", "1193", 4.0, 978298413, None, None, "ratings.dat", 3),
    ]
    assert _items(con) == [
        ("1193", "One Flew Over the Cuckoo's Nest (1975)", "Drama", "movies.dat", 1),
        ("661", "James and the Giant Peach (1996)", "Animation | Children's | Musical", "movies.dat", 2),
        ("73", "Misérables, Les (1995)", "Drama | Musical", "movies.dat", 3),
    ]
    assert _quarantine(con) == [
        ("raw_items", "movies.dat", 4, "duplicate_movie_id", None),
        ("raw_reviews", "ratings.dat", 4, "wrong_field_count", "3::abc"),
    ]


def test_ml25m_layout(tmp_path: Path) -> None:
    (tmp_path / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n1,296,5.0,1147880044\n1,306,3.5,1147868817\n2,296,0.0,1147868828\n",
        encoding="utf-8",
    )
    (tmp_path / "movies.csv").write_text(
        "movieId,title,genres\n"
        "11,\"American President, The (1995)\",Comedy|Drama|Romance\n"
        "296,Pulp Fiction (1994),Comedy|Crime|Drama|Thriller\n"
        "306,\"Three Colors: Red (Trois couleurs: Rouge) (1994)\",Drama\n"
        "1234,\"Film \"\"Quoted\"\", The (2000)\",(no genres listed)\n"
        "5,Père Noël (2000),Comedy\n"
        "7,missing genres\n",
        encoding="utf-8",
    )
    con = duckdb.connect()

    ingest_movielens(con, tmp_path)

    assert _reviews(con) == [
        ("1", "296", 5.0, 1147880044, None, None, "ratings.csv", 2),
        ("1", "306", 3.5, 1147868817, None, None, "ratings.csv", 3),
    ]
    assert _items(con) == [
        ("11", "American President, The (1995)", "Comedy | Drama | Romance", "movies.csv", 2),
        ("296", "Pulp Fiction (1994)", "Comedy | Crime | Drama | Thriller", "movies.csv", 3),
        ("306", "Three Colors: Red (Trois couleurs: Rouge) (1994)", "Drama", "movies.csv", 4),
        ("1234", 'Film "Quoted", The (2000)', None, "movies.csv", 5),
        ("5", "Père Noël (2000)", "Comedy", "movies.csv", 6),
    ]
    assert _quarantine(con) == [
        ("raw_items", "movies.csv", 7, "wrong_field_count", "7,missing genres"),
        ("raw_reviews", "ratings.csv", 4, "invalid_rating", "2,296,0.0,1147868828"),
    ]


def test_folder_without_a_layout_lists_what_was_looked_for(tmp_path: Path) -> None:
    (tmp_path / "u.data").write_text("1\t2\t3\t4\n")  # u.item missing

    with pytest.raises(SourceFileError) as error:
        ingest_movielens(duckdb.connect(), tmp_path)

    assert str(error.value) == (
        f"{tmp_path}: no MovieLens layout found (looked for ml-100k: u.data + u.item; "
        "ml-1m: ratings.dat + movies.dat; ml-20m/25m: ratings.csv + movies.csv)"
    )


def test_wrong_csv_header_is_refused(tmp_path: Path) -> None:
    (tmp_path / "ratings.csv").write_text("user,item,rating,ts\n1,2,3.0,4\n")
    (tmp_path / "movies.csv").write_text("movieId,title,genres\n2,X (2000),Drama\n")

    with pytest.raises(SourceFileError, match=re.escape("ratings.csv: header 'user,item,rating,ts', expected")):
        ingest_movielens(duckdb.connect(), tmp_path)


def test_ratings_file_without_a_valid_line_is_refused(tmp_path: Path) -> None:
    (tmp_path / "ratings.dat").write_text("not a rating\n\n")
    (tmp_path / "movies.dat").write_text("1::X (2000)::Drama\n")

    with pytest.raises(SourceFileError) as error:
        ingest_movielens(duckdb.connect(), tmp_path)

    assert str(error.value) == (
        f"{tmp_path / 'ratings.dat'}: no valid ml-1m ratings record among 2 lines (empty_line: 1, wrong_field_count: 1)"
    )
