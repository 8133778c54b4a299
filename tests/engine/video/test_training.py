"""engine.video.training: balanced, rank-equal batches; the best epoch is kept; a cancelled run resumes exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine import distributed
from engine.errors import Cancelled, WorkbenchError
from engine.training import Progress
from engine.video.dataset import ClipSet, load_clips
from engine.video.models import ModelConfig
from engine.video.training import BestEpoch, TrainingConfig, epoch_batches, train


def test_epoch_batches_are_deterministic_and_equal_on_every_rank() -> None:
    levels = [0] * 17 + [1] * 3 + [2] * 2
    config = TrainingConfig(batch_size=8)
    single = epoch_batches(levels, 8, config, 0, distributed.Rank(0, 1, torch.device("cpu")))
    assert single == epoch_batches(levels, 8, config, 0, distributed.Rank(0, 1, torch.device("cpu")))
    assert single != epoch_batches(levels, 8, config, 1, distributed.Rank(0, 1, torch.device("cpu")))
    assert len(single) == 3 and all(len(batch) == 8 for batch in single)  # 22 draws rounded up to 24
    ranks = [epoch_batches(levels, 8, config, 0, distributed.Rank(r, 3, torch.device("cpu"))) for r in range(3)]
    assert len({len(batches) for batches in ranks}) == 1 and all(len(b) == 2 for batches in ranks for b in batches)
    shuffled = epoch_batches(levels, 8, TrainingConfig(balanced=False), 0, distributed.Rank(0, 1, torch.device("cpu")))
    drawn = [i for batch in shuffled for i in batch]
    assert len(drawn) == 24 and set(drawn) == set(range(22))  # every clip once, two repeated to fill the batch


def test_best_epoch_survives_a_restart(tmp_path: Path) -> None:
    module = torch.nn.Linear(2, 2)
    keeper = BestEpoch(tmp_path / "best.safetensors")
    keeper.offer(0.5, module)
    best = {k: v.clone() for k, v in module.state_dict().items()}
    with torch.no_grad():
        module.weight.add_(1.0)
    keeper.offer(0.4, module)  # worse: ignored
    again = BestEpoch(tmp_path / "best.safetensors")
    assert again.score == 0.5
    again.restore(module)
    torch.testing.assert_close(module.state_dict()["weight"], best["weight"])


@pytest.fixture(scope="module")
def small_set(synthetic_set: Path) -> ClipSet:
    """A few clips of each cue and split from the shared synthetic set."""
    data = load_clips(synthetic_set)
    data.splits = {split: clips[::step] for (split, clips), step in zip(data.splits.items(), (3, 2, 4))}
    return data


def test_a_cancelled_run_resumes_to_the_same_rater(tmp_path: Path, small_set: ClipSet,
                                                   small_config: ModelConfig) -> None:
    config = TrainingConfig(epochs=2, batch_size=4, audio_batch_size=4, fusion_epochs=2)
    cache = tmp_path / "features"
    whole = train(small_set, small_config, config, tmp_path / "whole", cache, show_bar=False, log=lambda _: None)

    def stop_in_audio(stage: str, progress: Progress) -> None:
        if stage == "audio" and progress.epoch == 1 and progress.step == 0:
            raise Cancelled("stop")

    with pytest.raises(Cancelled):
        train(small_set, small_config, config, tmp_path / "cut", cache, on_progress=stop_in_audio, show_bar=False,
              log=lambda _: None)
    assert (tmp_path / "cut" / "video.safetensors").is_file() and (tmp_path / "cut" / "audio.pt").is_file()
    resumed = train(small_set, small_config, config, tmp_path / "cut", cache, resume=True, show_bar=False,
                    log=lambda _: None)
    for name, tensor in whole.rater.state_dict().items():
        torch.testing.assert_close(resumed.rater.state_dict()[name], tensor, msg=name)
    assert resumed.metrics["test"] == whole.metrics["test"]
    assert {"video", "audio", "fused", "fusion_rules", "by_tag"} <= set(whole.metrics["test"])
    with pytest.raises(WorkbenchError, match="other data or settings"):
        train(small_set, small_config, TrainingConfig(epochs=3), tmp_path / "cut", cache, resume=True,
              show_bar=False, log=lambda _: None)
