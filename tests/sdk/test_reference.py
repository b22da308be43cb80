"""heron.log_reference: scores and class probabilities, task-driven summaries, point masses, names."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

import heron


def test_scores_travel_in_the_sample_and_the_profile(telemetry):
    rng = np.random.default_rng(2)
    scores = rng.random(200)
    heron.log_reference("m", "1", {"x": rng.normal(0, 1, 200)}, scores=scores)
    sample, profile = telemetry.bodies("heron.reference")
    assert sample["score"] == pytest.approx(scores.tolist())
    assert profile["score"]["kind"] == "numeric" and sum(profile["score"]["counts"]) == 200


def test_class_probabilities_give_the_score_and_classes_the_prediction_path_gives(telemetry):
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6]])
    heron.log_reference("m", "1", {"x": [1.0, 2.0, 3.0]}, scores=proba, classes=["no", "yes"], profile_data=False)
    [sample] = telemetry.bodies("heron.reference")
    assert sample["score"] == [0.1, 0.8, 0.6] and sample["prediction"] == ["no", "yes", "yes"]
    frame = pd.DataFrame({"a": [0.7, 0.2], "b": [0.2, 0.5], "c": [0.1, 0.3]})
    heron.log_reference("m", "2", {"x": [1.0, 2.0]}, predictions=["a", "a"], scores=frame, profile_data=False)
    [_, multi] = telemetry.bodies("heron.reference")
    assert multi["score"] == [0.7, 0.5] and multi["prediction"] == ["a", "a"]  # given predictions are kept
    with pytest.raises(ValueError, match=r"scores=\.\.\.\): 2 values for 3 feature rows"):
        heron.log_reference("m", "1", {"x": [1.0, 2.0, 3.0]}, scores=[0.1, 0.2])
    with pytest.raises(ValueError, match=r"classes=\.\.\.\): 3 names for 2 columns"):
        heron.log_reference("m", "1", {"x": [1.0, 2.0, 3.0]}, scores=proba, classes=["a", "b", "c"])
    with pytest.raises(ValueError, match="expected numbers"):
        heron.log_reference("m", "1", {"x": [1.0, 2.0, 3.0]}, scores=["a", "b", "c"])


def test_prediction_and_label_summaries_follow_the_task(telemetry):
    labels = np.array([0, 1, 1, 0, 1] * 20)
    heron.register_model("clf", "1", task="binary_classification")
    heron.log_reference("clf", "1", {"x": np.arange(100.0)}, predictions=labels, labels=labels, sample_rows=0)
    heron.register_model("reg", "1", task="regression")
    heron.log_reference("reg", "1", {"x": np.arange(100.0)}, predictions=np.arange(100.0) / 2, sample_rows=0)
    heron.log_reference("unknown", "1", {"x": np.arange(100.0)}, predictions=labels * 1.0, sample_rows=0)
    clf, reg, unknown = telemetry.bodies("heron.reference")
    assert clf["prediction"] == {"kind": "categorical", "count": 100, "missing": 0, "frequencies": {"1": 60, "0": 40}}
    assert clf["label"]["kind"] == "categorical"
    assert reg["prediction"]["kind"] == "numeric" and "frequencies" not in reg["prediction"]
    # task unknown here: both forms, and the collector picks the one the registered task calls for
    assert unknown["prediction"]["kind"] == "numeric" and unknown["prediction"]["frequencies"] == {"1": 60, "0": 40}


def test_a_reference_sharing_no_feature_name_with_the_predictions_warns_once(telemetry, caplog):
    with heron.observe(model="m", version="1") as obs:
        obs.features({"a": 1.0, "b": 2.0})
        obs.prediction(1)
    heron.flush()  # the names of predictions already sent are known
    with caplog.at_level(logging.WARNING, logger="heron"):
        heron.log_reference("m", "1", np.array([[1.0, 2.0], [3.0, 4.0]]), profile_data=False)
        heron.log_reference("m", "1", np.array([[1.0, 2.0], [3.0, 4.0]]), profile_data=False)
        heron.log_reference("m", "1", np.array([[1.0, 2.0]]), feature_names=["a", "b"], profile_data=False)
    assert heron.stats()["reference_feature_names"] == 2
    [warning] = [r for r in caplog.records if "no feature's drift can be measured" in r.getMessage()]
    assert "feature_names=" in warning.getMessage()
