"""Training loop and user-facing model: determinism, sparse input,
checkpoints and resume, the decodings."""

from __future__ import annotations

import os

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from helpers import make_mudata
from mima.api import MIMA
from mima.errors import InputError
from mima.model.sparse import SparseRows
from mima.train import trainer
from mima.train.data import PairedArrays, minibatch_rows

FAST = {"max_epochs": 3, "min_steps": 0, "batch_size": 32, "lr": 1e-3, "progress": False}
SMALL = {"latent_dim": 8}
HIDDEN = {"m0": {"hidden": [16]}}


def assert_same_weights(model, other):
    """Every tensor of the two models' state dicts is equal to the bit."""
    for (name, a), b in zip(model.module.state_dict().items(), other.module.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)


def trained(mdata, seed=0, train=FAST, **kwargs):
    model = MIMA.setup(mdata, list(mdata.mod), model_params=SMALL, modality_params=HIDDEN, seed=seed)
    model.train(mdata, dict(train, seed=seed), **kwargs)
    return model


def test_same_seed_same_embeddings_and_other_seed_differs(paired):
    a = trained(paired).get_latent(paired)
    b = trained(paired).get_latent(paired)
    c = trained(paired, seed=1).get_latent(paired)
    assert set(a) == {"poe", "private_m0", "batch_m0", "private_m1", "batch_m1"}
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    assert not np.allclose(a["poe"], c["poe"])


def test_from_settings_is_setup_then_train_with_the_train_seed(paired):
    """A settings block (config.yaml's ``mima:``) gives the model that setup
    + train give; overrides replace their section's entries, and the train
    seed also seeds the weights."""
    settings = {"model": SMALL, "modalities": HIDDEN, "train": dict(FAST, seed=2)}
    model = MIMA.from_settings(paired, list(paired.mod), settings, train_overrides={"max_epochs": 2})
    assert_same_weights(model, trained(paired, seed=2, train=dict(FAST, max_epochs=2)))
    assert model.seed == 2 and model.train_settings["max_epochs"] == 2 and model.training_result.epochs_run == 2
    unimodal = MIMA.from_settings(paired, ["m0"], settings, model_overrides={"shared": False},
                                  train_overrides={"max_epochs": 1})
    assert not unimodal.config.shared and settings["model"] == SMALL  # the block itself is left as it was


def test_sparse_and_dense_input_give_the_same_model(paired):
    dense = paired.copy()
    dense.mod["m0"].X = paired.mod["m0"].X.toarray()
    assert sp.issparse(paired.mod["m0"].X)
    a, b = trained(paired).get_latent(paired), trained(dense).get_latent(dense)
    np.testing.assert_allclose(a["poe"], b["poe"], rtol=1e-5, atol=1e-6)


def test_minibatches_never_densify_the_whole_matrix(monkeypatch):
    matrix = sp.random(1000, 50, density=0.1, format="csr", dtype=np.float32, random_state=0)
    data = PairedArrays({"m": matrix}, np.zeros(1000, dtype=int))
    assert sp.issparse(data.matrices["m"])
    densified = []
    original = sp.csr_matrix.toarray
    monkeypatch.setattr(sp.csr_matrix, "toarray", lambda self, *a, **k: densified.append(self.shape[0]) or original(self, *a, **k))
    for rows in minibatch_rows(np.arange(1000), 128, (0, 0)):
        before = len(densified)
        x, _, _ = data.minibatch(rows, torch.device("cpu"))
        assert isinstance(x["m"], SparseRows) and len(densified) == before  # the CPU model takes sparse rows
        dense, _, _ = data.minibatch(rows, torch.device("cpu"), sparse=False)  # what other devices get
        np.testing.assert_array_equal(dense["m"].numpy(), original(matrix[rows]))
        np.testing.assert_array_equal(x["m"].to_dense().numpy(), dense["m"].numpy())
    assert densified and max(densified) <= 128


def test_split_is_seeded_80_20(paired):
    result = trained(paired).training_result
    assert result.validation_indices.size == round(0.2 * paired.n_obs)
    assert not set(result.train_indices) & set(result.validation_indices)
    again = trained(paired).training_result
    np.testing.assert_array_equal(result.validation_indices, again.validation_indices)
    assert len(result.history["train_total"]) == 3 and len(result.history["validation_total"]) == 3


