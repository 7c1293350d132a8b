"""recbole_export: our exact data and split as RecBole atomic files, so RecBole models run on the same data."""

from dagster import Config, MaterializeResult, MetadataValue, asset
from pydantic import Field

from hybridrec_assets.artifacts import recbole_folder
from hybridrec_assets.defs.data.assets import temporal_split
from hybridrec_assets.resources import ArtifactStore, Warehouse
from hybridrec_ml.data.transforms.recbole_export import export_recbole


class RecBoleConfig(Config):
    dataset_name: str = Field(default="hybridrec", description="RecBole dataset name (names the folder and files)")
    users: str = Field(
        default="all",
        description="all: every val/test user, as the per-user protocol evaluates; warm: users with a training interaction",
    )


@asset(deps=[temporal_split, "raw_items"], group_name="data", kinds={"recbole"})
def recbole_export(config: RecBoleConfig, warehouse: Warehouse, store: ArtifactStore) -> MaterializeResult:
    """`.inter`, `.item` and `train/valid/test.inter` under artifacts/recbole/<name>; RecBole's `data_path` is its parent."""
    folder = store.path(*recbole_folder(config.dataset_name))
    with warehouse.reader() as con:
        written = export_recbole(con, folder, config.dataset_name, config.users)
    return MaterializeResult(
        metadata={
            "folder": MetadataValue.path(str(folder)),
            "data_path": MetadataValue.path(str(folder.parent)),
            "users": config.users,
            **{f"rows_{suffix.replace('.', '_')}": file.rows for suffix, file in written.items()},
        }
    )
