"""The default checkpoint format: data only, so that loading one can never run code.

A pickle is a program: whoever can write a pickled checkpoint runs code in the runner that
loads it. This format holds data and nothing else, in one file (so that writing it stays one
atomic put on an object store): a zip archive (stored, not compressed, as ``.npz`` files are) of

* ``checkpoint.json``: ``{"format": "raysweep-checkpoint", "version": 1, "tree": <node>}``, and
* ``<i>.npy``: the i-th array of the tree, in numpy's own format, read with pickles refused.

A node is JSON ``null``, a boolean, a string, an integer, a finite float, a list (a Python list),
or an object with exactly one key saying what it is:

``{"float": "nan" | "inf" | "-inf"}``, ``{"tuple": [<node>, ...]}``,
``{"dict": [[<key>, <node>], ...]}`` (a key is a string or an integer: a torch optimizer's
state_dict has int keys), ``{"odict": ...}`` (the same, an OrderedDict), ``{"ndarray": i}``,
``{"npscalar": i}`` (a numpy scalar, stored as a 0-d array), ``{"tensor": i}`` (a torch tensor
whose dtype numpy has) and ``{"tensor": i, "dtype": "bfloat16", "shape": [...]}`` (one whose
dtype numpy lacks: its raw bytes, as uint8).

Since every user dict is written as a ``dict`` node, no key of the user's can be mistaken for a
tag. Torch is imported only to load a checkpoint that holds tensors, and detected on saving only
if the objective already imported it. Tensors come back on the CPU; a runner without torch gets
numpy arrays for them (or a clear error for dtypes numpy lacks).
"""

from __future__ import annotations

import collections
import importlib
import io
import json
import math
import sys
import zipfile
from typing import Any

import numpy as np

__all__ = ["SUPPORTED", "DamagedCheckpoint", "Unsupported", "decode", "encode"]

_TREE = "checkpoint.json"
_FORMAT = "raysweep-checkpoint"
_VERSION = 1
# Deeper than any state a training loop returns; it stops a structure that contains itself.
_MAX_DEPTH = 100
SUPPORTED = (
    "dicts with str or int keys, lists, tuples, str, int, float (nan and inf too), bool, None, "
    "numpy arrays (not of dtype object) and scalars, and torch tensors (saved from the CPU)"
)
# Torch dtypes numpy has: stored as numpy arrays that numpy users can read too.
_TORCH_NATIVE = {
    "bool",
    "uint8",
    "int8",
    "int16",
    "int32",
    "int64",
    "float16",
    "float32",
    "float64",
    "complex64",
    "complex128",
}


class Unsupported(ValueError):
    """A part of the state the format cannot hold; the message says which part and why."""


class DamagedCheckpoint(ValueError):
    """The bytes are not a checkpoint this format wrote (torn, altered, or something else)."""


