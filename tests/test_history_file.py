"""The history file format: every field checked before anything is built, one-line errors
naming the file and the field, limits derived from train's, and what save() writes always
loading back -- at the largest size train allows too."""

from __future__ import annotations

import base64
import json
import math
import os
import random
import re
import struct
import threading
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from helpers import assert_file_error, edited_bytes, value_replaced

from micrograd_ann import MLP, history_file, training
from micrograd_ann.history import History, HistoryError
from micrograd_ann.history_file import MAX_BYTES, MAX_FRAME_BYTES
from micrograd_ann.limits import MAX_PARAMETERS, MAX_SAMPLES
from micrograd_ann.views import replay
from test_history import POINTS, TEST, bce, hand_built, run


@pytest.fixture(scope="module")
def recorded() -> History:
    """A relu MLP(2, [4, 1]) with dead units, 3 epochs, every one recorded: layer stats."""
    return run(hand_built("relu", [1.0, -1.0, 2.0, -0.5]), epochs=3, lr=0.05, record_every=1)


def _write(tmp_path, doc, name: str = "history.json"):
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def _refused(path, message: str) -> str:
    """History.load(path) raises HistoryError: one line, naming the file, matching."""
    with pytest.raises(HistoryError) as caught:
        History.load(path)
    text = str(caught.value)
    assert text.startswith(f"{path}: ") and "\n" not in text, text
    assert message in text, text
    return text


def _params(values) -> str:
    return base64.b64encode(struct.pack(f"<{len(values)}d", *values)).decode()


# ------------------------------------------------------------- the files


def test_a_291_byte_file_declaring_a_huge_layer_is_refused_before_building(tmp_path):
    doc = {"format": history_file.FORMAT, "version": history_file.VERSION,
           "architecture": {"nin": 100_000, "nouts": [100_000, 1], "activation": "relu",
                            "output_activation": "linear"},
           "record_every": 1, "epochs": 1, "info": {}, "saturation": 0.97, "leaky_slope": 0.01,
           "train": [[[0.0], 0]], "test": [], "frames": []}
    path = _write(tmp_path, doc)
    assert os.path.getsize(path) < 400
    tracemalloc.start()
    _refused(path, "architecture: MLP(100000, [100000, 1]) has 10,000,200,001 parameters; "
                   "a history holds at most 200,000")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 4 * 2**20, peak  # refused before building: it used to build until MemoryError


LAYER = ("frames", 1, "layers", 0)


def _at(doc, *keys):
    for key in keys:
        doc = doc[key]
    return doc


