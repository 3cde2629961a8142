"""Export values against their sources (issue 15): every correction method on every task kind.

Each test writes the files a user would import (items, human gold, LLM judgments), imports them
with the CLI into a real DuckDB file, saves a correction as the Calibrate page saves it, approves
the labeler and exports with the CLI. Every exported row is then compared with its source: human
rows with the gold file, raw LLM labels with the judgments file (majority label, mean value, mean
confidence), corrected values with a closed form evaluated here on the correction's parameters as
stored in the database (never by calling labelgate's or qc's apply), and the human share and
weights with their formula. Pairwise judgments come from a real run (openai SDK against
tests/llm_server.py) shown in both orders, so the mapping back to the canonical orientation is
checked on what the model was actually shown.
"""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from labelgate import calibrate as cal
from labelgate import gate
from labelgate import monitor as mon
from labelgate.cli import main as cli
from labelgate.store import Database
from labelgate.store.corrections import save_correction
from labelgate.store.tasks import get_task
from labelgate.store.users import User
from qc.gate import Criterion

LEAD = User("lead", "lead")
N_ITEMS, N_GOLD, SAMPLES = 400, 40, 3
CAT_LABELS = ["pos", "neg", "mixed"]
SPECS = {"categorical": ["--labels", ",".join(CAT_LABELS)], "pairwise": ["--labels", "1,2"],
         "ordinal": ["--scale", "1-5"], "continuous": ["--range", "0,10"]}
METHODS = {"categorical": ["none", "confusion", "platt"],
           "pairwise": ["none", "confusion", "platt"],      # imported judgments; a real run: the test below
           "ordinal": ["none", "linear", "isotonic", "ordinal_cuts", "linear_covariates", "platt"],
           "continuous": ["none", "linear", "isotonic", "linear_covariates", "platt"]}


def _cli(*args) -> None:
    assert cli(list(args)) == 0, args


def _write(path, frame: pd.DataFrame):
    frame.to_csv(path, index=False)
    return str(path)


