"""Data: audio files or the embedded corpus -> cleaned clips."""

from .config import DataConfig
from .corpus import TIMBRES, CorpusItem, Timbre, make_corpus, midi_to_hz
from .files import clean_clip, discover, load_clip

__all__ = ["TIMBRES", "CorpusItem", "DataConfig", "Timbre", "clean_clip", "discover", "load_clip",
           "make_corpus", "midi_to_hz"]