BAD_FIELDS = [
    # what the issue found loading, then making the page hang or throw
    (lambda d: d.update(frames=[]), "frames: empty; a history holds at least epoch 0"),
    (lambda d: _at(d, *LAYER, "activations", "counts").__setitem__(3, "7"),
     "frames[1].layers[0].activations.counts[3]: expected an int, got '7'"),
    (lambda d: _at(d, *LAYER, "gradients", "counts").__setitem__(0, 2.5),
     "frames[1].layers[0].gradients.counts[0]: expected an int, got 2.5"),
    (lambda d: d["train"][0].__setitem__(1, 10**7),
     "train[0] class: 10000000, expected 0 to 1"),
    (lambda d: d["test"][1].__setitem__(1, -1), "test[1] class: -1, expected 0 to 1"),
    (lambda d: d["train"][2].__setitem__(0, [0.5]),
     "train[2]: expected 2 inputs (the model's nin), got [0.5]"),
    (lambda d: d["test"][0].__setitem__(0, [0.5, 1.0, 2.0]),
     "test[0]: expected 2 inputs (the model's nin), got [0.5, 1.0, 2.0]"),
    (lambda d: d["train"][1][0].__setitem__(1, "1"),
     "train[1] input 1: expected a number, got '1'"),
    (lambda d: d["train"][1][0].__setitem__(0, 10**400), "train[1] input 0: inf is not a finite"),
    # and every other field
    (lambda d: d.update(version=1), "version: 1, written by another micrograd_ann; this one "
                                    "reads version 2"),
    (lambda d: d.update(version=3), "written by newer micrograd_ann"),
    (lambda d: d.update(extra=1), "the file: missing [], unexpected ['extra']"),
    (lambda d: d["architecture"].update(activation="gelu"),
     "architecture.activation: 'gelu', not one of relu, "),
    (lambda d: d["architecture"].update(nouts=[4, 0]),
     "architecture.nouts[1]: 0, expected 1 to 200,000"),
    (lambda d: d["architecture"].update(nin=True), "architecture.nin: expected an int, got True"),
    (lambda d: d.update(record_every=0), "record_every: 0, expected 1 or more"),
    (lambda d: d.update(epochs="3"), "epochs: expected an int, got '3'"),
    (lambda d: d.update(info=[]), "info: expected a dict of JSON data, got list"),
    (lambda d: d.update(saturation=2), "saturation: 2.0, expected 0 to 1"),
    (lambda d: d.update(train=[]), "train: no samples; a history needs at least one"),
    (lambda d: d["frames"][1].update(epoch=0), "frames[1].epoch: 0, expected 1 or more"),
    (lambda d: d["frames"][0].update(epoch=2), "frames[0].epoch: 2; the first frame is epoch 0"),
    (lambda d: d["frames"][2].update(train_accuracy=1.5),
     "frames[2].train_accuracy: 1.5, expected 0 to 1"),
    (lambda d: d["frames"][2].update(test_loss=[]), "frames[2].test_loss: expected a number"),
    (lambda d: d["frames"][1].update(params=_params([math.nan] * 17)),
     "frames[1].params: parameter 0 is nan; every parameter must be finite"),
    (lambda d: d["frames"][1].update(params="!" * 184), "frames[1].params: not base64 text"),
    (lambda d: d["frames"][1].update(params=[0.0] * 17),
     "frames[1].params: expected base64 text, got list"),
    (lambda d: d["frames"][1].update(test_predictions=[0]),
     "frames[1].test_predictions: 1 for 2 test samples"),
    (lambda d: d["frames"][1].update(test_predictions=[0, 2]),
     "frames[1].test_predictions[1]: 2, expected 0 to 1"),
    (lambda d: d["frames"][1].update(layers=[]), "frames[1].layers: 0 layers, the architecture "
                                                 "has 2"),
    (lambda d: _at(d, *LAYER).update(dead=[3, 1]), "frames[1].layers[0].dead[1]: 1, expected 4 "
                                                   "to 3"),
    (lambda d: _at(d, *LAYER).update(dead=[4]), "frames[1].layers[0].dead[0]: 4, expected 0 to 3"),
    (lambda d: _at(d, "frames", 1, "layers", 1).update(dead=[0]),
     "frames[1].layers[1].dead: a list for a linear layer"),
    (lambda d: _at(d, *LAYER, "activations").update(lo=1.0, hi=0.0),
     "frames[1].layers[0].activations.hi: 0.0, expected 1 to inf"),
    (lambda d: _at(d, *LAYER, "activations", "counts").pop(), "counts: 19 bins, not 20"),
    (lambda d: _at(d, *LAYER).update(flat=-0.5), "frames[1].layers[0].flat: -0.5, expected 0"),
    (lambda d: _at(d, *LAYER).update(grad_norm=-1), "frames[1].layers[0].grad_norm: -1.0"),
    (lambda d: _at(d, *LAYER).pop("update_ratio"),
     "frames[1].layers[0]: missing ['update_ratio']"),
]


@pytest.mark.parametrize("change, message", BAD_FIELDS, ids=range(len(BAD_FIELDS)))
def test_every_field_is_checked_and_named(tmp_path, recorded, change, message):
    doc = json.loads(json.dumps(recorded.to_dict()))
    change(doc)
    _refused(_write(tmp_path, doc), message)


def test_the_fixture_itself_loads(tmp_path, recorded):
    again = History.load(recorded.save(tmp_path / "h.json"))
    assert again.frames == recorded.frames and again.to_dict() == recorded.to_dict()


@pytest.mark.parametrize("text, message", [
    ('{"format": NaN}', "not valid JSON: NaN is not JSON"),
    ('{"format": Infinity}', "not valid JSON: Infinity is not JSON"),
    ("[" * 1_000_000 + "]" * 1_000_000, "not a history: more lists and objects than any "
                                         "history holds"),
    ("[" * 5_000 + "]" * 5_000, "not valid JSON: nested too deeply"),
    ("[" + "0," * 8_000_000 + "0]", "not valid JSON: more numbers than any history holds"),
    ('{"a": 1', "not valid JSON: Expecting ',' delimiter"),
    ("[]", "the file: expected an object, got []"),
])
def test_json_that_is_no_history_is_refused(tmp_path, text, message):
    path = tmp_path / "h.json"
    path.write_text(text)
    _refused(path, message)


def test_text_that_is_not_utf8_is_refused(tmp_path):
    path = tmp_path / "h.json"
    path.write_bytes(b'{"format": "\xff"}')
    _refused(path, "not valid JSON (not UTF-8 text: invalid start byte at byte 12)")


