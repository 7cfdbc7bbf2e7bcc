"""Saving and loading MLPs as JSON: atomic writes, and loads that check everything first.

A checkpoint holds a format tag and version, the architecture (the MLP constructor
arguments that fix the parameter names) and every parameter by its dotted name:

    {"format": "micrograd_ann.checkpoint", "version": 1,
     "architecture": {"nin": 2, "nouts": [16, 16, 1], "activation": "relu",
                      "output_activation": "linear"},
     "parameters": {"layers.0.neurons.0.w.0": 0.6888437030500962, ...}}

Floats are written as repr() writes them, so a save/load round trip is exact.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
from typing import Any

from .nn import MLP

FORMAT = "micrograd_ann.checkpoint"
VERSION = 1
_KEYS = ("format", "version", "architecture", "parameters")
_ARCHITECTURE_KEYS = ("nin", "nouts", "activation", "output_activation")

PathLike = str | os.PathLike


class CheckpointError(ValueError):
    """A file that cannot be loaded into the model; the message names the file and why."""


# ---------------------------------------------------------------------------- save


def save(model: MLP, path: PathLike) -> None:
    """Write `model` to `path` as JSON, atomically: a crash mid-write leaves any old file.

    The text goes to a new temporary file in the same directory, is flushed and fsync'ed,
    then os.replace() swaps it in, so readers see the old file or the new one, never a mix.
    """
    doc = {"format": FORMAT, "version": VERSION, "architecture": _architecture(model),
           "parameters": model.state_dict()}
    bad = [name for name, value in doc["parameters"].items() if not math.isfinite(value)]
    if bad:
        raise ValueError(f"cannot save a model with non-finite parameters (it could not be "
                         f"loaded back): {len(bad)} of them, e.g. {bad[0]} = "
                         f"{doc['parameters'][bad[0]]}")
    _write_atomically(os.fspath(path), doc)


def _architecture(model: MLP) -> dict[str, Any]:
    if not isinstance(model, MLP):
        raise TypeError(f"checkpoints hold an MLP (its file records the MLP's architecture), "
                        f"got {type(model).__name__}")
    return model.architecture()


def _write_atomically(path: str, doc: dict[str, Any]) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    temp = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(4)}.tmp")
    file = open(temp, "x", encoding="utf-8")  # "x": never reuse a file someone else made
    try:
        with file:
            json.dump(doc, file, indent=1)
            file.write("\n")
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temp)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: str) -> None:
    """Make the rename itself survive a power cut (POSIX; Windows cannot open a directory)."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------- load


def load(model: MLP, path: PathLike) -> None:
    """Set `model`'s parameters from a file written by save() for the same architecture.

    The whole file is checked first -- format, version, architecture, parameter names and
    count, finite numbers -- and on any problem CheckpointError names the file and the
    problem, leaving the model untouched.
    """
    architecture, parameters = _read(path)
    expected = _architecture(model)
    # Compared as JSON text, so 1 and true, or 2 and 2.0, count as different.
    differ = [key for key in _ARCHITECTURE_KEYS
              if json.dumps(architecture[key]) != json.dumps(expected[key])]
    if differ:
        shown = "; ".join(f"{key}={architecture[key]!r} in the file, {expected[key]!r} "
                          f"in the model" for key in differ)
        raise CheckpointError(f"{os.fspath(path)}: architecture does not match: {shown}")
    _load_parameters(model, parameters, path)


def load_mlp(path: PathLike) -> MLP:
    """A new MLP rebuilt from a file written by save(), with the saved parameters."""
    architecture, parameters = _read(path)
    count = _parameter_count(architecture)
    if count is not None and count != len(parameters):
        raise CheckpointError(f"{os.fspath(path)}: the architecture has {count} parameters, "
                              f"the file holds {len(parameters)}")
    try:
        model = MLP(**architecture)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{os.fspath(path)}: invalid architecture: {exc}") from None
    _load_parameters(model, parameters, path)
    return model


def _parameter_count(architecture: dict[str, Any]) -> int | None:
    """Weights and biases the architecture implies; None if its sizes are not valid (then
    MLP() says why). Checked before building, so a corrupt size cannot make a huge model.
    """
    nouts = architecture["nouts"]
    sizes = [architecture["nin"], *nouts] if isinstance(nouts, list) and nouts else []
    if not sizes or not all(type(n) is int and n > 0 for n in sizes):
        return None
    return sum((n_in + 1) * n_out for n_in, n_out in zip(sizes, sizes[1:]))


def _load_parameters(model: MLP, parameters: dict[str, Any], path: PathLike) -> None:
    try:
        model.load_state_dict(parameters)  # checks every name and value before setting any
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{os.fspath(path)}: {exc}") from None


def _read(path: PathLike) -> tuple[dict[str, Any], dict[str, Any]]:
    """The architecture and parameters of a checkpoint file, after checking its layout."""
    where = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as file:
            doc = json.load(file, object_pairs_hook=_unique_keys)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, a duplicate key
        raise CheckpointError(f"{where}: not valid checkpoint JSON (truncated, or not "
                              f"written by save()?): {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise CheckpointError(f"{where}: not a micrograd_ann checkpoint "
                              f"(no \"format\": \"{FORMAT}\")")
    version = doc.get("version")
    if type(version) is not int or version != VERSION:
        newer = " (written by a newer micrograd_ann?)" if type(version) is int else ""
        raise CheckpointError(f"{where}: format version {version!r}{newer}; "
                              f"this micrograd_ann reads version {VERSION}")
    _check_keys(where, "the file", doc, _KEYS)
    _check_keys(where, "\"architecture\"", doc["architecture"], _ARCHITECTURE_KEYS)
    if not isinstance(doc["parameters"], dict):
        raise CheckpointError(f"{where}: \"parameters\" must be an object of name: number, "
                              f"got {type(doc['parameters']).__name__}")
    return doc["architecture"], doc["parameters"]


def _check_keys(where: str, what: str, obj: object, keys: tuple[str, ...]) -> None:
    if not isinstance(obj, dict):
        raise CheckpointError(f"{where}: {what} must be a JSON object, got {type(obj).__name__}")
    missing = [key for key in keys if key not in obj]
    extra = [key for key in obj if key not in keys]
    if missing or extra:
        raise CheckpointError(f"{where}: {what} must have exactly the keys {', '.join(keys)}; "
                              f"missing: {missing}, unexpected: {extra}")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json's object hook: a repeated key is an error, not 'the last one wins'."""
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {key!r}")
        seen.add(key)
    return dict(pairs)
