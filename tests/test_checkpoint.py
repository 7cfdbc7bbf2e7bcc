"""State dicts and checkpoint files: exact round trips, atomic writes, and loads that
reject every kind of damaged or hostile file quickly, without touching the model."""

from __future__ import annotations

import json
import math
import os
import random
import re
import threading
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from helpers import assert_file_error, edited_bytes, value_replaced

from micrograd_ann import MLP, Value, checkpoint, training
from micrograd_ann.checkpoint import MAX_BYTES, CheckpointError
from micrograd_ann.limits import MAX_PARAMETERS
from micrograd_ann.nn import IncompatibleKeys, Layer


def _model(seed: int = 0) -> MLP:
    return MLP(2, [3, 1], activation="tanh", output_activation="sigmoid", seed=seed)


@pytest.fixture
def saved(tmp_path):
    """A checkpoint of _model(0) on disk: (path, the model)."""
    model = _model(0)
    path = tmp_path / "model.json"
    checkpoint.save(model, path)
    return path, model


# --------------------------------------------------------------------- state dicts


def test_state_dict_names_and_values_follow_named_parameters():
    model = _model()
    state = model.state_dict()
    assert list(state) == [name for name, _ in model.named_parameters()]
    assert list(state.values()) == [p.data for p in model.parameters()]
    assert len(state) == 3 * 3 + 1 * 4
    assert list(state)[:3] == ["layers.0.neurons.0.w.0", "layers.0.neurons.0.w.1",
                               "layers.0.neurons.0.b"]


def test_load_state_dict_copies_values_and_keeps_gradients():
    source, target = _model(1), _model(2)
    target.parameters()[0].grad = 0.25
    assert target.load_state_dict(source.state_dict()) == IncompatibleKeys([], [])
    assert target.state_dict() == source.state_dict()
    assert target.parameters()[0].grad == 0.25
    assert target([0.3, -0.7]).data == source([0.3, -0.7]).data


def test_load_state_dict_strict_lists_missing_and_unexpected_and_changes_nothing():
    target = _model(2)
    before = target.state_dict()
    state = _model(1).state_dict()
    del state["layers.1.neurons.0.b"]
    state["layers.9.w.0"] = 1.0
    with pytest.raises(ValueError, match=r"13 values for 13 parameters; "
                                         r"missing: layers\.1\.neurons\.0\.b; "
                                         r"unexpected: layers\.9\.w\.0"):
        target.load_state_dict(state)
    assert target.state_dict() == before


def test_load_state_dict_not_strict_loads_the_shared_names():
    target = _model(2)
    state = {"layers.1.neurons.0.b": 0.5, "extra": 1.0}
    result = target.load_state_dict(state, strict=False)
    assert result.unexpected_keys == ["extra"]
    assert len(result.missing_keys) == 12
    assert target.layers[1].neurons[0].b.data == 0.5


@pytest.mark.parametrize("value, error, message", [
    (math.nan, ValueError, "is nan"),
    (math.inf, ValueError, "is inf"),
    ("0.5", TypeError, "must be a number, got str"),
    (None, TypeError, "must be a number, got NoneType"),
    (True, TypeError, "must be a number, got bool"),
])
def test_load_state_dict_rejects_bad_values_before_changing_anything(value, error, message):
    target = _model(2)
    before = target.state_dict()
    state = _model(1).state_dict()
    state["layers.1.neurons.0.b"] = value  # the last parameter: all others were fine
    with pytest.raises(error, match=rf"parameter layers\.1\.neurons\.0\.b {message}"):
        target.load_state_dict(state)
    assert target.state_dict() == before


def test_load_state_dict_needs_a_mapping():
    with pytest.raises(TypeError, match="mapping of name -> number, got list"):
        _model().load_state_dict([("layers.0.neurons.0.w.0", 1.0)])


# ------------------------------------------------------------------- save and load


