"""The contract: the numbers the published weights were trained with, and the game's screen geometry, each stated
once here (docs/DESIGN.md, "The contract"). The published checkpoints and the data directory depend on them, so a
change belongs behind an explicit option, never in place.
"""

# The screen. A 4K game screen is the reference; other resolutions scale with the height, as the game's HUD does.
SCREEN_4K = (2160, 3840)               # (h, w)
ICON_4K = (1060, 1920)                 # the player icon [y, x], the centre of the overlay minimap
CAPTURE_RADIUS_4K = 600                # half side of the square captured around the icon
CAPTURE_SIDE = 2 * CAPTURE_RADIUS_4K   # every frame reaches the stitcher at this side, whatever the screen

# The UNet's input (poemap.fidelity): the minimap in square tiles, each colour channel by its mean and std.
TILE = 32                              # also the token patch: the ViT's grid is the UNet's, anchored at the origin
NORM_EPS = 1e-8                        # added to the std
LINE_CLASSES = 2                       # the UNet's output per pixel: ground, map line

# The ViT's input (poemap.tokens).
CLEAN_WINDOW = 15                      # a line pixel stays when CLEAN_MIN other line pixels lie in its window
CLEAN_MIN = 10
EMBED_DIM = 256                        # sin/cos position embedding of patch row and column, EMBED_DIM / 4 frequencies
PE_BASE = 10000.0                      # the longest wavelength
MAX_TOKENS = 128                       # the ViT reads the nearest MAX_TOKENS tokens; fewer are padded with a learned token

# What a path reveals in a training sample: a disc around every point, 1080p-scale px.
FOG_RADIUS = 65

# The area: Act 1 "The Coast" has this many layouts, the ViT as many classes.
NUM_CLASSES = 9

# The published checkpoints (data/model/<name>.safetensors) and the sizes their tensors have.
PUBLISHED_UNET, PUBLISHED_VIT = "AttentionUNet8_8600", "ViT6_219_15"
PUBLISHED_UNET_SIZES = dict(in_chan=3, mid_chan=64, out_chan=LINE_CLASSES, depth=3)
PUBLISHED_VIT_SIZES = dict(num_classes=NUM_CLASSES, max_tokens=MAX_TOKENS, layers=3, embed_dim=EMBED_DIM, num_heads=4, ff_dim=512)
