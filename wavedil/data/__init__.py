"""Data: the embedded corpus."""

from .corpus import TIMBRES, CorpusItem, Timbre, make_corpus, midi_to_hz

__all__ = ["TIMBRES", "CorpusItem", "Timbre", "make_corpus", "midi_to_hz"]
