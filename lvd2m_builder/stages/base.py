"""What a stage is: the one protocol every pipeline stage implements, and what the registry knows about each.

Modelled on PySceneDetect's ``SceneDetector`` (one required method; the extras declared, never probed) and on
NeMo Curator's and Cosmos-Curate's stages, which declare the resources they want. A :class:`Stage` takes clips
and yields the same clips, each passed on or rejected here with a reason. A :class:`FrameScorer` is the part of a
stage that reads frames: it hands the shared sampler one task per clip, so every stage's frames come from one
decode. A :class:`StageSpec` (one per stage, in ``registry.py``) says what the pipeline, rebuild and the
executors need to know: the config section it reads, whether a changed threshold can be re-decided from stored
scores, the frames it takes, the device it wants, the :class:`Resources` of a process of its own (a model stage,
which an executor may run apart from the decoding), and how to build it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterable, Iterator, Literal, Optional

from lvd2m_builder.config import BuildConfig
from lvd2m_builder.media.sampler import FrameSampler, FrameTask
from lvd2m_builder.records import Clip

if TYPE_CHECKING:
    from lvd2m_builder.models.clip import ClipModel


class Stage(ABC):
    """One step of the pipeline: clips in, the same clips out, in order, each passed on or rejected here.

    A rejected clip passes through every later stage untouched. A per-clip stage (``batched = False``) is run
    one clip at a time by the pipeline, which turns an unexpected exception into a reject of that clip; a
    batched stage takes a window of clips per model call and turns its own failures into rejects.
    """

    stage: ClassVar[str]  # the name a reject carries
    batched: ClassVar[bool] = False

    @abstractmethod
    def __call__(self, clips: Iterable[Clip]) -> Iterator[Clip]:
        """Yield every clip of ``clips``, in order."""


class BatchedStage(Stage):
    """A stage that runs a model on windows of ``window`` clips."""

    batched = True
    window: int  # clips per model call


class FrameScorer(ABC):
    """The part of a stage that reads frames: one sampler task per clip (the sampler decodes each clip once)."""

    stage: ClassVar[str]

    @abstractmethod
    def task(self, clip: Clip) -> FrameTask:
        """The frames this stage wants from ``clip``, and what to do with them."""


@dataclass
class Built:
    """What a spec builds for one config: the stage (None when it does not run) and its frame scorers."""

    stage: Optional[Stage] = None
    scorers: list[FrameScorer] = field(default_factory=list)
    skipped: Optional[str] = None  # why an enabled stage cannot run here (model weights absent, ...)


@dataclass
class BuildContext:
    """What stages built earlier hand to later ones while one pipeline is assembled."""

    config: BuildConfig
    scratch: Optional[str] = None
    sampler: Optional[FrameSampler] = None
    scorers: list[FrameScorer] = field(default_factory=list)  # every stage's, filled before the first clip runs
    residual: Any = None  # the robust cut check scores what the motion stage's flow cannot explain
    clip_model: Optional["ClipModel"] = None  # one CLIP model, shared by embed, prefilter and align
    # True while a stage is built only for its frame scorers: this process decodes, and the stage's model runs
    # in another process (run/executors/ray.py), so nothing is loaded here
    frames_only: bool = False


#: How a stored row's decision at a stage can be remade after its settings change (run/rebuild.py):
#: ``final``: it needs the frames again (a change to its section needs --overwrite); ``threshold``: remade from
#: the scores the row carries (``recheck``); ``model``: past the filters, rerun through the pipeline.
Redecide = Literal["final", "threshold", "model"]


def _no_device(config: BuildConfig) -> Optional[str]:
    return None


@dataclass(frozen=True)
class Resources:
    """What a stage's own process asks a scheduler for, as NeMo Curator's and Cosmos-Curate's stages declare it.

    ``gpu_share``: the part of one GPU an actor takes when the stage's model runs on a GPU (fractional: several
    actors, or several stages' actors, on one GPU); ``cpus``: the CPUs it takes; ``batch``: clips per call, so
    the model sees full batches.
    """

    gpu_share: float
    batch: int
    cpus: float = 1.0


def _in_previous_process(config: BuildConfig) -> Optional[Resources]:
    return None


@dataclass(frozen=True)
class StageSpec:
    """One stage as the rest of the package sees it; registered once, in pipeline order (registry.py)."""

    name: str  # the name its rejects carry
    build: Callable[[BuildContext], Built]
    section: Optional[str] = None  # the config section it reads
    redecide: Redecide = "final"
    thresholds: tuple[str, ...] = ()  # fields of ``section`` that only threshold stored scores
    recheck: Optional[Callable[[dict, BuildConfig], Optional[str]]] = None  # a stored row's new reject reason
    frames: str = ""  # what it takes from the shared decode
    device: Callable[[BuildConfig], Optional[str]] = _no_device  # its local model's device setting, if any
    # a process of its own (a model stage), or None: it runs in the process of the stage before it
    resources: Callable[[BuildConfig], Optional[Resources]] = _in_previous_process
    prefetch: bool = False  # a slow model stage: decoding runs ahead of it on a thread
    per_clip: bool = True  # False: a pass over the finished dataset (dedup), not a pipeline stage
