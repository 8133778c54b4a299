"""Reading weights files safely, and saying plainly what a refused file is.

A checkpoint is accepted when it holds only tensors: a PyTorch file written by
``torch.save(model.state_dict(), path)`` (the zip format or the legacy one), optionally wrapped in a
training checkpoint dict under ``model``/``state_dict`` (torchvision's reference scripts add their
``argparse.Namespace`` of options, which is allowed), or a ``.safetensors`` file. Files are read with
``torch.load(weights_only=True)`` or safetensors, so reading never runs code from the file.

The format is recognised from the file's first bytes, not its name, so that a refusal can say what
the file is: empty, not a weights file at all, a plain Python pickle, a damaged or truncated archive,
a pickled model object (refused: unpickling objects can run any code), or a file that holds
something other than a state dict (a mapping from parameter names to tensors).
"""

from __future__ import annotations

import argparse
import pickle
import re
import zipfile
from pathlib import Path

import torch

from engine.errors import WeightsError

ACCEPTED = (
    "Accepted: a state dict saved with `torch.save(model.state_dict(), 'model.pth')` (.pth/.pt; a training "
    "checkpoint holding it under 'model' or 'state_dict' works too) or a .safetensors file."
)
ZIP_MAGIC = b"PK\x03\x04"
# Legacy (pre-1.6) torch files start with a protocol-2 pickle of torch's magic number 0x1950a86a20f9469cfc6c.
LEGACY_TORCH_MAGIC = b"\x80\x02\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little")
WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "net")  # where training checkpoints keep the weights
PREFIXES = ("module.", "_orig_mod.", "model.")  # added by DDP, torch.compile and Lightning-style wrappers
SAFE_EXTRA_GLOBALS = [argparse.Namespace]  # plain attribute bags saved by torchvision's reference trainer
_GLOBAL = re.compile(r"GLOBAL ([A-Za-z_][\w.]*)")


def file_format(path: Path) -> str:
    """What the file's first bytes say it is: ``empty``, ``zip`` (PyTorch's format), ``legacy-torch``,
    ``pickle`` (a plain Python pickle), ``safetensors`` or ``unknown``."""
    with path.open("rb") as handle:
        head = handle.read(16)
    size = path.stat().st_size
    if not head:
        return "empty"
    if head.startswith(ZIP_MAGIC):
        return "zip"
    if head.startswith(LEGACY_TORCH_MAGIC):
        return "legacy-torch"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "pickle"
    header_length = int.from_bytes(head[:8], "little") if len(head) >= 9 else 0
    if head[8:9] == b"{" and 0 < header_length <= size - 8:
        return "safetensors"
    return "unknown"


def _refused_pickle(name: str, error: Exception) -> WeightsError:
    found = sorted(set(_GLOBAL.findall(str(error))))
    what = f" ({', '.join(found)})" if found else ""
    return WeightsError(
        f"{name} holds pickled Python objects{what}, not only tensors - for example a whole model saved with "
        "`torch.save(model, ...)`. Workbench never unpickles uploaded objects, because unpickling can run any "
        f"code. Save just the weights instead. {ACCEPTED}"
    )


def _load(path: Path, name: str, mapped: bool) -> object:
    kind = file_format(path)
    if kind == "empty":
        raise WeightsError(f"{name} is empty (0 bytes): the upload or download did not complete. {ACCEPTED}")
    if kind == "unknown":
        raise WeightsError(f"{name} is not a weights file: its first bytes match neither PyTorch's formats nor "
                           f"safetensors (another kind of file, or a damaged one). {ACCEPTED}")
    if kind == "pickle":
        raise WeightsError(f"{name} is a plain Python pickle, not a PyTorch checkpoint; Workbench never unpickles "
                           f"uploaded files. {ACCEPTED}")
    if kind == "safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as error:  # safetensors raises its own error types for bad headers and sizes
            raise WeightsError(f"{name} starts like a safetensors file but is damaged or truncated: its header "
                               f"or tensor data is incomplete. {ACCEPTED}") from error
    try:
        with torch.serialization.safe_globals(SAFE_EXTRA_GLOBALS):
            return torch.load(str(path), map_location="cpu", weights_only=True, mmap=mapped and kind == "zip")
    except pickle.UnpicklingError as error:
        raise _refused_pickle(name, error) from error
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as error:
        archive = "zip archive" if kind == "zip" else "legacy PyTorch file"
        raise WeightsError(f"{name} is a damaged PyTorch file: its {archive} is truncated or corrupt "
                           f"(an interrupted download or copy?). {ACCEPTED}") from error


def _describe(value: object) -> str:
    if isinstance(value, torch.Tensor):
        return f"a single tensor of shape {tuple(value.shape)}"
    if isinstance(value, dict):
        keys = ", ".join(repr(key) for key in list(value)[:6]) + (", ..." if len(value) > 6 else "")
        return f"a dict with keys {keys}" if value else "an empty dict"
    return f"a {type(value).__name__}"


def _is_state_dict(value: object) -> bool:
    return isinstance(value, dict) and bool(value) and all(
        isinstance(key, str) and isinstance(tensor, torch.Tensor) for key, tensor in value.items()
    )


def strip_prefixes(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Keys without a prefix that every key shares (``module.`` from DDP, ``_orig_mod.``, ``model.``)."""
    changed = True
    while changed:
        changed = False
        for prefix in PREFIXES:
            if all(key.startswith(prefix) for key in state_dict):
                state_dict = {key[len(prefix):]: value for key, value in state_dict.items()}
                changed = True
    return state_dict


def read_state_dict(path: str | Path, name: str | None = None, mapped: bool = False) -> dict[str, torch.Tensor]:
    """Read a state dict (parameter name -> tensor) from a weights file, never running code from it.

    Args:
        path: a PyTorch file (zip or legacy format) or a safetensors file; the format is recognised
            from the content, whatever the extension.
        name: how to call the file in messages (default: its file name).
        mapped: memory-map a zip-format file instead of reading it: names and shapes are there at
            once, values are read only when used (checking a large file's layout stays cheap).

    Raises:
        WeightsError: the file is empty, not a weights file, a plain pickle, damaged or truncated,
            holds pickled objects, or holds something other than a state dict; the message says which
            and what is accepted.
    """
    path = Path(path)
    name = name or path.name
    if not path.is_file():
        raise WeightsError(f"{name} does not exist.")
    loaded = _load(path, name, mapped)
    if isinstance(loaded, dict) and not _is_state_dict(loaded):
        loaded = next((loaded[key] for key in WRAPPER_KEYS if _is_state_dict(loaded.get(key))), loaded)
    if not _is_state_dict(loaded):
        raise WeightsError(f"{name} holds {_describe(loaded)}, not a state dict (a mapping from parameter names to "
                           f"tensors). {ACCEPTED}")
    return strip_prefixes(loaded)  # type: ignore[arg-type]
