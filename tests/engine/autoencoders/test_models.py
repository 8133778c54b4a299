"""engine.autoencoders.models and procedures: the papers' shapes and sizes, VAE sampling, the KL known answers."""

from __future__ import annotations

import pytest
import torch

from engine.autoencoders.models import build_autoencoder, encoder_side, hidden_width
from engine.autoencoders.procedures import PROCEDURES, kl_divergence, procedure
from engine.errors import InputError


def _parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("size, side", [(64, 2), (80, 3), (96, 4)])
def test_image_autoencoder_shapes_follow_the_paper(size: int, side: int) -> None:
    model = build_autoencoder(procedure("I-I-PW"), size, latent=32)
    assert encoder_side(size) == side and model.mu.in_features == 256 * side * side
    with torch.no_grad():
        out = model.eval()(torch.rand(2, 3, size, size))
    assert out.output.shape == (2, 3, size, size) and out.mu.shape == (2, 32) and out.logvar is None
    assert 0.0 <= float(out.output.min()) and float(out.output.max()) <= 1.0  # sigmoid output


def test_sizes_match_the_spec_at_64_px() -> None:
    model = build_autoencoder(procedure("I-I-PW"), 64)
    assert 0.68e6 < _parameters(model.body) < 0.70e6  # ~0.7M conv encoder
    assert 3.5e6 < _parameters(model.decoder) < 3.7e6  # ~3.6M conv decoder
    assert hidden_width(9408) == 2048 and hidden_width(1000) == 500  # h = min(P / 2, 2048)
    fp = build_autoencoder(procedure("I-F-FP"), 64, 64, features=9408)
    assert fp.decoder[-1].weight.shape == (9408, 2048)  # the ~19.3M output layer of AlexNet relu2


@pytest.mark.parametrize("name", list(PROCEDURES))
def test_each_procedure_reads_and_writes_what_its_id_says(name: str) -> None:
    chosen = PROCEDURES[name]
    model = build_autoencoder(chosen, 64, 16, features=100).eval()
    inputs = torch.rand(3, 3, 64, 64) if name[0] == "I" else torch.rand(3, 100)
    with torch.no_grad():
        output = model(inputs).output
    assert output.shape == ((3, 3, 64, 64) if name[2] == "I" else (3, 100))
    assert chosen.needs_loss_network == (name != "I-I-PW")


def test_a_vae_samples_while_training_and_decodes_mu_in_eval() -> None:
    model = build_autoencoder(procedure("F-F-FP"), 64, 8, features=40, variational=True)
    inputs = torch.rand(4, 40)
    torch.manual_seed(0)
    first, second = model.train()(inputs).output, model(inputs).output
    assert not torch.allclose(first, second)  # different samples
    model.eval()
    with torch.no_grad():
        out = model(inputs)
        torch.testing.assert_close(out.output, model.decoder(out.mu))
        torch.testing.assert_close(model.encode(inputs), out.mu)


def test_kl_divergence_known_answers() -> None:
    zeros = torch.zeros(5, 3)
    assert float(kl_divergence(zeros, zeros)) == 0.0  # the posterior is the prior
    assert float(kl_divergence(torch.ones(5, 3), zeros)) == pytest.approx(1.0)  # mean of mu^2, no factor 1/2
    logvar = torch.full((2, 2), 1.0)
    expected = -(1 + 1 - torch.exp(torch.tensor(1.0)))
    assert float(kl_divergence(torch.zeros(2, 2), logvar)) == pytest.approx(float(expected))


def test_unknown_procedures_and_sizes_are_refused() -> None:
    assert procedure(" i-f-fp ").id == "I-F-FP"
    with pytest.raises(InputError, match="I-I-PW, I-I-PS"):
        procedure("I-I-XX")
    with pytest.raises(InputError, match="64 \\+ 16 n"):
        build_autoencoder(procedure("I-I-PW"), 48)