def make_project(tmp_path, kind: str, *, seed: int = 0) -> dict:
    """A task of `kind` with 400 items (40 with gold from rater e1) and labeler Judge's three
    judgments per item (batch prod), all imported through the CLI; returns the source frames.
    Pairwise judgments are imported in the canonical orientation, two shown "12" and one "21"."""
    rng = np.random.default_rng(seed)
    db_path = str(tmp_path / f"{kind}.duckdb")
    ids = [f"x{i:03d}" for i in range(N_ITEMS)]
    items = pd.DataFrame({"item_id": ids, "text": [f"item text {i}" for i in range(N_ITEMS)],
                          "length": rng.choice(["long", "short"], N_ITEMS),
                          "words": rng.integers(5, 60, N_ITEMS)})
    long = (items["length"] == "long").to_numpy()
    if kind in ("categorical", "pairwise"):
        labels = CAT_LABELS if kind == "categorical" else ["1", "2"]
        truth = rng.choice(labels, N_ITEMS)
        gold_values = pd.Series(truth, index=ids)
        judged = []
        for _ in range(SAMPLES):
            wrong = rng.random(N_ITEMS) < 0.25
            other = [rng.choice([c for c in labels if c != t]) for t in truth]
            judged.append(np.where(wrong, other, truth))
        judged = np.array(judged)          # (samples, items)
        # a strict majority on every item: when all three samples differ, the third repeats the first
        all_differ = (judged[0] != judged[1]) & (judged[1] != judged[2]) & (judged[0] != judged[2])
        judged[2, all_differ] = judged[0, all_differ]
        right = judged == truth[None, :]
    else:
        if kind == "ordinal":
            truth = rng.integers(1, 6, N_ITEMS).astype(float)
            noise = rng.choice([-1.0, 0.0, 0.0, 1.0], (SAMPLES, N_ITEMS))
            judged = np.clip(truth[None, :] + long[None, :] + noise, 1, 5)      # +1 on long items
            right = judged == truth[None, :]
        else:
            truth = np.round(rng.uniform(0, 10, N_ITEMS), 2)
            judged = np.clip(np.round(0.7 * truth[None, :] + 2.0 + 0.8 * long[None, :]
                                      + rng.normal(0, 0.5, (SAMPLES, N_ITEMS)), 2), 0, 10)
            right = np.abs(judged - truth[None, :]) <= 1.0
        gold_values = pd.Series(truth, index=ids)
    # overconfident: 0.9-0.99 when right, 0.75-0.95 when wrong (Platt has something to correct)
    conf = np.round(np.where(right, rng.uniform(0.9, 0.99, right.shape), rng.uniform(0.75, 0.95, right.shape)), 3)
    judgments = pd.DataFrame({
        "item_id": np.tile(ids, SAMPLES), "rater": "Judge",
        "value": [v if kind in ("categorical", "pairwise") else (f"{v:g}" if kind == "ordinal" else repr(float(v)))
                  for v in judged.ravel()],
        "confidence": conf.ravel(), "sample_index": np.repeat(np.arange(SAMPLES), N_ITEMS), "batch": "prod"})
    gold = pd.DataFrame({"item_id": ids[:N_GOLD], "rater": "e1",
                         "value": [v if kind in ("categorical", "pairwise") else
                                   (f"{v:g}" if kind == "ordinal" else repr(float(v)))
                                   for v in gold_values.iloc[:N_GOLD]]})
    text_columns = "text"
    if kind == "pairwise":
        judgments["shown_order"] = np.repeat(["12", "21", "12"], N_ITEMS)
        judgments["sample_index"] = np.repeat([0, 0, 1], N_ITEMS)
        items["output_1"], items["output_2"] = "first answer", "second answer"
        text_columns = "text,output_1,output_2"
    _cli("--db", db_path, "task", "create", kind, "--kind", kind, *SPECS[kind], "--text-columns", text_columns)
    _cli("--db", db_path, "import", "items", "--task", kind, "--text-columns", text_columns,
         _write(tmp_path / "items.csv", items))
    _cli("--db", db_path, "import", "labels", "--task", kind, "--source", "human", _write(tmp_path / "gold.csv", gold))
    _cli("--db", db_path, "import", "labels", "--task", kind, "--source", "llm", "--family", "gpt",
         _write(tmp_path / "judge.csv", judgments))
    db = Database(db_path)
    task = get_task(db, kind)
    # this file is about values: a lead switches the monitor's batch rules off (tested in test_monitor)
    mon.save_thresholds(db, task, mon.Thresholds.from_dict({f: None for f in mon.Thresholds.LABELS}), user=LEAD)
    gate.save_criteria(db, task, [Criterion("n_gold", ">=", N_GOLD)], user=LEAD)
    return {"db": db, "task": task, "items": items, "gold": gold, "judgments": judgments}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """project(kind, tmp_path): a copy of the kind's project, built once per module (the imports
    take most of a test's time); each test changes only its own copy."""
    cache = {}

    def project(kind: str, tmp_path) -> dict:
        if kind not in cache:
            cache[kind] = make_project(tmp_path_factory.mktemp(kind), kind)
        p = cache[kind]
        path = tmp_path / f"{kind}.duckdb"
        shutil.copy(p["db"].path, path)
        db = Database(path)
        return p | {"db": db, "task": get_task(db, kind)}

    return project


def save_as_the_calibrate_page(db: Database, task, method: str) -> dict:
    """fit_correction on the labeler's gold judgments and save_correction, as pages/calibrate.py does."""
    gold = cal.load_task_gold(db, task)
    refs = cal.labeler_refs(db, task).set_index("name")
    version = refs.loc["Judge", "version"]
    data = cal.load_labeler(db, task, gold, "Judge", version, refs.loc["Judge", "family"], n_resamples=20)
    assert method in cal.correction_methods(task, data.pairs)          # the page offers it
    params = cal.fit_correction(task, data.pairs, method, items=cal.item_frame(db, task),
                                covariates=["length", "words"] if method == "linear_covariates" else None)
    cid = save_correction(db, task_id=task.task_id, labeler="Judge", labeler_version=version, method=method,
                          params=params, gold_version=gold.version, n_fit=int(data.pairs["item_id"].nunique()),
                          cv_metrics=None, created_by="engineer")
    with db.connect() as con:   # the parameters as the database holds them
        (stored,) = con.execute("SELECT params FROM corrections WHERE correction_id = ?", [cid]).fetchone()
    return {"id": cid, **json.loads(stored)}