def _refused_quickly(path, message: str) -> None:
    outcome: list[BaseException | None] = []

    def load():
        try:
            History.load(path)
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome.append(exc)

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(5)
    assert outcome and isinstance(outcome[0], HistoryError), outcome
    assert str(outcome[0]) == f"{path}: not a history: {message}"


def test_a_file_larger_than_any_history_is_refused_before_reading(tmp_path):
    path = tmp_path / "h.json"
    with open(path, "wb") as file:
        file.truncate(MAX_BYTES + 1)  # sparse
    _refused_quickly(path, f"it is larger than {MAX_BYTES:,} bytes (history_file.MAX_BYTES)")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_fifo_is_refused_without_waiting(tmp_path):
    os.mkfifo(tmp_path / "h.json")
    _refused_quickly(tmp_path / "h.json", "it is a FIFO, not a regular file")


# ------------------------------------------------------------------- the limits


def test_the_limits_come_from_trains():
    assert MAX_PARAMETERS == training.MAX_PARAMETERS and MAX_SAMPLES == training.MAX_SAMPLES
    # 21 frames (what train records by default) of the largest model train builds, with
    # its largest test set (a fifth of MAX_SAMPLES) and a few wide layers, fit
    largest = history_file.frame_bytes(MAX_PARAMETERS, MAX_SAMPLES // 5, [440, 440, 1])
    assert (history_file.FRAMES + 1) * largest <= MAX_FRAME_BYTES
    assert MAX_BYTES < 64 * 2**20


@pytest.fixture(scope="module")
def largest_run() -> History:
    """A run train allows at its limit: MLP(2, [440, 440, 1]), 195,801 parameters, 21
    frames (the steps themselves replaced by small random moves, for speed)."""
    data = [([math.cos(i), math.sin(3 * i)], i % 2) for i in range(100)]
    model = MLP(2, [440, 440, 1], seed=0)
    history = History(model, data[:80], data[80:], loss_fn=bce, epochs=100)
    rng = random.Random(0)
    for epoch in range(5, 101, 5):
        previous = history.frames[-1]
        history.frames.append(previous._replace(
            epoch=epoch, params=[p + rng.gauss(0, 1e-3) for p in previous.params]))
    return history


def test_the_largest_run_train_allows_saves_under_the_limit_and_loads_back(largest_run,
                                                                         tmp_path):
    # It saved 83 MB and History.load refused its own file (> 64 MiB).
    assert len(largest_run.names) == 195_801 and len(largest_run.frames) == 21
    path = largest_run.save(tmp_path / "history.json")
    assert 40e6 < os.path.getsize(path) < MAX_BYTES
    again = History.load(path)
    assert [f.params for f in again.frames] == [f.params for f in largest_run.frames]  # exact
    assert again.frames == largest_run.frames


def test_the_largest_runs_page_is_bounded_and_says_what_it_leaves_out(largest_run):
    # It was ~880 bytes per parameter: 172 MB, and minutes to write.
    page = replay.to_html(largest_run)
    assert len(page.encode("utf-8")) < 25e6
    found = re.search(r'<script type="application/json" id="rp-data">(.*?)</script>', page)
    data = json.loads(found.group(1))
    shown = [f["epoch"] for f in data["frames"]]
    assert shown[0] == 0 and shown[-1] == 100 and 2 <= len(shown) < 21
    assert all(f["params"] == largest_run.frames[f["epoch"] // 5].params for f in data["frames"])
    assert data["note"] == (f"This page shows {len(shown)} of the 21 recorded epochs and the "
                            f"4,999 largest of 194,920 weights, to stay small; history.json "
                            f"holds them all.")
    assert page.count("<line data-neuron=") == 4_999


def test_a_long_run_thins_its_frames_to_stay_within_the_limit(monkeypatch):
    model = MLP(2, [3, 1], seed=0)
    each = history_file.frame_bytes(13, len(TEST), [3, 1])
    monkeypatch.setattr(history_file, "MAX_FRAME_BYTES", 5 * each)  # 5 frames at most
    history = run(model, epochs=20, record_every=1)
    # 0..4, then every 2nd, every 4th, every 8th: the last epoch is always kept
    assert [f.epoch for f in history.frames] == [0, 8, 16, 20]
    assert history.record_every == 8
    monkeypatch.undo()
    history_file.check(history.to_dict())


def test_a_model_beyond_the_limit_is_refused_when_recording_starts():
    model = MLP(1, [MAX_PARAMETERS // 2, 1], seed=0)  # 300,001 parameters
    with pytest.raises(ValueError, match="History records models of at most 200,000 "
                                         "parameters .* this one has 300,001"):
        History(model, [([0.0], 0)], loss_fn=bce)


# ---------------------------------------------- what save and the replay page refuse


@pytest.mark.parametrize("train, info, message", [
    ([([math.nan, 0.0], 0)], None, "train[0] input 0: nan is not a finite number"),
    ([([0.0, math.inf], 1)], None, "train[0] input 1: inf is not a finite number"),
    ([([0.0, 0.0], 2)], None, "train[0] class: 2, expected 0 to 1"),
    ([([0.0], 0)], None, "train[0]: expected 2 inputs (the model's nin), got [0.0]"),
    (POINTS, {"lr": math.nan}, "info['lr']: nan is not a finite number"),
    (POINTS, {"f": print}, "info['f']: a builtin_function_or_method is not JSON data"),
])
def test_bad_data_is_refused_when_recording_starts(train, info, message):
    with pytest.raises((TypeError, ValueError)) as caught:  # TypeError for the function
        History(MLP(2, [3, 1], seed=0), train, loss_fn=bce, info=info)
    assert str(caught.value) == message or str(caught.value).startswith(message)


@pytest.mark.parametrize("spoil, message", [
    (lambda h: h.info.update(lr=math.inf), "info['lr']: inf is not a finite number"),
    (lambda h: h.info.update(deep=[[{"x": -math.inf}]]),
     "info['deep'][0][0]['x']: -inf is not a finite number"),
    (lambda h: h.test_set[1][0].__setitem__(0, math.nan), "test[1] input 0: nan is not a finite"),
    (lambda h: h.frames.__setitem__(2, h.frames[2]._replace(params=[math.inf] * 17)),
     "frames[2].params: parameter 0 is inf; every parameter must be finite (did the run "
     "diverge?)"),
])
def test_save_and_to_html_name_what_is_not_finite(tmp_path, spoil, message):
    # a nan in the data or info used to say "the run diverged" on save, and the page gave
    # a bare JSON error
    history = run(hand_built("relu", [1.0, -1.0, 2.0, -0.5]), epochs=3, record_every=1)
    spoil(history)
    for call, doing in ((lambda: history.save(tmp_path / "h.json"), "save"),
                        (lambda: replay.to_html(history), "draw")):
        with pytest.raises(ValueError) as caught:
            call()
        assert str(caught.value).startswith(f"cannot {doing} this history: {message}")
        assert "\n" not in str(caught.value)
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------------- fuzzing
# A valid file with random bytes edited, or random JSON put in one of its fields: loading
# gives a History or a one-line HistoryError naming the file, never another exception.

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10**30, 10**30) | st.sampled_from([10**400, -1])
    | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=12)
PLACES = [("format",), ("version",), ("architecture",), ("architecture", "nin"),
          ("architecture", "nouts"), ("architecture", "activation"), ("record_every",),
          ("epochs",), ("info",), ("info", "k"), ("saturation",), ("leaky_slope",), ("train",),
          ("train", 0), ("train", 0, 0), ("train", 0, 1), ("test",), ("test", 1, 0, 1),
          ("frames",), ("frames", 0), ("frames", 1, "epoch"), ("frames", 1, "params"),
          ("frames", 1, "test_predictions"), ("frames", 1, "test_predictions", 0),
          ("frames", 1, "layers"), (*LAYER, "activations"), (*LAYER, "activations", "lo"),
          (*LAYER, "activations", "counts"), (*LAYER, "gradients", "counts", 4),
          (*LAYER, "dead"), (*LAYER, "flat"), (*LAYER, "grad_norm"), (*LAYER, "update_ratio"),
          ("frames", 2, "train_loss"), ("frames", 3, "test_accuracy"), ("extra",)]


def _valid_text() -> str:
    history = run(hand_built("relu", [1.0, -1.0, 2.0, -0.5]), epochs=3, record_every=1)
    return json.dumps(history.to_dict())


VALID = _valid_text()


@st.composite
def damaged_files(draw) -> bytes:
    if draw(st.booleans()):
        return edited_bytes(draw, VALID, st.binary(max_size=4) | st.sampled_from(
            [b"[", b"{", b'"', b"-", b"e9", b"NaN", b"1e999", b"null", b"0"]))
    return value_replaced(draw, VALID, PLACES, JSON)


@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=damaged_files())
def test_fuzz_only_history_errors_escape(tmp_path, content):
    path = tmp_path / "fuzz.json"
    path.write_bytes(content)
    try:
        loaded = History.load(path)
    except HistoryError as exc:
        assert_file_error(exc, path)
    else:  # what loads is whole: it saves, draws and answers questions
        replay.to_html(loaded)
        loaded.hints(len(loaded.frames) - 1)
        loaded.model_at(0)
