"""The MIMA module against the closed forms of DESIGN §3."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from torch import nn
from torch.distributions import Normal, kl_divergence

from mima.model.config import ModalityConfig, ModelConfig
from mima.model.layers import InputLinear, gram_is_cheaper
from mima.model.loss import _OutputProducts, kl_standard_normal, linear_squared_error, mima_loss
from mima.model.module import MIMAModule
from mima.model.poe import product_of_experts
from mima.model.sparse import SparseRows, matmul, squared_norm
from mima.train.config import TrainConfig
from mima.train.trainer import planned_epochs


def build(dims=(50, 8, 20), n_batches=3, hidden=None, seed=0, output_activation="none", **kwargs):
    torch.manual_seed(seed)
    modalities = [ModalityConfig(f"m{i}", d, hidden=hidden if hidden is not None else ([16] if d > 10 else []),
                                 output_activation=output_activation) for i, d in enumerate(dims)]
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


def test_batch_head_block_products_equal_computing_every_block():
    """The CPU path (each cell through its own block) gives the outputs and
    gradients of computing every block and gathering, with samples absent
    from the minibatch and cells in no particular order."""
    from mima.model.layers import BatchGaussianHead

    torch.manual_seed(0)
    head = BatchGaussianHead(n_in=7, latent_dim=3, n_batches=5, logvar_clamp=12.0)
    h = torch.randn(11, 7, requires_grad=True)
    batch = torch.tensor([3, 0, 3, 4, 0, 0, 4, 3, 3, 0, 4])  # samples 1 and 2 absent
    upstream = torch.randn(2, 11, 3)

    mean, logvar = head(h, batch)
    (upstream[0] * mean + upstream[1] * logvar).sum().backward()
    block_grads = [t.grad.clone() for t in (h, head.linear.weight, head.linear.bias)]
    for t in (h, head.linear.weight, head.linear.bias):
        t.grad = None

    blocks = head.linear(h).view(11, 5, 2, 3)[torch.arange(11), batch]
    (upstream[0] * blocks[:, 0] + upstream[1] * blocks[:, 1].clamp(-12, 12)).sum().backward()
    torch.testing.assert_close(mean, blocks[:, 0])
    torch.testing.assert_close(logvar, blocks[:, 1])
    for got, expected in zip(block_grads, (h.grad, head.linear.weight.grad, head.linear.bias.grad)):
        torch.testing.assert_close(got, expected)
    absent = head.linear.weight.grad.view(5, 6, 7)[[1, 2]]
    assert torch.all(absent == 0) and torch.all(block_grads[1].view(5, 6, 7)[[1, 2]] == 0)


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


# --- the fast paths compute the same model ------------------------------------------------


def sparse_input(n=24, d=90, density=0.1, seed=2):
    values = sp.random(n, d, density=density, dtype=np.float32, random_state=seed).toarray()
    values[3] = 0  # an all-zero row (a cell lacking the modality)
    return sp.csr_matrix(np.log1p(values * 10))


def test_input_linear_is_nn_linear_transposed_and_takes_sparse_rows():
    torch.manual_seed(0)
    reference = nn.Linear(90, 7)
    torch.manual_seed(0)
    layer = InputLinear(90, 7)  # the same random draws as nn.Linear
    torch.testing.assert_close(layer.weight, reference.weight.t(), rtol=0, atol=0)
    torch.testing.assert_close(layer.bias, reference.bias, rtol=0, atol=0)
    matrix = sparse_input()
    dense = torch.from_numpy(matrix.toarray())
    g = torch.randn(24, 7, generator=torch.Generator().manual_seed(1))
    grads = []
    for x in (dense, SparseRows(matrix)):
        layer.zero_grad()
        out = layer(x)
        torch.testing.assert_close(out, reference(dense), rtol=1e-5, atol=1e-6)
        (out * g).sum().backward()
        grads.append((layer.weight.grad.clone(), layer.bias.grad.clone()))
    torch.testing.assert_close(grads[1][0], grads[0][0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grads[1][1], grads[0][1], rtol=1e-5, atol=1e-6)


def test_input_linear_loads_an_nn_linear_state_dict():
    reference = nn.Linear(90, 7)
    layer = InputLinear(90, 7)
    layer.load_state_dict(reference.state_dict())
    x = torch.randn(5, 90)
    torch.testing.assert_close(layer(x), reference(x))


def test_sparse_products_match_dense_ones():
    matrix = sparse_input()
    rows = SparseRows(matrix)
    dense = torch.from_numpy(matrix.toarray())
    torch.testing.assert_close(squared_norm(rows), dense.pow(2).sum(-1))
    weight = torch.randn(90, 5, requires_grad=True)
    bias = torch.randn(90, requires_grad=True)

    def value_and_grads(x):
        out = (matmul(x, weight) ** 2).sum() + matmul(x, bias).pow(2).sum()
        return (out.detach(), *torch.autograd.grad(out, (weight, bias)))

    for got, want in zip(value_and_grads(rows), value_and_grads(dense)):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_output_products_gradient_is_exact():
    weight = torch.randn(30, 6, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(30, dtype=torch.float64, requires_grad=True)
    x = torch.randn(5, 30, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda w, b: _OutputProducts.apply(w, b, x), (weight, bias))


@pytest.mark.parametrize("reduction", ["mean", "sum_features"])
def test_expanded_squared_error_equals_decoding_and_comparing(reduction):
    """linear_squared_error (no reconstructions) against the direct
    ‖x − (W h + b)‖², in float64, for dense and sparse targets."""
    g = torch.Generator().manual_seed(0)
    matrix = sparse_input()
    h = torch.randn(3, 24, 8, generator=g, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(90, 8, generator=g, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(90, generator=g, dtype=torch.float64, requires_grad=True)
    x = torch.from_numpy(matrix.toarray()).double()
    direct = (x - (h @ weight.t() + bias)).pow(2)
    direct = direct.mean(-1) if reduction == "mean" else direct.sum(-1)
    expanded = linear_squared_error(x, h, weight, bias, reduction)
    torch.testing.assert_close(expanded, direct)
    cell_weights = torch.rand(3, 24, generator=g, dtype=torch.float64)
    want = torch.autograd.grad((direct * cell_weights).sum(), (h, weight, bias))
    got = torch.autograd.grad((expanded * cell_weights).sum(), (h, weight, bias))
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b)
    # the sparse (float32) path agrees to float32 precision, gradients included
    h32, weight32, bias32 = (t.detach().float().requires_grad_() for t in (h, weight, bias))
    sparse = linear_squared_error(SparseRows(matrix), h32, weight32, bias32, reduction)
    torch.testing.assert_close(sparse.double(), direct, rtol=1e-4, atol=1e-4)
    got = torch.autograd.grad((sparse * cell_weights.float()).sum(), (h32, weight32, bias32))
    for a, b in zip(got, want):
        torch.testing.assert_close(a.double(), b, rtol=1e-4, atol=1e-4)


def test_module_loss_and_gradients_are_the_same_on_every_path():
    """Dense vs sparse input, decoded vs expanded squared errors: the same
    loss parts and gradients (to float32 rounding)."""
    module = build(dims=(90, 8), hidden=None)
    module.eval()  # posterior means: deterministic
    matrix = sparse_input()
    _, batch = inputs(module, n=24)
    other = torch.rand(24, 8, generator=torch.Generator().manual_seed(3))
    results = {}
    for method in ("dense", "gram"):
        for sparse in (False, True):
            module.error_method = method
            module.zero_grad()
            x = {"m0": SparseRows(matrix) if sparse else torch.from_numpy(matrix.toarray()), "m1": other}
            loss, parts = module.loss(x, batch)
            loss.backward()
            results[method, sparse] = parts, {n: p.grad.clone() for n, p in module.named_parameters()}
    reference_parts, reference_grads = results["dense", False]
    for (parts, grads) in results.values():
        assert parts == pytest.approx(reference_parts, rel=1e-5, abs=1e-7)
        for name, grad in grads.items():
            torch.testing.assert_close(grad, reference_grads[name], rtol=1e-4, atol=1e-6, msg=name)


def test_one_stacked_decoder_call_equals_separate_calls():
    module = build()
    module.eval()
    x, batch = inputs(module)
    out = module(x, batch)
    post = {m: module.encoders[m](x[m], batch) for m in module.names}
    poe_mean = out["poe"][0]
    for m in module.names:
        z_batch = post[m]["batch"][0]
        torch.testing.assert_close(out["recon_private"][m], module.decode(m, post[m]["private"][0] + z_batch))
        torch.testing.assert_close(out["recon_poe"][m], module.decode(m, poe_mean + z_batch))
        for n, predicted in out["translation"][m].items():
            torch.testing.assert_close(predicted, module.decode(m, post[n]["shared"][0] + z_batch))


def test_expanded_errors_are_used_only_where_cheaper():
    assert gram_is_cheaper(n_rows=384, width=300, n_features=13_953, nnz=143_000, training=True)
    assert not gram_is_cheaper(n_rows=3 * 8, width=300, n_features=13_953, nnz=9_000, training=True)
    decoder = build(dims=(90,), hidden=[4], output_activation="softplus").decoders["m0"]
    with pytest.raises(ValueError, match="linear decoder output"):
        decoder.squared_errors(torch.randn(6, 4), torch.rand(3, 90), method="gram")


def test_fixed_weights_computes_the_output_gram_once_and_changes_nothing(monkeypatch):
    import mima.model.layers as layers

    module = build(dims=(90, 8))
    module.eval()
    module.error_method = "gram"
    _, batch = inputs(module, n=24)
    x = {"m0": SparseRows(sparse_input()), "m1": torch.rand(24, 8, generator=torch.Generator().manual_seed(3))}
    with torch.no_grad():
        _, expected = module.loss(x, batch)
        calls = []
        real = layers.output_gram
        monkeypatch.setattr(layers, "output_gram", lambda *a: calls.append(1) or real(*a))
        with module.fixed_weights():
            parts = [module.loss(x, batch)[1] for _ in range(3)]
    assert len(calls) == 2  # once per decoder, not once per minibatch
    assert all(p == expected for p in parts)
    assert all(not d.reuse_gram and d._gram is None for d in module.decoders.values())