def export_with_the_cli(db: Database, task, out, *extra) -> pd.DataFrame:
    gate.decide(db, task, "Judge", user=LEAD, decision="approve", comment="values test")
    _cli("--db", str(db.path), "export", "--task", task.name, "--labeler", "Judge", "--out", str(out), *extra)
    return pd.read_parquet(out) if str(out).endswith(".parquet") else pd.read_csv(out, dtype={"value": str})


def _logit(p):
    return np.log(p) - np.log1p(-p)


def _num(v) -> float:
    return float(v) if not isinstance(v, str) else {"inf": math.inf, "-inf": -math.inf}.get(v, float(v))


def corrected(stored: dict, x: np.ndarray, items: pd.DataFrame) -> np.ndarray:
    """The correction's closed form on the raw (mean) scores `x` of `items`, from its stored parameters."""
    m = stored["method"]
    if m == "linear":
        return stored["params"]["intercept"] + stored["params"]["slope"] * x
    if m == "isotonic":   # linear between knots, flat beyond the end knots
        kx, ky = np.array(stored["params"]["x"], float), np.array(stored["params"]["y"], float)
        out = np.empty_like(x)
        for i, v in enumerate(x):
            if v <= kx[0]:
                out[i] = ky[0]
            elif v >= kx[-1]:
                out[i] = ky[-1]
            else:
                j = int(np.nonzero(kx <= v)[0][-1])
                out[i] = ky[j] if kx[j] == v else ky[j] + (ky[j + 1] - ky[j]) * (v - kx[j]) / (kx[j + 1] - kx[j])
        return out
    if m == "ordinal_cuts":  # the linear score, then the level k = number of cut points at or below it
        z = stored["linear"]["intercept"] + stored["linear"]["slope"] * x
        cuts = np.array([_num(c) for c in stored["cuts"]["cuts"]])
        levels = np.array(stored["cuts"]["levels"], float)
        return levels[(z[:, None] >= cuts[None, :]).sum(axis=1)]
    if m == "linear_covariates":  # intercept + slope x + numeric columns + one-hot "column=level" terms
        p = stored["params"]
        total = np.zeros_like(x)
        for name, coef in zip(p["columns"], p["coefficients"], strict=True):
            if name == "intercept":
                total += coef
            elif name == "y_llm":
                total += coef * x
            elif "=" in name:
                col, level = name.split("=", 1)
                total += coef * (items[col].astype(str).to_numpy() == level)
            else:
                total += coef * items[name].to_numpy(float)
        assert {"length=short", "words"} <= set(p["columns"])
        return total
    raise AssertionError(m)