def test_round_trip_is_exact_and_rebuilds_the_architecture(saved):
    path, model = saved
    doc = json.loads(path.read_text())
    assert doc["format"] == "micrograd_ann.checkpoint"
    assert doc["version"] == 1
    assert doc["architecture"] == {"nin": 2, "nouts": [3, 1], "activation": "tanh",
                                   "output_activation": "sigmoid"}
    rebuilt = MLP.from_file(path)
    assert rebuilt.state_dict() == model.state_dict()  # bit for bit: floats via repr
    assert repr(rebuilt) == repr(model)
    assert rebuilt([0.3, -0.7]).data == model([0.3, -0.7]).data


def test_load_into_a_model_of_the_same_architecture(saved):
    path, model = saved
    target = _model(5)
    checkpoint.load(target, path)
    assert target.state_dict() == model.state_dict()


def test_mlp_save_writes_the_same_file_as_checkpoint_save(saved, tmp_path):
    path, model = saved
    model.save(tmp_path / "again.json")
    assert (tmp_path / "again.json").read_bytes() == path.read_bytes()


def test_save_overwrites_and_works_with_a_bare_file_name(saved, tmp_path, monkeypatch):
    path, _ = saved
    monkeypatch.chdir(tmp_path)
    checkpoint.save(_model(7), "model.json")
    assert MLP.from_file(path).state_dict() == _model(7).state_dict()
    assert sorted(os.listdir(tmp_path)) == ["model.json"]


def test_save_refuses_non_finite_parameters_and_leaves_the_old_file(saved):
    path, _ = saved
    old = path.read_bytes()
    model = _model(3)
    model.layers[0].neurons[1].b.data = math.nan
    with pytest.raises(ValueError, match=r"non-finite.*1 of them, e\.g\. "
                                         r"layers\.0\.neurons\.1\.b = nan"):
        checkpoint.save(model, path)
    assert path.read_bytes() == old


def test_only_mlps_are_saved(tmp_path):
    with pytest.raises(TypeError, match=r"checkpoints hold a model that reports its "
                                        r"architecture\(\) \(an MLP\), got Layer"):
        checkpoint.save(Layer(2, 3, seed=0), tmp_path / "layer.json")
    assert os.listdir(tmp_path) == []


def test_a_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        MLP.from_file(tmp_path / "nope.json")


# ---------------------------------------------------------------- atomic writing
# How files.write_atomic behaves is tested in test_files.py; here, that save() uses it.


def _fail(*args, **kwargs):
    raise OSError(5, "Input/output error")


def test_a_failed_save_leaves_the_old_file_and_no_temp_file(saved, monkeypatch):
    path, _ = saved
    old = path.read_bytes()
    monkeypatch.setattr("micrograd_ann.files.os.replace", _fail)
    with pytest.raises(OSError, match="Input/output error") as info:
        checkpoint.save(_model(9), path)
    monkeypatch.undo()
    assert info.value.filename == str(path)
    assert path.read_bytes() == old
    assert os.listdir(path.parent) == ["model.json"]
    assert MLP.from_file(path).state_dict() == _model(0).state_dict()


def test_a_failed_first_save_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr("micrograd_ann.files.os.fsync", _fail)
    with pytest.raises(OSError, match="Input/output error"):
        checkpoint.save(_model(), tmp_path / "model.json")
    assert os.listdir(tmp_path) == []


# -------------------------------------------------------------- damaged files


def _edit(path, change) -> None:
    """Rewrite the checkpoint at `path` after `change(doc)` edits its JSON object."""
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


def _holder(doc: dict, keys: tuple) -> dict:
    """The object that holds keys[-1]: doc[keys[0]][keys[1]]... down to the last key."""
    for key in keys[:-1]:
        doc = doc[key]
    return doc


def _set(*keys_and_value):
    """A change setting doc[k0][k1]...[kn] = value, for _edit."""
    *keys, value = keys_and_value

    def change(doc):
        _holder(doc, keys)[keys[-1]] = value

    return change