def encode(state: Any) -> bytes:
    """The state as the format's bytes; Unsupported naming the first part it cannot hold."""
    arrays: list[np.ndarray[Any, Any]] = []
    tree = _Encoder(arrays).node(state, "state", 0)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        header = {"format": _FORMAT, "version": _VERSION, "tree": tree}
        archive.writestr(_TREE, json.dumps(header, allow_nan=False, ensure_ascii=False))
        for index, array in enumerate(arrays):
            with archive.open(f"{index}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)
    return buffer.getvalue()


def decode(data: bytes) -> Any:
    """The state `encode` wrote; DamagedCheckpoint when the bytes are anything else."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            header = json.loads(archive.read(_TREE))
            if not isinstance(header, dict) or header.get("format") != _FORMAT:
                raise DamagedCheckpoint(f"its {_TREE} does not say format {_FORMAT!r}")
            version = header.get("version")
            if version != _VERSION:
                raise DamagedCheckpoint(
                    f"it is version {version!r} of the format; this raysweep reads version "
                    f"{_VERSION} (a newer raysweep wrote it? upgrade raysweep in the runners)"
                )
            if "tree" not in header:
                raise DamagedCheckpoint(f"its {_TREE} has no tree")
            return _Decoder(archive).node(header["tree"], 0)
    except DamagedCheckpoint:
        raise
    except (
        zipfile.BadZipFile,
        KeyError,
        ValueError,
        TypeError,
        EOFError,
        RecursionError,
        RuntimeError,  # what torch raises for bytes that do not make its tensor
    ) as exc:
        raise DamagedCheckpoint(f"{type(exc).__name__}: {exc}") from None


class _Encoder:
    def __init__(self, arrays: list[np.ndarray[Any, Any]]) -> None:
        self._arrays = arrays
        torch = sys.modules.get("torch")  # never imported here: only if the objective did
        self._tensor: type | None = getattr(torch, "Tensor", None)

    def node(self, value: Any, where: str, depth: int) -> Any:
        if depth > _MAX_DEPTH:
            raise Unsupported(
                f"{where} is nested more than {_MAX_DEPTH} levels deep (does it contain itself?)"
            )
        kind = type(value)
        if value is None or kind in (bool, int, str):
            return value
        if kind is float:
            if math.isfinite(value):
                return value
            return {"float": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
        if kind is list:
            return [self.node(item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value)]
        if kind is tuple:
            items = [self.node(item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value)]
            return {"tuple": items}
        if kind is dict or kind is collections.OrderedDict:
            items = []
            for key, item in value.items():
                if type(key) not in (str, int):
                    raise Unsupported(
                        f"{where} has a dict key of type {type(key).__name__} ({key!r}); keys "
                        "must be str or int"
                    )
                items.append([key, self.node(item, f"{where}[{key!r}]", depth + 1)])
            return {"dict" if kind is dict else "odict": items}
        if kind is np.ndarray:
            return {"ndarray": self._array(value, where)}
        if isinstance(value, np.generic):
            return {"npscalar": self._array(np.asarray(value), where)}
        if self._tensor is not None and isinstance(value, self._tensor):
            return self._tensor_node(value, where)
        raise Unsupported(f"{where} is a {_describe(value)}")

    def _array(self, array: np.ndarray[Any, Any], where: str) -> int:
        if array.dtype.hasobject:
            raise Unsupported(
                f"{where} is a numpy array of dtype object (it holds Python objects, which only "
                "a pickle can store)"
            )
        self._arrays.append(array)
        return len(self._arrays) - 1

    def _tensor_node(self, tensor: Any, where: str) -> dict[str, Any]:
        if tensor.is_quantized or str(tensor.layout) != "torch.strided":
            kind = "quantized" if tensor.is_quantized else str(tensor.layout)
            raise Unsupported(
                f"{where} is a {kind} tensor; only dense tensors are stored (call .to_dense() "
                "or .dequantize() first)"
            )
        host = tensor.detach().cpu().resolve_conj().resolve_neg().contiguous()
        dtype = str(host.dtype).removeprefix("torch.")
        if dtype in _TORCH_NATIVE:
            return {"tensor": self._array(host.numpy(), where)}
        # numpy has no such dtype (bfloat16, float8, ...): keep the bytes, and the dtype's name.
        raw = host.reshape(-1).view(_torch().uint8).numpy()
        return {"tensor": self._array(raw, where), "dtype": dtype, "shape": list(host.shape)}


class _Decoder:
    def __init__(self, archive: zipfile.ZipFile) -> None:
        self._archive = archive

    def node(self, node: Any, depth: int) -> Any:
        if depth > _MAX_DEPTH:
            raise DamagedCheckpoint(f"its tree is nested more than {_MAX_DEPTH} levels deep")
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, list):
            return [self.node(item, depth + 1) for item in node]
        if not isinstance(node, dict) or len(node) not in (1, 3):
            raise DamagedCheckpoint(f"a node of its tree is {_short(node)}")
        if "float" in node and len(node) == 1:
            special = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
            if node["float"] not in special:
                raise DamagedCheckpoint(f"a float node is {_short(node)}")
            return special[node["float"]]
        if "tuple" in node and len(node) == 1 and isinstance(node["tuple"], list):
            return tuple(self.node(item, depth + 1) for item in node["tuple"])
        for tag, kind in (("dict", dict), ("odict", collections.OrderedDict)):
            if tag in node and len(node) == 1 and isinstance(node[tag], list):
                result = kind()
                for pair in node[tag]:
                    if (
                        not isinstance(pair, list)
                        or len(pair) != 2
                        or isinstance(pair[0], bool)
                        or not isinstance(pair[0], (str, int))
                    ):
                        raise DamagedCheckpoint(f"a dict item is {_short(pair)}")
                    result[pair[0]] = self.node(pair[1], depth + 1)
                return result
        if "ndarray" in node and len(node) == 1:
            return self._array(node["ndarray"])
        if "npscalar" in node and len(node) == 1:
            scalar = self._array(node["npscalar"])
            if scalar.ndim != 0:
                raise DamagedCheckpoint("a numpy scalar is stored as an array of shape > 0")
            return scalar[()]
        if "tensor" in node:
            return self._tensor(node)
        raise DamagedCheckpoint(f"a node of its tree is {_short(node)}")

    def _array(self, index: Any) -> np.ndarray[Any, Any]:
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise DamagedCheckpoint(f"an array index is {index!r}")
        with self._archive.open(f"{index}.npy") as member:
            array: np.ndarray[Any, Any] = np.lib.format.read_array(member, allow_pickle=False)
        return array if array.flags.writeable else array.copy()

    def _tensor(self, node: dict[str, Any]) -> Any:
        array = self._array(node["tensor"])
        raw = len(node) == 3
        if raw and not (
            isinstance(node.get("dtype"), str)
            and isinstance(node.get("shape"), list)
            and all(isinstance(n, int) and not isinstance(n, bool) for n in node["shape"])
            and array.dtype == np.uint8
            and array.ndim == 1
        ):
            raise DamagedCheckpoint(f"a tensor node is {_short(node)}")
        try:
            torch = _torch()
        except ImportError:
            if raw:
                raise DamagedCheckpoint(
                    f"it holds a torch tensor of dtype {node['dtype']}, which numpy cannot hold, "
                    "and torch cannot be imported here: install torch where the trials run"
                ) from None
            return array  # no torch in this runner: the tensor's values, as numpy has them
        if not raw:
            return torch.from_numpy(array)
        dtype = getattr(torch, node["dtype"], None)
        if not isinstance(dtype, torch.dtype):
            raise DamagedCheckpoint(f"a tensor has dtype {node['dtype']!r}, unknown to torch")
        if array.size == 0:
            return torch.empty(node["shape"], dtype=dtype)  # torch cannot view no bytes
        return torch.from_numpy(array).view(dtype).reshape(node["shape"])


def _torch() -> Any:
    # Only for a checkpoint that holds tensors, or when saving tensors (torch is loaded then).
    return importlib.import_module("torch")


def _describe(value: Any) -> str:
    kind = type(value)
    name = kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__name__}"
    for base in (dict, list, tuple, str, int, float):
        if isinstance(value, base):
            # A namedtuple, an IntEnum, a defaultdict: loading would give back a plain one.
            return f"{name}, a subclass of {base.__name__} that the format would not keep"
    return name


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
