"""SQL fragments every reader's parse SQL uses.

Shared so that the same kind of bad line gets the same reason, and the same value the same column,
whichever source it comes from.
"""

from __future__ import annotations

RAW_LINE_CHARS = 2000  # quarantine.raw_line keeps this much of an offending line

# SQL WHEN clauses for what no line format can hold: over-long lines, invalid UTF-8 and blank lines.
UNREADABLE_LINE_CHECKS = """
    WHEN too_long THEN 'line_too_long'
    WHEN undecodable THEN 'invalid_utf8'
    WHEN coalesce(trim(line), '') = '' THEN 'empty_line'"""

# SQL column `raw_line`: the start of a quarantined line (NULL when valid or empty).
QUARANTINED_RAW_LINE = f"CASE WHEN reason IS NOT NULL THEN nullif(left(line, {RAW_LINE_CHARS}), '') END AS raw_line"


def json_text(value: str, separator: str) -> str:
    """SQL: a JSON string as text, a JSON list as its non-empty elements joined; '', [] and {} become NULL."""
    return f"""nullif(trim(CASE json_type({value})
        WHEN 'ARRAY' THEN array_to_string(list_filter(from_json({value}, '["VARCHAR"]'), lambda s: trim(s) <> ''),
                                          '{separator}')
        WHEN 'OBJECT' THEN NULL
        ELSE {value} ->> '$' END), '')"""


def parsed_price(text: str) -> str:
    """SQL: a price text such as `$1,299.00` or `12` as DOUBLE; anything else (ranges, "None") NULL."""
    return f"""try_cast(replace(nullif(regexp_extract({text}, '^\\$?\\s*([0-9][0-9,]*(\\.[0-9]+)?)$', 1), ''), ',', '')
                    AS DOUBLE)"""