def _delete(*keys):
    """A change deleting doc[k0][k1]...[kn], for _edit."""
    def change(doc):
        del _holder(doc, keys)[keys[-1]]

    return change


LAST = "layers.1.neurons.0.b"  # a bad last value must not leave the others loaded

DAMAGED = {
    "wrong_format": (_set("format", "something.else"), "not a micrograd_ann checkpoint"),
    "newer_version": (_set("version", 2), r"version 2 \(written by a newer"),
    "version_as_text": (_set("version", "1"), "format version '1'; this micrograd_ann"),
    "version_as_bool": (_set("version", True), "format version True;"),
    "missing_key": (_delete("architecture"), r"missing \['architecture'\]"),
    "extra_key": (_set("comment", "hi"), r"unexpected \['comment'\]"),
    "architecture_not_object": (_set("architecture", [2, [3, 1]]), "expected an object"),
    "architecture_missing_key": (_delete("architecture", "activation"),
                                 r"missing \['activation'\]"),
    "architecture_extra_key": (_set("architecture", "fused", True),
                               r"unexpected \['fused'\]"),
    "parameters_not_object": (_set("parameters", [0.1, 0.2]), "must be an object"),
    "missing_parameter": (_delete("parameters", LAST), rf"missing: {LAST}"),
    "extra_parameter": (_set("parameters", "layers.2.neurons.0.b", 0.0),
                        r"unexpected: layers\.2\.neurons\.0\.b"),
    "nan": (_set("parameters", LAST, math.nan), rf"parameter {LAST} must be a finite number, "
                                                 r"got nan"),
    "infinity": (_set("parameters", LAST, -math.inf), r"must be a finite number, got -inf"),
    "huge_integer": (_set("parameters", LAST, -10**400), r"must be a finite number, got -inf"),
    "unprintable_name": (_set("parameters", "x\ud800", 0.0),
                         r"parameter name 'x\\ud800' is not printable text"),
    "text_value": (_set("parameters", LAST, "0.5"), "must be a number, got str"),
    "null_value": (_set("parameters", LAST, None), "must be a number, got NoneType"),
}


@pytest.mark.parametrize("case", DAMAGED, ids=str)
def test_a_damaged_file_is_rejected_and_the_model_untouched(saved, case):
    path, _ = saved
    change, message = DAMAGED[case]
    _edit(path, change)
    target = _model(4)
    before = target.state_dict()
    with pytest.raises(CheckpointError, match=message) as info:
        checkpoint.load(target, path)
    assert str(info.value).startswith(str(path))
    assert target.state_dict() == before
    with pytest.raises(CheckpointError, match="^" + re.escape(str(path))):  # may fail on the count
        MLP.from_file(path)


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 0.9, None], ids=str)
def test_a_truncated_file_is_rejected(saved, fraction):
    path, _ = saved
    data = path.read_bytes().rstrip()
    keep = len(data) - 1 if fraction is None else int(len(data) * fraction)  # None: "}" lost
    path.write_bytes(data[:keep])
    target = _model(4)
    before = target.state_dict()
    with pytest.raises(CheckpointError, match="not valid checkpoint JSON"):
        checkpoint.load(target, path)
    assert target.state_dict() == before


@pytest.mark.parametrize("content, message", [
    (b"\x89PNG\r\n\x1a\n\x00\x00", "not valid checkpoint JSON"),
    (b"{'format': 1}", "not valid checkpoint JSON"),
    (b"[1, 2, 3]", "not a micrograd_ann checkpoint"),
    (b'{"a": 1, "a": 2}', "duplicate key 'a'"),
], ids=["binary", "python_repr", "json_list", "duplicate_key"])
def test_files_that_are_not_checkpoints(tmp_path, content, message):
    path = tmp_path / "x.json"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message):
        MLP.from_file(path)


