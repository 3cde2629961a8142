"""Gold: the human reference every labeler is measured against.

- `derive`: the live draft -- the adjudicated label of an item, else its experts' agreed label.
- `releases`: numbered, frozen releases of the draft, which calibration, the gate and exports use.
"""

from labelgate.gold.derive import Gold, derive_gold, load_gold
from labelgate.gold.releases import (
    DraftProgress,
    GoldDiff,
    Release,
    ReleasePermissionError,
    chosen_gold,
    criteria_gold_version,
    diff,
    diff_gold,
    draft_progress,
    expert_agreement,
    get_release,
    latest_release,
    list_releases,
    publish,
    release_gold,
    resolve_gold,
)

__all__ = ["DraftProgress", "Gold", "GoldDiff", "Release", "ReleasePermissionError", "chosen_gold",
           "criteria_gold_version", "derive_gold",
           "diff", "diff_gold", "draft_progress", "expert_agreement", "get_release", "latest_release",
           "list_releases", "load_gold", "publish", "release_gold", "resolve_gold"]
