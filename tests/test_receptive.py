import pytest

from wavedil import (effective_kernel, gridding, hdc_condition, layer_receptive_fields,
                     layered_dilations, path_counts, receptive_field, sawtooth_dilations,
                     wavenet_dilations)

CYCLE = [2**i for i in range(10)]


def test_effective_kernel():
    assert effective_kernel(3, 1) == 3
    assert effective_kernel(3, 2) == 5
    assert effective_kernel(2, 512) == 513
    assert effective_kernel(1, 7) == 1


def test_layer_fields_from_the_papers():
    assert layer_receptive_fields(3, [1, 2, 4]) == [3, 7, 15]
    assert layer_receptive_fields(3, [1, 1, 2, 4, 8, 16, 1]) == [3, 5, 9, 17, 33, 65, 67]
    assert receptive_field(2, CYCLE) == 1024
    assert receptive_field(2, CYCLE * 3) == 3070


def test_strides_multiply_later_spans():
    # two k=3 layers, the first with stride 2: 1 + 2 + 2*2 = 7
    assert layer_receptive_fields(3, [1, 1], strides=[2, 1]) == [3, 7]


def test_schedules():
    assert wavenet_dilations(2, 512) == CYCLE * 2
    assert wavenet_dilations(1, 8) == [1, 2, 4, 8]
    assert layered_dilations(12, 10) == CYCLE + [1, 2]
    assert sawtooth_dilations((1, 2, 5), 2) == [1, 2, 5, 1, 2, 5]


@pytest.mark.parametrize("call", [
    lambda: receptive_field(0, [1]),
    lambda: receptive_field(2, [0]),
    lambda: receptive_field(2, []),
    lambda: receptive_field([2, 2], [1]),
    lambda: wavenet_dilations(1, 500),
    lambda: sawtooth_dilations((1, 0)),
])
def test_bad_values_raise(call):
    with pytest.raises(ValueError):
        call()


def test_gridding_equal_rates_have_holes_and_fail_hdc():
    r = gridding(3, [2, 2, 2])
    assert r.receptive_field == 13
    assert r.holes == [1, 3, 5, 7, 9, 11]
    assert r.coverage == pytest.approx(7 / 13)
    assert not r.hdc_ok


def test_gridding_hybrid_rates_pass():
    r = gridding(3, [1, 2, 5])
    assert r.receptive_field == 17
    assert r.holes == []
    assert r.coverage == 1.0
    assert r.hdc_ok and r.hdc_m2 == 2


def test_wavenet_cycle_covers_every_offset_exactly_once():
    r = gridding(2, CYCLE)
    assert r.paths == [1] * 1024
    assert r.hdc_ok


def test_path_counts_small_case():
    # k=2, d=(1, 1): offsets 0, 1, 2 reached by 1, 2, 1 paths
    assert path_counts(2, [1, 1]) == [1, 2, 1]
    assert sum(path_counts(3, [1, 2, 5])) == 27  # k^layers paths in all


def test_hdc_judges_one_repeating_group():
    assert hdc_condition(3, [1, 2, 5, 1, 2, 5])
    assert gridding(2, CYCLE * 2).hdc_ok
    assert not hdc_condition(3, [2, 2, 2, 2])


def test_hdc_condition_common_factor():
    assert not hdc_condition(3, [2, 4, 8])
    assert hdc_condition(3, [1, 2, 3])
    assert not hdc_condition(3, [3])
    assert hdc_condition(3, [1])