def test_a_huge_number_in_the_file_is_rejected_as_infinite(saved):
    path, _ = saved
    text = path.read_text()
    value = repr(_model(0).state_dict()[LAST])
    path.write_text(text.replace(f'"{LAST}": {value}', f'"{LAST}": 1e999'))
    with pytest.raises(CheckpointError, match=rf"parameter {LAST} must be a finite number, "
                                              r"got inf"):
        checkpoint.load(_model(4), path)


@pytest.mark.parametrize("key, value, message", [
    ("nouts", [3, 2], r"nouts=\[3, 2\] in the file, \[3, 1\] in the model"),
    ("activation", "relu", "activation='relu' in the file, 'tanh' in the model"),
    ("nin", 2.0, "nin=2.0 in the file, 2 in the model"),
])
def test_a_different_architecture_is_rejected(saved, key, value, message):
    path, _ = saved
    _edit(path, _set("architecture", key, value))
    target = _model(4)
    before = target.state_dict()
    with pytest.raises(CheckpointError, match=message):
        checkpoint.load(target, path)
    assert target.state_dict() == before


def test_from_file_checks_the_parameter_count_before_building(saved):
    path, _ = saved
    _edit(path, _set("architecture", "nouts", [10**9, 1]))  # would never finish building
    with pytest.raises(CheckpointError, match="has 4,000,000,001 parameters, more than the "
                                              "200,000 a checkpoint may hold"):
        MLP.from_file(path)
    _edit(path, _set("architecture", "nouts", [1000, 1]))
    with pytest.raises(CheckpointError, match="has 4001 parameters, the file holds 13"):
        MLP.from_file(path)


@pytest.mark.parametrize("key, value, message", [
    ("nin", True, "nin must be an int, got bool True"),
    ("nouts", [], "nouts must list at least one layer size"),
    ("activation", "swish", "unknown activation 'swish'; choose one of relu, tanh"),
    ("activation", ["relu"], r"unknown activation \['relu'\]"),
    ("nouts", 3, "nouts must list at least one layer size, e.g. .*, got 3"),
])
def test_from_file_rejects_an_invalid_architecture(saved, key, value, message):
    path, _ = saved
    _edit(path, _set("architecture", key, value))
    with pytest.raises(CheckpointError, match=rf"invalid architecture: .*{message}"):
        MLP.from_file(path)


def test_value_is_not_a_model(tmp_path):
    with pytest.raises(TypeError, match="got Value"):
        checkpoint.save(Value(1.0), tmp_path / "v.json")


# -------------------------------------------------------------- hostile files


def _refused_quickly(path, message: str) -> None:
    """Both loaders raise CheckpointError(message) naming `path`, within a second and a few
    MB of memory, and checkpoint.load leaves the model as it was. A loader stuck in open()
    or read() (a FIFO, /dev/zero) fails the test instead of hanging it."""
    target = _model(4)
    before = target.state_dict()
    for load in (lambda: checkpoint.load(target, path), lambda: MLP.from_file(path)):
        outcome: list[BaseException | None] = []

        def run(load=load):
            try:
                load()
                outcome.append(None)
            except BaseException as exc:  # noqa: BLE001 - handed to the test thread
                outcome.append(exc)

        tracemalloc.start()
        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        worker.join(60)  # a hang guard only: refused files take microseconds
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert outcome, f"loading {path} did not finish"
        assert isinstance(outcome[0], CheckpointError), outcome[0]
        assert str(outcome[0]).startswith(f"{path}: ")
        assert re.search(message, str(outcome[0])), str(outcome[0])
        assert peak < 8 * 2**20, peak  # refused before it is read: no file-sized buffer
    assert target.state_dict() == before


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    os.mkfifo(tmp_path / "model.json")
    _refused_quickly(tmp_path / "model.json", "it is a FIFO, not a regular file")


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_a_symlink_to_dev_zero_is_refused_without_reading(tmp_path):
    (tmp_path / "model.json").symlink_to("/dev/zero")
    _refused_quickly(tmp_path / "model.json", "it is a character device, not a regular file")


