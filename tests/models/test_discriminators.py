"""The vocoder's discriminators and adversarial losses (groundwork for #13)."""

import torch

from models.audio.discriminators import (
    DiscriminatorConfig,
    Discriminators,
    discriminator_loss,
    feature_loss,
    generator_loss,
)


def test_every_sub_discriminator_judges_a_batch():
    torch.manual_seed(0)
    d = Discriminators(DiscriminatorConfig(period_channels=(4, 8), resolution_channels=4))
    x = torch.randn(2, 4000)                    # not a multiple of any period
    out = d(x)
    assert len(out) == 5 + 3
    for logits, feats in out:
        assert logits.shape[0] == 2 and len(feats) >= 3
        assert torch.isfinite(logits).all()


def test_losses_have_their_minimum_where_they_should():
    torch.manual_seed(0)
    d = Discriminators(DiscriminatorConfig(period_channels=(4, 8), resolution_channels=4))
    x = torch.randn(2, 4096)
    real = d(x)
    ones = [(torch.ones_like(r), f) for r, f in real]
    zeros = [(torch.zeros_like(r), f) for r, f in real]
    assert discriminator_loss(ones, zeros).item() == 0.0
    assert discriminator_loss(zeros, ones).item() == 2.0
    assert generator_loss(ones).item() == 0.0 and generator_loss(zeros).item() == 1.0
    assert feature_loss(real, real).item() == 0.0
    assert feature_loss(real, d(x + 0.5 * torch.randn_like(x))).item() > 0.0
    # A discriminator step lowers its loss on fixed real and generated audio.
    fake = torch.randn(2, 4096) * 0.1
    opt = torch.optim.Adam(d.parameters(), 1e-3)
    before = discriminator_loss(d(x), d(fake)).item()
    for _ in range(5):
        loss = discriminator_loss(d(x), d(fake))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert discriminator_loss(d(x), d(fake)).item() < before