def test_checkpoint_resume_ends_like_an_uninterrupted_run(paired, tmp_path, monkeypatch):
    train = dict(FAST, max_epochs=4)
    uninterrupted = trained(paired, train=train, checkpoint_dir=tmp_path / "a")
    assert (tmp_path / "a" / trainer.CHECKPOINT_NAME).exists()

    calls = {"n": 0}
    real_epoch = trainer._run_epoch

    def dies_in_third_epoch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:  # train + validation per epoch: the 5th call is epoch 3's training
            raise KeyboardInterrupt("killed")
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(trainer, "_run_epoch", dies_in_third_epoch)
    with pytest.raises(KeyboardInterrupt):
        trained(paired, train=train, checkpoint_dir=tmp_path / "b")
    monkeypatch.setattr(trainer, "_run_epoch", real_epoch)
    state = torch.load(tmp_path / "b" / trainer.CHECKPOINT_NAME, weights_only=True)
    assert state["epoch"] == 2

    resumed = trained(paired, train=train, checkpoint_dir=tmp_path / "b")
    assert resumed.training_result.resumed_from_epoch == 2
    assert_same_weights(uninterrupted, resumed)
    assert resumed.history == uninterrupted.history


def test_checkpoint_of_another_run_is_not_resumed(paired, tmp_path):
    trained(paired, train=dict(FAST, max_epochs=2), checkpoint_dir=tmp_path)
    other = trained(paired, train=dict(FAST, max_epochs=3, lr=5e-4), checkpoint_dir=tmp_path)
    assert other.training_result.resumed_from_epoch == 0 and other.training_result.epochs_run == 3


def test_early_stopping_stops_when_validation_stalls(paired):
    model = trained(paired, train=dict(FAST, max_epochs=200, lr=0.05, early_stopping=True, patience=2, min_delta=10.0))
    assert model.training_result.stopped_early
    assert model.training_result.epochs_run == 3  # epoch 1 sets the best; 2 and 3 miss it by 10: stop


def test_save_load_round_trip(paired, tmp_path):
    model = trained(paired)
    model.save(tmp_path / "model")
    loaded = MIMA.load(tmp_path / "model")
    for name, value in model.get_latent(paired).items():
        np.testing.assert_array_equal(loaded.get_latent(paired)[name], value)
    np.testing.assert_array_equal(loaded.translate(paired, "m0", "m1"), model.translate(paired, "m0", "m1"))
    assert loaded.history.keys() == model.history.keys()
    for name, values in model.history.items():
        assert loaded.history[name] == pytest.approx(values)
    umask = os.umask(0)
    os.umask(umask)
    # a new folder's usual mode, not mkdtemp's private one: results are shared on clusters
    assert os.stat(tmp_path / "model").st_mode & 0o777 == 0o777 & ~umask


def test_batch_corrected_output_ignores_the_batch_latent(paired):
    model = trained(paired)
    corrected = model.reconstruct(paired, "batch_corrected")
    denoised = model.reconstruct(paired, "denoised")
    with torch.no_grad():
        for encoder in model.module.encoders.values():
            encoder.batch.linear.weight.add_(1.0)
    np.testing.assert_array_equal(model.reconstruct(paired, "batch_corrected")["m0"], corrected["m0"])
    assert not np.allclose(model.reconstruct(paired, "denoised")["m0"], denoised["m0"])


def test_translation_never_reads_the_target_by_default(paired):
    model = trained(paired)
    translated = model.translate(paired, "m0", "m1")
    garbled = paired.copy()
    garbled.mod["m1"].X = np.random.default_rng(0).random(garbled.mod["m1"].shape).astype(np.float32) * 100
    np.testing.assert_array_equal(model.translate(garbled, "m0", "m1"), translated)
    assert not np.allclose(model.translate(garbled, "m0", "m1", target_batch="encode"), translated)


