"""Raw tables from the configured source: one reader call fills raw_reviews, raw_items and quarantine."""


from dagster import AssetExecutionContext, AssetSpec, MaterializeResult, MetadataValue, multi_asset

from hybridrec_assets.metadata import rounded_metadata
from hybridrec_assets.resources import DataSource, Warehouse
from hybridrec_ml.data.sources.fingerprints import content_key, hash_files
from hybridrec_ml.data.sources.registry import ingest_source

WRITER_POOL = "duckdb_writer"
SOURCE_KEY = "source_key"  # raw_reviews metadata: content key of the local input files this ingest read


@multi_asset(
    specs=[
        AssetSpec("raw_reviews", description="Reviews as read from the source files (one row per user, item)", kinds={"duckdb"}),
        AssetSpec("raw_items", description="Item metadata as read from the source files (one row per item)", kinds={"duckdb"}),
    ],
    group_name="data",
    pool=WRITER_POOL,
)
def raw_tables(context: AssetExecutionContext, source: DataSource, warehouse: Warehouse):
    """Obtain the source files (generate / find / download), then ingest; bad lines go to `quarantine`."""
    files = source.files(progress=lambda done, total: context.log.debug(f"downloaded {done} of {total} bytes"))
    watched = source.watched_files()  # hashed before reading: a change during the ingest shows up later
    source_key = {SOURCE_KEY: content_key(hash_files(watched))} if watched else {}
    with warehouse.writer() as con:
        report = ingest_source(con, source.kind, files, source.limits())
    metadata = report.metadata() | source_key | {
        "source_kind": source.kind,
        **{f"file_{role}": MetadataValue.path(str(path)) for role, path in files.items()},
    }
    yield MaterializeResult(asset_key="raw_reviews", metadata=rounded_metadata(metadata))
    yield MaterializeResult(asset_key="raw_items", metadata={"items": report.items, "item_lines": report.item_lines})
