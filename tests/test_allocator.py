"""The trainer's allocator setting: freed large blocks are kept and reused, not faulted in anew."""

import platform
import resource

import pytest
import torch

from wavedil.train.allocator import keep_freed_memory


def _faults_of_a_fresh_block(mb: int = 16) -> int:
    """Minor page faults taken by allocating, filling and freeing an ``mb`` MB tensor."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    torch.empty(mb << 18).fill_(1.0)  # mb MB of float32, freed at once
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_kept_memory_serves_the_next_block_without_page_faults():
    assert keep_freed_memory()
    _faults_of_a_fresh_block()  # the heap grows to hold one block
    faults = min(_faults_of_a_fresh_block() for _ in range(5))
    # fresh pages would be 4,096 faults (16 MB of 4 KB pages); other threads of the process
    # may take a few meanwhile, so the bound is a quarter of that
    assert faults < 1024, f"{faults} page faults for a 16 MB block the heap already held"
