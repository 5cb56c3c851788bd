"""Data: audio files or the embedded corpus -> cleaned clips, mel frames, mu-law classes -> crops.

    DataConfig --prepare()--> PreparedData --RandomCrops(data, data.train)-----> torch Dataset
                                           --FixedCrops(data, data.validation)-> torch Dataset
"""

from ..features import DataConfig
from .corpus import TIMBRES, CorpusItem, Timbre, make_corpus, midi_to_hz
from .crops import FixedCrops, RandomCrops
from .dataset import PreparedData, prepare, split
from .files import clean_clip, discover, load_clip

__all__ = [
    "TIMBRES", "CorpusItem", "DataConfig", "FixedCrops", "PreparedData", "RandomCrops", "Timbre",
    "clean_clip", "discover", "load_clip", "make_corpus", "midi_to_hz", "prepare", "split",
]
