"""tinygrad networks: UNet / AttentionUNet (line masks from minimap tiles), ViT (layout from mask
tokens), named configurations, checkpoint I/O and tiled / batched inference."""
from models.unet import UNet, AttentionUNet
from models.vit import ViT, batch_arrays, sample_arrays
from models.config import UNET_CONFIGS, DEFAULT_UNET, build_unet, unet_config
from models.checkpoint import save_checkpoint, load_checkpoint, load_unet, load_vit
from models.tiled import TiledUNet, ViTRunner, channel_stats