def test_a_directory_is_refused(tmp_path):
    (tmp_path / "model.json").mkdir()
    _refused_quickly(tmp_path / "model.json", "it is a directory, not a regular file")


def test_a_file_larger_than_any_checkpoint_is_refused_before_reading(tmp_path):
    path = tmp_path / "model.json"
    with open(path, "wb") as file:
        file.truncate(MAX_BYTES + 1)  # sparse: takes no disk space
    _refused_quickly(path, f"larger than ({MAX_BYTES:,} bytes, the most any checkpoint may "
                           r"take \(checkpoint\.MAX_BYTES\)|67,200 bytes)")


def test_the_byte_limit_is_what_the_largest_model_train_builds_may_take():
    assert MAX_PARAMETERS == training.MAX_PARAMETERS
    assert MAX_BYTES == 64 * 2**10 + 128 * MAX_PARAMETERS < 50_000_000


def test_a_50_mb_file_is_refused_by_from_file_without_reading_it(tmp_path):
    # from_file used to read and parse it all (~560 MB resident) before refusing it
    path = tmp_path / "model.json"
    with open(path, "wb") as file:
        file.write(b'{"format": "micrograd_ann.checkpoint", "version": 1, "parameters": {')
        file.truncate(50_000_000)
    _refused_quickly(path, "larger than")


def test_an_architecture_beyond_the_limit_is_refused_before_building(tmp_path):
    # a file whose parameter count matches its architecture used to build the model first
    nin = MAX_PARAMETERS  # and a bias: one too many
    architecture = {"nin": nin, "nouts": [1], "activation": "relu",
                    "output_activation": "linear"}
    parameters = {f"p{i}": 0.0 for i in range(nin + 1)}
    path = tmp_path / "model.json"
    path.write_text(json.dumps({"format": checkpoint.FORMAT, "version": checkpoint.VERSION,
                                "architecture": architecture, "parameters": parameters}))
    with pytest.raises(CheckpointError, match=f"the architecture has {nin + 1:,} parameters, "
                                              f"more than the {MAX_PARAMETERS:,} a checkpoint "
                                              "may hold"):
        MLP.from_file(path)


def test_save_refuses_a_model_it_could_not_read_back(tmp_path):
    architecture = {"nin": MAX_PARAMETERS, "nouts": [1], "activation": "relu",
                    "output_activation": "linear"}
    parameters = {f"p{i}": 0.0 for i in range(MAX_PARAMETERS + 1)}
    with pytest.raises(ValueError, match=f"cannot save a model of {MAX_PARAMETERS + 1:,} "
                                         f"parameters: a checkpoint holds at most "
                                         f"{MAX_PARAMETERS:,}"):
        checkpoint.write(tmp_path / "big.json", architecture, parameters)
    assert not list(tmp_path.iterdir())


def test_a_file_larger_than_the_model_needs_is_refused_by_load(saved):
    path, model = saved
    text = path.read_text()
    path.write_text(text[:-2] + " " * 100_000 + text[-2:])  # valid JSON, padded
    assert MLP.from_file(path).state_dict() == model.state_dict()  # within MAX_BYTES
    limit = 64 * 2**10 + 128 * len(model.state_dict())
    with pytest.raises(CheckpointError, match=rf"larger than {limit:,} bytes, the most a "
                                              r"checkpoint of a 13-parameter model takes"):
        checkpoint.load(_model(4), path)


def test_json_nested_100_000_deep_is_refused(tmp_path):
    path = tmp_path / "model.json"
    path.write_text('{"format": ' + "[" * 100_000 + "]" * 100_000 + "}")
    _refused_quickly(path, "nested too deeply|larger than")


