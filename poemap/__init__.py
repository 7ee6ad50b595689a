"""poemap: Path of Exile layout prediction from screen pixels.

The pure-numpy core lives here: stitching (`stitch`), mask cleaning and tokens (`tokens`), fog of
war (`explore`), safe file writes (`fileio`), the published data directory (`datadir`) and the
synthetic Coast (`sim`).
"""
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
