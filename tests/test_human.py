"""Human evaluation and blind A/B: statistics against scipy/statsmodels, randomisation, blinding, resume, DPO, notebook."""
import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st
from statsmodels.stats.proportion import proportion_confint

from fine_tune_lab.core import ConfigError, LabError
from fine_tune_lab.human import (ABSession, RubricSession, ab_table, assign_pairs, balanced_sides, create_ab, create_rubric,
                                 export_dpo, judgements, position_bias, ranking, rubric_results)


def items(n, models=("base", "ft")):
    return pd.DataFrame({"id": range(n), "prompt": [f"p{i}" for i in range(n)], "outputs": [{m: f"{m} says {i}" for m in models} for i in range(n)]})


def judge(s, prefer="ft", p=0.75, p_tie=0.1, seed=0):
    rng = np.random.default_rng(seed)
    while (it := s.current) is not None:
        if rng.random() < p_tie: s.choose("tie"); continue
        pref_left = it["left"].startswith(prefer)
        s.choose("left" if (rng.random() < p) == pref_left else "right")


def test_ab_statistics_match_scipy_and_statsmodels(tmp_path):
    create_ab(tmp_path / "ab", items(150), seed=5)
    for rater, seed in (("ana", 1), ("ben", 2)):
        judge(ABSession(tmp_path / "ab", rater), seed=seed)
    j = judgements(tmp_path / "ab")
    assert len(j) == 300 and set(j["rater"]) == {"ana", "ben"}
    t = ab_table(j).iloc[0]
    wins, losses = int((j["winner"] == "ft").sum()), int((j["winner"] == "base").sum())
    assert (t["wins"], t["losses"], t["ties"]) == (wins, losses, int((j["choice"] == "tie").sum()))
    assert t["p_value"] == pytest.approx(st.binomtest(wins, wins + losses, 0.5).pvalue)
    assert (t["ci_low"], t["ci_high"]) == pytest.approx(proportion_confint(wins, wins + losses, method="wilson"))
    assert t["win_rate"] > 0.6 and t["p_value"] < 1e-4
    pb = position_bias(j)
    assert pb["p_value"] == pytest.approx(st.binomtest(pb["left_wins"], pb["left_wins"] + pb["right_wins"]).pvalue)


def test_position_bias_is_detected(tmp_path):
    create_ab(tmp_path / "ab", items(200), seed=1)
    s, rng = ABSession(tmp_path / "ab", "lefty"), np.random.default_rng(0)
    while s.current is not None: s.choose("left" if rng.random() < 0.75 else "right")      # ignores content, likes the left
    j = judgements(tmp_path / "ab")
    assert position_bias(j)["p_value"] < 1e-6
    assert ab_table(j).iloc[0]["p_value"] > 0.01             # balanced sides: the left preference does not favour a version


def test_sides_balanced_reproducible_and_unpredictable():
    for n in (1, 2, 7, 50, 101):
        s = balanced_sides(n, seed=3)
        assert s.sum() == n // 2 and (balanced_sides(n, 3) == s).all()
    runs_z, corrs = [], []
    for seed in range(200):
        s = balanced_sides(100, seed)
        corrs.append(np.corrcoef(np.arange(100), s)[0, 1])          # no drift with position
        runs = 1 + int((s[1:] != s[:-1]).sum())                      # Wald–Wolfowitz runs test
        n1, n2 = s.sum(), 100 - s.sum()
        mu = 2 * n1 * n2 / 100 + 1
        var = 2 * n1 * n2 * (2 * n1 * n2 - 100) / (100 ** 2 * 99)
        runs_z.append((runs - mu) / np.sqrt(var))
        assert seed == 0 or not (s == balanced_sides(100, seed - 1)).all()
    assert abs(np.mean(corrs)) < 0.02 and np.std(corrs) < 0.15
    assert st.kstest(runs_z, "norm").pvalue > 0.01                 # runs look like chance: the next side cannot be guessed
    prev = np.concatenate([balanced_sides(100, s)[:-1] for s in range(200)])
    nxt = np.concatenate([balanced_sides(100, s)[1:] for s in range(200)])
    assert abs(np.mean(nxt[prev == 1]) - np.mean(nxt[prev == 0])) < 0.03   # knowing one side says ~nothing of the next


def test_three_versions_ranked(tmp_path):
    create_ab(tmp_path / "ab", items(300, ("base", "ft1", "ft2")), seed=2)
    strength = {"base": 1.0, "ft1": 2.0, "ft2": 4.0}
    s, rng = ABSession(tmp_path / "ab", "r"), np.random.default_rng(0)
    while (it := s.current) is not None:
        l, r = (next(m for m in strength if it[side].startswith(m)) for side in ("left", "right"))
        s.choose("left" if rng.random() < strength[l] / (strength[l] + strength[r]) else "right")
    pairs = {tuple(sorted(p)) for p in assign_pairs(300, ["base", "ft1", "ft2"], 2)}
    assert len(pairs) == 3
    assert list(ranking(judgements(tmp_path / "ab"))) == ["ft2", "ft1", "base"]