def test_a_400_digit_integer_parameter_is_refused_as_not_finite(saved):
    path, _ = saved
    _edit(path, _set("parameters", LAST, int("9" * 400)))
    _refused_quickly(path, rf"parameter {LAST} must be a finite number, got inf")


def test_a_400_digit_layer_size_is_an_invalid_architecture(saved):
    path, _ = saved
    _edit(path, _set("architecture", "nin", int("9" * 400)))
    with pytest.raises(CheckpointError, match="invalid architecture: nin must be an int, "
                                              "got float inf"):
        MLP.from_file(path)


def test_a_huge_size_before_a_bad_one_builds_nothing(saved):
    # the fuzz test's find: MLP() used to build the first layer before checking the second
    path, _ = saved
    _edit(path, _set("architecture", "nouts", [275_292_644_499, {"": -3433}]))
    with pytest.raises(CheckpointError, match=r"invalid architecture: nouts\[1\] must be an "
                                              "int, got dict"):
        MLP.from_file(path)


def test_text_that_is_not_utf8_is_refused(tmp_path):
    path = tmp_path / "model.json"
    path.write_bytes(b'{"format": "\xff"}')
    with pytest.raises(CheckpointError, match="not UTF-8 text: invalid start byte at byte 12"):
        MLP.from_file(path)


def test_read_gives_the_checked_content_as_plain_data(saved):
    path, model = saved
    content = checkpoint.read(path)
    assert content.path == str(path)
    assert content.architecture == model.architecture()
    assert content.parameters == model.state_dict()
    checkpoint.write(path, content.architecture, {**content.parameters, LAST: 0.5})
    assert MLP.from_file(path).layers[1].neurons[0].b.data == 0.5


# ---------------------------------------------------------------------- fuzzing
# Random bytes, random edits of a real checkpoint, and real checkpoints with random JSON
# in one place: loading either succeeds or raises CheckpointError with a one-line message
# that can be printed; nothing else escapes, and a failed load changes nothing.

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10**30, 10**30) | st.sampled_from([10**400])
    | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=12)
PLACES = [("format",), ("version",), ("architecture",), ("parameters",), ("extra",),
          ("architecture", "nin"), ("architecture", "nouts"), ("architecture", "activation"),
          ("parameters", LAST), ("parameters", "layers.0.neurons.0.w.0")]


def _saved_text() -> str:
    return json.dumps({"format": checkpoint.FORMAT, "version": checkpoint.VERSION,
                       "architecture": _model(0).architecture(),
                       "parameters": _model(0).state_dict()}, indent=1)


@st.composite
def damaged_files(draw) -> bytes:
    kind = draw(st.sampled_from(["bytes", "edits", "json", "sizes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=400))
    if kind == "sizes":  # around the parameter limit: refused before anything is built
        doc = json.loads(_saved_text())
        doc["architecture"]["nin"] = draw(st.integers(1, 2 * MAX_PARAMETERS))
        doc["architecture"]["nouts"] = draw(st.lists(st.integers(1, 10**6), min_size=1,
                                                     max_size=3))
        return json.dumps(doc).encode()
    if kind == "edits":
        return edited_bytes(draw, _saved_text(), st.binary(max_size=4) | st.sampled_from(
            [b"[", b"{", b'"', b"-", b"e9"]))
    return value_replaced(draw, _saved_text(), PLACES, JSON)


@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=damaged_files())
def test_fuzz_only_checkpoint_errors_escape(tmp_path, content):
    path = tmp_path / "fuzz.json"
    path.write_bytes(content)
    target = _model(4)
    before = target.state_dict()
    for load in (lambda: checkpoint.load(target, path), lambda: MLP.from_file(path)):
        try:
            load()
        except CheckpointError as exc:
            assert_file_error(exc, path)
            assert target.state_dict() == before


def test_from_file_leaves_pythons_global_random_alone(saved):
    path, _ = saved
    random.seed(3)
    expected = random.random()
    random.seed(3)
    MLP.from_file(path)
    assert random.random() == expected