def _raw(judgments: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Per item, from the judgments file: majority label (discrete) or mean value, mean confidence."""
    g = judgments.groupby("item_id")
    out = pd.DataFrame({"confidence": g["confidence"].mean()})
    if kind in ("categorical", "pairwise"):
        counts = judgments.groupby(["item_id", "value"]).size().rename("n").reset_index()
        counts = counts.sort_values(["item_id", "n"], ascending=[True, False])
        top = counts.groupby("item_id").head(2).groupby("item_id")["n"].agg(list)
        assert top.map(lambda n: len(n) == 1 or n[0] > n[1]).all()     # a strict majority everywhere
        out["value"] = counts.groupby("item_id")["value"].first()
    else:
        out["mean"] = g["value"].agg(lambda v: np.mean([float(s) for s in v]))
    return out


def check_human_rows(table: pd.DataFrame, gold: pd.DataFrame, kind: str) -> None:
    human = table[table["source"] == "human"].set_index("item_id")
    assert sorted(human.index) == sorted(gold["item_id"])
    src = gold.set_index("item_id").loc[human.index, "value"]
    assert human["value"].tolist() == src.tolist()
    if kind in ("ordinal", "continuous"):
        np.testing.assert_array_equal(human["value_num"].to_numpy(float), src.astype(float).to_numpy())
    else:
        assert human["value_num"].isna().all()
    assert human["confidence"].isna().all() and human["labeler"].isna().all()
    assert human["correction_version"].isna().all() and human["batch"].isna().all()


@pytest.mark.parametrize(("kind", "method"), [(k, m) for k, ms in METHODS.items() for m in ms])
def test_every_exported_row_equals_its_source_after_the_saved_correction(built, tmp_path, kind, method):
    p = built(kind, tmp_path)
    db, task = p["db"], p["task"]
    stored = save_as_the_calibrate_page(db, task, method) if method != "none" else None
    table = export_with_the_cli(db, task, tmp_path / "out.parquet")
    check_human_rows(table, p["gold"], kind)

    llm = table[table["source"] == "llm"].set_index("item_id")
    expected_ids = sorted(set(p["items"]["item_id"]) - set(p["gold"]["item_id"]))
    assert sorted(llm.index) == expected_ids                 # one row per item without gold, none dropped
    assert (llm["labeler"] == "Judge").all() and (llm["batch"] == "prod").all()
    if stored:
        assert (llm["correction_version"] == f"{stored['id']}:{method}").all()
    else:
        assert llm["correction_version"].isna().all()
    raw = _raw(p["judgments"], kind).loc[llm.index]
    items = p["items"].set_index("item_id").loc[llm.index]

    # confidence: the mean of the item's judgments, Platt-recalibrated when that is the correction
    conf = raw["confidence"].to_numpy(float)
    if method == "platt":
        a, b = stored["params"]["a"], stored["params"]["b"]
        conf = expit(a * _logit(conf) + b)
        assert np.abs(conf - raw["confidence"].to_numpy(float)).max() > 0.01   # it moved them
    np.testing.assert_allclose(llm["confidence"].to_numpy(float), conf, rtol=0, atol=1e-12)

    if kind in ("categorical", "pairwise"):   # labels as given (confusion corrects shares, not labels)
        assert llm["value"].tolist() == raw["value"].tolist()
        assert llm["value_num"].isna().all()
        return
    x = raw["mean"].to_numpy(float)
    y = x if method in ("none", "platt") else corrected(stored, x, items)
    lo, hi = (1, 5) if kind == "ordinal" else (0, 10)
    if kind == "ordinal":
        y = np.clip(np.round(y), lo, hi)     # an ordinal label lands on the scale, corrected or not
        text = [f"{int(v)}" for v in y]
        if method in ("none", "platt"):
            assert (x != np.round(x)).any()  # some items' judgments average between two points
    else:
        y = np.clip(y, lo, hi)
        text = None
    np.testing.assert_allclose(llm["value_num"].to_numpy(float), y, rtol=0, atol=1e-9)
    if kind == "ordinal":
        assert llm["value"].tolist() == text
    else:   # the text is the number itself (repr), equal to the closed form up to rounding in the last digit
        np.testing.assert_allclose(llm["value"].astype(float).to_numpy(), y, rtol=0, atol=1e-9)
        assert llm["value"].tolist() == [repr(float(v)) for v in llm["value_num"]]
    if method not in ("none", "platt"):
        assert np.abs(y - x).max() > 0.4     # not an identity: the correction moved labels


@pytest.mark.parametrize("kind", list(METHODS))
def test_human_share_and_weights_follow_their_formula(built, tmp_path, capsys, kind):
    p = built(kind, tmp_path)
    db, task = p["db"], p["task"]
    n_llm = N_ITEMS - N_GOLD
    # 10%: 40 human rows allow 40 * 0.9 / 0.1 = 360 LLM rows, exactly all of them
    table = export_with_the_cli(db, task, tmp_path / "ten.parquet")
    assert (table["source"] == "human").sum() == N_GOLD and (table["source"] == "llm").sum() == n_llm
    assert (table["source"] == "human").mean() == pytest.approx(0.1)
    assert "weight" not in table.columns
    # 20% by weight: every LLM row weighs 1, each human row w with 40 w / (40 w + 360) = 0.2
    table = export_with_the_cli(db, task, tmp_path / "twenty.parquet", "--human-share", "0.2", "--human-weight")
    w = 0.2 * n_llm / (0.8 * N_GOLD)
    assert w == pytest.approx(2.25)
    human, llm = table[table["source"] == "human"], table[table["source"] == "llm"]
    assert (len(human), len(llm)) == (N_GOLD, n_llm)
    np.testing.assert_allclose(human["weight"], w, rtol=0, atol=1e-12)
    assert (llm["weight"] == 1.0).all()
    assert human["weight"].sum() / table["weight"].sum() == pytest.approx(0.2, abs=1e-12)
    assert "weighing 2.25 each, 20.0% of the weight" in capsys.readouterr().out
    # 20% by rows: a seeded subset of 40 * 0.8 / 0.2 = 160 LLM rows, each still equal to its source
    table = export_with_the_cli(db, task, tmp_path / "sub.parquet", "--human-share", "0.2", "--subsample",
                                "--seed", "4")
    llm = table[table["source"] == "llm"].set_index("item_id")
    assert len(llm) == 160 and (table["source"] == "human").sum() == N_GOLD
    raw = _raw(p["judgments"], kind).loc[llm.index]
    if kind in ("categorical", "pairwise"):
        assert llm["value"].tolist() == raw["value"].tolist()
    else:
        mean = raw["mean"].to_numpy(float)
        expected = np.clip(np.round(mean), 1, 5) if kind == "ordinal" else mean   # ordinal: the nearest point
        np.testing.assert_allclose(llm["value_num"].to_numpy(float), expected, rtol=0, atol=1e-12)
    check_human_rows(table, p["gold"], kind)
    # the subset is the seeded draw the report promises: another seed, another subset of the same size
    other = export_with_the_cli(db, task, tmp_path / "sub5.parquet", "--human-share", "0.2", "--subsample",
                                "--seed", "5")
    assert (other["source"] == "llm").sum() == 160 and set(other["item_id"]) != set(table["item_id"])


def test_pairwise_both_orders_are_mapped_back_and_an_item_whose_orders_disagree_is_left_out(tmp_path, capsys):
    """A real run (openai SDK, local server) shows every item in both orders. The judge picks the
    output that says GOOD wherever it is shown, except on every tenth item, where it picks whatever
    is shown first (position bias): its two orders then disagree and that item has no label."""
    from tests.llm_server import FakeLLMServer

    n, n_gold = 120, 20
    ids = [f"p{i:03d}" for i in range(n)]
    good_first = {i: k % 3 != 0 for k, i in enumerate(ids)}              # canonical truth: "1" or "2"
    biased = {i for k, i in enumerate(ids) if k % 10 == 7}
    items = pd.DataFrame({"item_id": ids,
                          "input": [f"question {i}" + (" PICK-FIRST" if i in biased else "") for i in ids],
                          "output_1": ["GOOD answer" if good_first[i] else "bad answer" for i in ids],
                          "output_2": ["bad answer" if good_first[i] else "GOOD answer" for i in ids]})
    truth = {i: "1" if good_first[i] else "2" for i in ids}
    gold = pd.DataFrame({"item_id": ids[:n_gold], "rater": "e1", "value": [truth[i] for i in ids[:n_gold]]})

    def answer(ctx):
        if "PICK-FIRST" in ctx.prompt:
            return "1"
        return "1" if ctx.prompt.index("GOOD") < ctx.prompt.index("bad") else "2"

    db_path = str(tmp_path / "pairwise.duckdb")
    base = ["--db", db_path]
    _cli(*base, "task", "create", "helpful", "--kind", "pairwise", "--labels", "1,2",
         "--text-columns", "input,output_1,output_2")
    _cli(*base, "import", "items", "--task", "helpful", "--text-columns", "input,output_1,output_2",
         _write(tmp_path / "items.csv", items))
    _cli(*base, "import", "labels", "--task", "helpful", "--source", "human", _write(tmp_path / "gold.csv", gold))
    _cli(*base, "calibration", "draw", "--task", "helpful", "--size", str(n), "--seed", "0")
    with FakeLLMServer(answer=answer) as server:
        _cli(*base, "labelers", "add", "Judge", "--task", "helpful", "--provider", "openai-compatible",
             "--model", "judge-1", "--family", "gpt", "--base-url", server.openai_url, "--both-orders")
        _cli(*base, "run", "--task", "helpful", "--labeler", "Judge", "--items", "calibration", "--no-progress",
             "--timeout", "30")
        assert server.request_count == 2 * n
    db = Database(db_path)
    task = get_task(db, "helpful")
    with db.connect() as con:
        calls = con.execute("SELECT item_id, shown_order, raw_label, value FROM llm_calls").df()
    # what the model said about what it was shown, and the canonical label stored for it
    plain = calls[~calls["item_id"].isin(biased)]
    assert (plain["value"] == plain["item_id"].map(truth)).all()
    swapped = plain[plain["shown_order"] == "21"]
    assert (swapped["raw_label"] != swapped["value"]).all() and len(swapped) == n - len(biased)
    gate.save_criteria(db, task, [Criterion("n_gold", ">=", n_gold)], user=LEAD)
    stored = save_as_the_calibrate_page(db, task, "confusion")
    capsys.readouterr()
    table = export_with_the_cli(db, task, tmp_path / "out.csv")
    printed = capsys.readouterr().out
    check_human_rows(table, gold, "pairwise")

    llm = table[table["source"] == "llm"].set_index("item_id")
    left_out = sorted(biased - set(gold["item_id"]))
    assert len(left_out) == 10
    assert sorted(llm.index) == sorted(set(ids[n_gold:]) - biased)      # the tied items are not exported
    assert llm["value"].tolist() == [truth[i] for i in llm.index]       # both orders mapped back to the truth
    assert set(llm["value"]) == {"1", "2"}
    assert (llm["correction_version"] == f"{stored['id']}:confusion").all() and (llm["batch"] == "calibration").all()
    assert "filter 'no majority label: the judgments tie (the two presentation orders disagree)' removed 10 LLM " \
           "rows" in printed
    assert "confusion corrects class shares, not single labels: labels exported as given" in printed


def test_a_stored_correction_the_export_cannot_apply_is_refused_by_name(built, tmp_path, capsys):
    """Temperature scaling exists in qc but no page or command saves it: if the database holds one
    (an old or hand-made row), the export says so instead of writing labels it did not correct."""
    p = built("categorical", tmp_path)
    db, task = p["db"], p["task"]
    version = cal.labeler_refs(db, task).set_index("name").loc["Judge", "version"]
    cid = save_correction(db, task_id=task.task_id, labeler="Judge", labeler_version=version, method="temperature",
                          params={"method": "temperature", "params": {"method": "temperature", "temperature": 1.7,
                                                                      "n": 40}, "covariates": []},
                          gold_version=cal.load_task_gold(db, task).version, n_fit=40, cv_metrics=None,
                          created_by="engineer")
    gate.decide(db, task, "Judge", user=LEAD, decision="approve", comment="values test")
    out = tmp_path / "out.csv"
    assert cli(["--db", str(db.path), "export", "--task", task.name, "--labeler", "Judge", "--out", str(out)]) == 2
    assert f"the saved correction #{cid} (temperature) is not one the export can apply to a categorical task " \
           "(confusion, platt)" in capsys.readouterr().err
    assert not out.exists()