def test_blind_until_ended_and_resume(tmp_path):
    create_ab(tmp_path / "ab", items(10, ("alpha", "omega")), seed=9)
    s = ABSession(tmp_path / "ab", "ana")
    assert set(s.current) == {"id", "prompt", "left", "right"}
    rater_file_text = lambda: (tmp_path / "ab" / "ratings" / "ana.jsonl").read_text()
    s.choose("left"); s.choose("tie"); first_two = set(s.decisions())
    assert "alpha" not in rater_file_text() and "omega" not in rater_file_text()      # the rater's store has no model names
    with pytest.raises(LabError, match="hidden"):
        s.reveal()
    again = ABSession(tmp_path / "ab", "ana")                  # reopen: the same order, the next unjudged item
    assert set(again.decisions()) == first_two and again.current["id"] == s.current["id"]
    assert again.undo() in first_two and again.progress["done"] == 1
    with pytest.raises(ConfigError, match="not a choice"):
        again.choose("A")
    assert len(again.end()) == 1
    with pytest.raises(LabError, match="ended the session"):
        again.choose("left")
    with pytest.raises(LabError, match="already exists"):
        create_ab(tmp_path / "ab", items(10))


def test_dpo_export(tmp_path):
    create_ab(tmp_path / "ab", items(40), seed=4)
    judge(ABSession(tmp_path / "ab", "ana"), p_tie=0.2)
    s = ABSession(tmp_path / "ab", "ben")
    for _ in range(5): s.choose("both_bad")
    with pytest.raises(LabError, match="not ended the session"):      # sides are still blind for these raters
        export_dpo(tmp_path / "ab", tmp_path / "dpo.jsonl")
    assert not (tmp_path / "dpo.jsonl").exists()
    ABSession(tmp_path / "ab", "ana").end(); s.end()
    c = export_dpo(tmp_path / "ab", tmp_path / "dpo.jsonl")
    j = judgements(tmp_path / "ab")
    rows = [json.loads(l) for l in (tmp_path / "dpo.jsonl").read_text().splitlines()]
    assert c == {"pairs": int(j["winner"].notna().sum()), "ties": int((j["choice"] == "tie").sum()), "both_bad": 5} and len(rows) == c["pairs"]
    assert all(r["chosen"].startswith(r["chosen_model"]) and r["rejected"].startswith(r["rejected_model"]) for r in rows)


def test_rubric_aggregates_match_statsmodels(tmp_path):
    import statsmodels.stats.api as sms
    df = pd.DataFrame({"id": range(30), "prompt": [f"q{i}" for i in range(30)], "output": [f"a{i}" for i in range(30)], "model": ["base", "ft"] * 15})
    create_rubric(tmp_path / "r", df, {"accuracy": (1, 5), "fluency": (1, 5)})
    rng = np.random.default_rng(0)
    truth = {i: int(rng.integers(1, 6)) for i in range(30)}
    for rater, noise in (("ana", 0), ("ben", 0), ("cy", 1)):
        s = RubricSession(tmp_path / "r", rater)
        while (it := s.current) is not None:
            v = int(np.clip(truth[it["id"]] + rng.integers(-noise, noise + 1), 1, 5))
            s.rate({"accuracy": v, "fluency": v})
    res = rubric_results(tmp_path / "r")
    from fine_tune_lab.human import ratings
    r = ratings(tmp_path / "r")
    row = res["summary"].query("model == 'ft' and criterion == 'accuracy'").iloc[0]
    lo, hi = sms.DescrStatsW(r[r["model"] == "ft"]["accuracy"].astype(float)).tconfint_mean()
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((lo, hi)) and row["n"] == 45
    assert 0.6 < res["agreement"]["accuracy"] <= 1.0             # two raters agree exactly, one is noisy
    assert set(res["raters"].index) == {"ana", "ben", "cy"}
    s = RubricSession(tmp_path / "r", "dan")
    with pytest.raises(ConfigError, match="out of range"):
        s.rate({"accuracy": 7, "fluency": 3})
    with pytest.raises(ConfigError, match="no score for"):
        s.rate({"accuracy": 3})


def test_ab_notebook_headless(tmp_path, tiny_llama):
    from conftest import ROOT
    from fine_tune_lab.batch import run_notebook
    from fine_tune_lab.config import TrainConfig
    from fine_tune_lab.train import train
    ft = train(TrainConfig(task="causal-lm", model=tiny_llama, epochs=2, max_length=32, learning_rate=3e-3, output_dir=str(tmp_path / "runs")),
               progress=False, quiet=True)
    out = run_notebook(ROOT / "nbs/tutorials/ab_test.ipynb", {"base": tiny_llama, "finetuned": str(ft.path), "n_prompts": 6, "max_new_tokens": 8,
                       "session": str(tmp_path / "ab"), "rater": "auto", "seed": 1, "live": False}, tmp_path / "o.ipynb", cwd=tmp_path)
    assert out.ok, out.error
    r = out.results
    t = r["table"][0]
    assert (t["a"], t["b"]) == ("base", "finetuned") and t["wins"] + t["losses"] + t["ties"] == 6
    assert 0 <= r["position_bias"]["p_value"] <= 1 and r["automatic"]["ci_low"] <= r["automatic"]["delta"] <= r["automatic"]["ci_high"]
    assert r["dpo"]["pairs"] == t["wins"] + t["losses"]