def test_translation_into_an_absent_modality_uses_the_samples_mean_batch_latent(paired):
    model = trained(paired)
    source_only = paired.copy()
    del source_only.mod["m1"]
    source_only.update()
    translated = model.translate(source_only, "m0", "m1")
    np.testing.assert_array_equal(translated, model.translate(paired, "m0", "m1"))
    # and that mean is over training cells of the sample
    result = model.training_result
    latent = model.get_latent(paired)["batch_m1"]
    codes = paired.obs["batch"].cat.codes.to_numpy()
    sample = codes[0]
    rows = result.train_indices[codes[result.train_indices] == sample]
    np.testing.assert_allclose(model.module.batch_latent_mean[1, sample].cpu().numpy(), latent[rows].mean(0),
                               rtol=1e-4, atol=1e-5)


def test_outputs_contract(paired):
    out = trained(paired).outputs(paired)
    assert set(out.mod) == {"m0", "m1"}
    assert set(out.mod["m0"].layers) == {"denoised", "batch_corrected", "translated_from_m1"}
    assert out.mod["m1"].layers["translated_from_m0"].shape == paired.mod["m1"].shape
    assert list(out.obs_names) == list(paired.obs_names)


def test_unimodal_model_embeds_private_and_batch_only(paired):
    single = paired.copy()
    model = MIMA.setup(single, ["m0"], model_params=dict(SMALL, shared=False), modality_params=HIDDEN)
    model.train(single, FAST)
    assert set(model.get_latent(single)) == {"private_m0", "batch_m0"}
    with pytest.raises(ValueError, match="cannot translate"):
        model.translate(single, "m0", "m0")


def test_unseen_sample_or_features_are_clear_errors(paired):
    model = trained(paired)
    other = make_mudata(seed=3, n_batches=4)
    with pytest.raises(InputError, match=r"obs\['batch'\].*not seen in training"):
        model.get_latent(other)
    shuffled = paired[:, :].copy()
    shuffled.mod["m1"] = shuffled.mod["m1"][:, ::-1].copy()
    with pytest.raises(InputError, match="var_names"):
        model.get_latent(shuffled)


def test_cuda_path_when_available(paired):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device on this machine; the CUDA path is checked on a GPU machine")
    model = trained(paired, train=dict(FAST, device="cuda"))
    assert next(model.module.parameters()).is_cuda and model.module.batch_latent_mean.is_cuda
    again = trained(paired, train=dict(FAST, device="cuda"))
    assert_same_weights(model, again)  # seeded CUDA training is deterministic
    # CUDA draws its own dropout masks and noise, so weights differ from a CPU
    # run's; the same weights give the same embedding on either device
    on_cuda = model.get_latent(paired)
    on_cpu = model.to("cpu").get_latent(paired)
    for name in on_cuda:
        np.testing.assert_allclose(on_cuda[name], on_cpu[name], rtol=1e-4, atol=1e-5, err_msg=name)
    cpu = trained(paired, train=dict(FAST, device="cpu"))
    assert model.history["train_total"][-1] < model.history["train_total"][0]
    assert model.history["validation_total"][-1] == pytest.approx(cpu.history["validation_total"][-1], rel=0.1)


def test_max_steps_ends_training_after_that_many_steps(paired):
    model = trained(paired, train=dict(FAST, max_epochs=10, max_steps=5))
    result = model.training_result
    assert result.steps == 5  # 96 training cells in batches of 32: 3 steps an epoch
    assert result.epochs_run == 2 and len(result.epoch_seconds) == 2 == len(result.validation_seconds)
    assert all(0 <= v <= e for v, e in zip(result.validation_seconds, result.epoch_seconds))


def test_expanded_and_decoded_losses_train_the_same_model(paired):
    """The training loss without reconstructions (used where it is cheaper)
    trains the model that decoding and comparing trains."""
    models = {}
    for method in ("dense", "gram"):
        model = MIMA.setup(paired, ["m0", "m1"], model_params=SMALL, modality_params=HIDDEN)
        model.module.error_method = method
        model.train(paired, FAST)
        models[method] = model
    np.testing.assert_allclose(models["gram"].get_latent(paired)["poe"], models["dense"].get_latent(paired)["poe"],
                               rtol=1e-4, atol=1e-5)
    for name, values in models["dense"].history.items():
        assert models["gram"].history[name] == pytest.approx(values, rel=1e-4, abs=1e-6)
