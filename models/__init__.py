"""tinygrad networks: UNet / AttentionUNet (line masks from minimap tiles), ViT (layout from mask
tokens), their config dataclasses and named configurations, checkpoint I/O and tiled / batched inference."""
from models.checkpoint import load_checkpoint, load_unet, load_vit, save_checkpoint
from models.config import DEFAULT_UNET, UNET_CONFIGS, build_unet, unet_config
from models.tiled import TiledUNet, ViTRunner
from models.unet import AttentionUNet, UNet, UNetConfig
from models.vit import ViT, ViTConfig, batch_arrays

__all__ = ["UNet", "AttentionUNet", "UNetConfig", "ViT", "ViTConfig", "batch_arrays", "UNET_CONFIGS", "DEFAULT_UNET", "build_unet", "unet_config",
           "save_checkpoint", "load_checkpoint", "load_unet", "load_vit", "TiledUNet", "ViTRunner"]
