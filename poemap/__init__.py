"""poemap: Path of Exile layout prediction from screen pixels. This package is the core, the bottom layer:
it imports nothing of models/, training/ or stream/ (tests/test_layers.py checks it).

The pure-numpy core: stitching (`stitch`), mask cleaning and tokens (`tokens`), fog of war (`explore`), the
UNet's input path (`fidelity`), safe file writes (`fileio`), the published data directory (`datadir`), the
area registry (`areas`), the colour-filter baseline (`colorfilter`), placing the player on a guide
(`guidepos`). Above it, importing only it: the synthetic Coast (`sim`) and the data tools (`datatools`).
"""
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
