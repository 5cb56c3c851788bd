"""Dilated-convolution blocks, one per file."""

from .residual import GatedResidualBlock

__all__ = ["GatedResidualBlock"]
