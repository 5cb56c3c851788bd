"""What a run leaves to read: metrics.jsonl, and with the tensorboard extra the scalars, the
generated samples as audio and their spectrogram pictures in TensorBoard's event files."""

import json

import pytest

from wavedil.train import train

from test_train import quiet, tiny


def test_a_run_logs_scalars_audio_and_pictures_to_tensorboard(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    train(tiny(tmp_path, steps=10, validate_every=5, checkpoint_every=5), echo=quiet)
    run = tmp_path / "run"
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    events = EventAccumulator(str(run / "tensorboard"),
                              size_guidance={"scalars": 0, "audio": 0, "images": 0}).Reload()
    tags = events.Tags()
    assert {"train_bits", "val_bits", "lr"} <= set(tags["scalars"])
    # the scalars are the metrics log's, step for step
    logged = {(r["step"], round(r["val_bits"], 5)) for r in records if "val_bits" in r}
    shown = {(e.step, round(e.value, 5)) for e in events.Scalars("val_bits")}
    assert shown == logged and len(shown) == 3  # untrained, step 5, step 10
    audio = events.Audio("sample")
    samples = sorted((run / "samples").glob("*.wav"))
    assert len(audio) == len(samples) >= 1
    assert audio[-1].sample_rate == 16000 and audio[-1].length_frames == int(0.05 * 16000)
    images = events.Images("sample_spectrogram")
    assert len(images) == len(samples) and images[-1].width > 100 and images[-1].height > 50
