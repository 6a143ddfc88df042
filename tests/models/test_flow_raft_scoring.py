"""RAFT scoring with a flow model whose output is known: what RaftFlow does around the network is checked exactly.

torchvision ships no RAFT weights offline, and random weights give an arbitrary flow, so the network is swapped,
after RaftFlow loaded a real RAFT-large checkpoint, for a stand-in with RAFT's call: ``model(first, second,
num_flow_updates=n)`` returning the list of refined flows, the last one best. The stand-in finds the integer
horizontal shift that aligns each pair and returns it as a uniform field. On a pan of known speed the motion
score must then be that speed: this proves the frame order and [-1, 1] scaling fed to the model, the batching
across pairs, the choice of the final refinement, and the magnitude and mean taken from RAFT's (B, 2, H, W)
output. It proves nothing about RAFT's own weights (none are available offline).
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed: pip install 'lvd2m-builder[torch]'")

from lvd2m_builder.config import MotionConfig  # noqa: E402
from lvd2m_builder.media.probe import probe  # noqa: E402
from lvd2m_builder.media.sampler import FrameSampler  # noqa: E402
from lvd2m_builder.models import flow  # noqa: E402
from lvd2m_builder.records import Clip, ClipRef  # noqa: E402
from lvd2m_builder.stages.motion import MotionScorer  # noqa: E402
from lvd2m_builder.testing import samples  # noqa: E402

MAX_SHIFT = 32


class GlobalShift(torch.nn.Module):
    """RAFT's interface, a predictable answer: the whole-frame horizontal shift from ``first`` to ``second``."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []  # pairs per call
        self.ranges: list[tuple[float, float]] = []  # (min, max) of the pixels each call received

    def forward(self, first, second, num_flow_updates: int = 12):
        assert first.shape == second.shape and first.dtype == torch.float32
        self.batches.append(first.shape[0])
        self.ranges.append((float(torch.minimum(first, second).min()), float(torch.maximum(first, second).max())))
        width = first.shape[-1]
        inner = second[..., MAX_SHIFT : width - MAX_SHIFT]
        errors = torch.stack([(first[..., MAX_SHIFT + s : width - MAX_SHIFT + s] - inner).abs().mean(dim=(1, 2, 3))
                              for s in range(-MAX_SHIFT, MAX_SHIFT + 1)])
        shift = (errors.argmin(dim=0) - MAX_SHIFT).float()  # second[x] = first[x + shift]: content moved left
        field = torch.zeros(first.shape[0], 2, *first.shape[2:])
        field[:, 0] = -shift[:, None, None]
        return [torch.full_like(field, 1000.0)] * (num_flow_updates - 1) + [field]  # only the last one is right


@pytest.fixture
def raft_scorer(tmp_path, monkeypatch):
    from torchvision.models.optical_flow import raft_large

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    checkpoint = tmp_path / "hub" / "checkpoints" / flow.RAFT_CHECKPOINT
    checkpoint.parent.mkdir(parents=True)
    torch.save(raft_large(weights=None).state_dict(), checkpoint)
    config = MotionConfig(backend="raft", height=128, width=256, raft_updates=3, batch_size=2, device="cpu")
    scorer = MotionScorer(config)
    assert isinstance(scorer.backend, flow.RaftFlow)
    scorer.backend.model = GlobalShift()
    return scorer


def test_raft_scores_a_known_pan_as_its_speed(raft_scorer, tmp_path):
    # 2 px/frame at 24 fps: 24 px between 2 fps samples in the 320 px window, 19.2 px once resized to 256 wide
    path = samples.pan(tmp_path / "pan.mp4", seconds=2.0, px_per_frame=2)
    clip = Clip(ref=ClipRef(uri=str(path), video_id="pan"), path=str(path))
    clip.info, clip.frame_starts = probe(str(path))
    FrameSampler(128, 256).run(clip, [raft_scorer.task(clip)])
    assert clip.flow_backend == "raft"
    assert clip.flow_score == pytest.approx(24 * 256 / 320, abs=0.6)
    assert raft_scorer.backend.model.batches == [2, 1]  # three pairs in batches of motion.batch_size


def test_raft_flows_and_magnitudes_agree_pair_by_pair(raft_scorer):
    rng = np.random.default_rng(0)
    wide = rng.integers(0, 256, (128, 256 + 64, 3), dtype=np.uint8)
    pairs = [(np.ascontiguousarray(wide[:, :256]), np.ascontiguousarray(wide[:, s : 256 + s])) for s in (3, 10, 0)]
    backend = raft_scorer.backend
    assert backend.mean_magnitudes(pairs) == pytest.approx([3.0, 10.0, 0.0])
    assert backend.model.ranges == [(-1.0, 1.0)]  # uint8 0 and 255 reach the model as RAFT's -1 and 1
    fields = backend.flows(pairs)
    assert [f.shape for f in fields] == [(128, 256, 2)] * 3
    assert [float(f[..., 0].mean()) for f in fields] == pytest.approx([-3.0, -10.0, 0.0])
    assert all(float(np.abs(f[..., 1]).max()) == 0.0 for f in fields)
