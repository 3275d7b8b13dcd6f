"""The MIMA module against the closed forms of DESIGN §3."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from mima.model.config import ModalityConfig, ModelConfig, TrainConfig
from mima.model.loss import kl_standard_normal, mima_loss
from mima.model.module import MIMAModule
from mima.model.poe import product_of_experts
from mima.train.trainer import planned_epochs


def build(dims=(50, 8, 20), n_batches=3, hidden=None, seed=0, **kwargs):
    torch.manual_seed(seed)
    modalities = [ModalityConfig(f"m{i}", d, hidden=hidden if hidden is not None else ([16] if d > 10 else [])) for i, d in enumerate(dims)]
    return MIMAModule(ModelConfig(modalities, n_batches=n_batches, latent_dim=4, **kwargs))


def inputs(module, n=10, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = {m.name: torch.rand(n, m.n_features, generator=g) for m in module.config.modalities}
    batch = torch.randint(0, module.config.n_batches, (n,), generator=g)
    return x, batch


def test_poe_matches_closed_form_with_missing_expert():
    g = torch.Generator().manual_seed(0)
    means = [torch.randn(5, 3, generator=g) for _ in range(2)]
    logvars = [torch.randn(5, 3, generator=g) for _ in range(2)]
    present = [torch.tensor([1, 1, 0, 1, 0], dtype=torch.bool), torch.ones(5, dtype=torch.bool)]
    mean, logvar = product_of_experts(means, logvars, present)
    for cell in range(5):
        precisions, weighted = [np.ones(3)], [np.zeros(3)]  # the N(0, I) prior expert
        for i in range(2):
            if present[i][cell]:
                t = 1.0 / np.exp(logvars[i][cell].numpy())
                precisions.append(t)
                weighted.append(means[i][cell].numpy() * t)
        total = np.sum(precisions, axis=0)
        np.testing.assert_allclose(mean[cell].numpy(), np.sum(weighted, axis=0) / total, rtol=1e-5)
        np.testing.assert_allclose(np.exp(logvar[cell].numpy()), 1.0 / total, rtol=1e-5)


def test_poe_of_prior_alone_is_standard_normal():
    mean, logvar = product_of_experts([torch.ones(2, 3)], [torch.zeros(2, 3)], [torch.zeros(2, dtype=torch.bool)])
    assert torch.all(mean == 0) and torch.all(logvar == 0)


def test_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mean, logvar = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
    expected = kl_divergence(Normal(mean, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(-1)
    torch.testing.assert_close(kl_standard_normal(mean, logvar, "sum"), expected)
    torch.testing.assert_close(kl_standard_normal(mean, logvar, "mean"), expected / 4)


def test_batch_head_uses_the_cells_sample_block():
    module = build()
    head = module.encoders["m0"].batch
    h = torch.randn(6, 16)
    batch = torch.tensor([0, 1, 2, 0, 1, 2])
    before = head(h, batch)[0].detach().clone()
    with torch.no_grad():  # block 1 occupies output rows [1*2*L, 2*2*L)
        head.linear.weight[2 * 4: 4 * 4] += 1.0
    after = head(h, batch)[0]
    changed = (after - before).abs().sum(-1) > 0
    assert changed.tolist() == [False, True, False, False, True, False]
    # and the block's mean is exactly the linear map's slice for that sample
    full = head.linear(h).view(6, 3, 2, 4)
    torch.testing.assert_close(after, full[torch.arange(6), batch, 0])


def test_translation_loss_does_not_train_batch_or_private_heads():
    module = build()
    module.train()
    x, batch = inputs(module)
    out = module(x, batch)
    translation = sum(((x[m] - pred) ** 2).mean() for m, preds in out["translation"].items() for pred in preds.values())
    translation.backward()
    for name, encoder in module.encoders.items():
        for p in list(encoder.batch.parameters()) + list(encoder.private.parameters()):
            assert p.grad is None or torch.all(p.grad == 0), f"{name} batch/private head got a translation gradient"
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in encoder.shared.parameters())


def test_loss_equals_hand_computation():
    module = build(beta_poe=0.1)
    module.config.modalities[0].beta = 0.001
    module.eval()  # posterior means instead of samples: deterministic
    x, batch = inputs(module)
    total, parts = module.loss(x, batch)
    with torch.no_grad():
        post = {m: module.encoders[m](x[m], batch) for m in module.names}
        precision = 1 + sum(torch.exp(-post[m]["shared"][1]) for m in module.names)
        z_poe = sum(post[m]["shared"][0] * torch.exp(-post[m]["shared"][1]) for m in module.names) / precision
        poe_logvar = -torch.log(precision)

        def kl(mean, logvar):
            return (0.5 * (mean ** 2 + logvar.exp() - logvar - 1).sum(1)).mean()

        def mse(a, b):
            return ((a - b) ** 2).mean()

        shared = 0.1 * kl(z_poe, poe_logvar)
        private = 0.0
        for mod in module.config.modalities:
            m, dec, zb = mod.name, module.decoders[mod.name], post[mod.name]["batch"][0]
            shared += mse(x[m], dec(z_poe + zb))
            shared += sum(mse(x[m], dec(post[n]["shared"][0] + zb)) for n in module.names if n != m)
            private += mse(x[m], dec(post[m]["private"][0] + zb))
            private += mod.beta * sum(kl(*post[m][k]) for k in ("batch", "private", "shared"))
    assert parts["shared"] == pytest.approx(float(shared), rel=1e-5)
    assert parts["private"] == pytest.approx(float(private), rel=1e-5)
    assert float(total.detach()) == pytest.approx(float(shared + private), rel=1e-5)


def test_masked_cells_do_not_count_in_a_modalitys_terms():
    module = build(dims=(30, 8))
    module.eval()
    x, batch = inputs(module, n=8)
    present = {"m0": torch.ones(8), "m1": torch.tensor([1, 1, 1, 1, 0, 0, 0, 0.0])}
    _, parts = module.loss(x, batch, present)
    x_garbage = {"m0": x["m0"], "m1": x["m1"].clone()}
    x_garbage["m1"][4:] = 1e3  # values of cells that lack m1 must not reach any term
    present_poe = {m: p.bool() for m, p in present.items()}
    # the garbage rows are encoded but left out of the product of experts and of m1's terms
    out = module(x_garbage, batch, present)
    _, parts_garbage = mima_loss(out, x_garbage, present, module.config)
    assert parts_garbage["recon_private"] == pytest.approx(parts["recon_private"], rel=1e-5)
    assert parts_garbage["kl_poe"] == pytest.approx(parts["kl_poe"], rel=1e-5)
    poe_mean, _ = module.encode(x_garbage, batch, present_poe)[1]
    poe_m0_only, _ = module.encode({"m0": x["m0"][4:]}, batch[4:])[1]
    torch.testing.assert_close(poe_mean[4:], poe_m0_only)


@pytest.mark.parametrize("dims", [(40,), (40, 8), (40, 8, 25)])
def test_any_number_of_modalities_trains(dims):
    module = build(dims=dims)
    x, batch = inputs(module)
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-2)
    module.train()
    torch.manual_seed(0)
    first = None
    for _ in range(30):
        loss, parts = module.loss(x, batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        first = first if first is not None else parts["total"]
    assert np.isfinite(parts["total"]) and parts["total"] < first
    if len(dims) == 1:
        assert parts["translation"] == 0.0
    else:
        assert parts["translation"] > 0.0


def test_unimodal_has_no_shared_latent_or_poe():
    module = build(dims=(40,), shared=False)
    x, batch = inputs(module)
    out = module(x, batch)
    assert out["poe"] is None and "shared" not in out["posteriors"]["m0"]
    assert module.encoders["m0"].shared is None
    _, parts = module.loss(x, batch)
    assert parts["shared"] == 0.0 and parts["private"] == parts["total"] > 0
    with pytest.raises(ValueError, match="exactly one modality"):
        build(dims=(40, 8), shared=False)


def test_encoder_hidden_layers_default_by_dimension():
    assert ModalityConfig("rna", 2000).hidden == [300, 300]
    assert ModalityConfig("morphology", 512).hidden == []
    assert ModalityConfig("adt", 134, hidden=[64]).hidden == [64]
    module = build(dims=(20,), hidden=[])
    assert len(module.encoders["m0"].trunk) == 0


def test_min_steps_raises_epochs_only_for_small_data():
    config = TrainConfig(max_epochs=50, batch_size=128, min_steps=4000)
    assert planned_epochs(480, config) == 1000  # 4 steps an epoch
    assert planned_epochs(72_000, config) == 50  # 563 steps an epoch: the study's 50 stand
    assert planned_epochs(480, TrainConfig(min_steps=0)) == 50
