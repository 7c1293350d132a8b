"""Patterns for HTML and JavaScript that leak into product text, in one place for reader and TF-IDF."""

# RE2 patterns (DuckDB regexp_*) for markup that leaks into product text: the reader counts titles
# that contain any of it, and TF-IDF strips it before tokenising.
SCRIPT_BLOCK = r"(?is)<(script|style)\b.*?</(script|style)\s*>"
HTML_TAG = r"(?i)</?[a-z!][^<>]*>"
HTML_ENTITY = r"(?i)&(#[0-9]+|#x[0-9a-f]+|[a-z][a-z0-9]*);"
SCRIPT_FRAGMENT = r"getTime\s*\(|function\s*\(|\bdocument\.|\bwindow\.|\bvar\s+[A-Za-z_$][\w$]*\s*="
