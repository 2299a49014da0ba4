"""rosinality's stylegan2-pytorch checkpoints (.pt) through the studio's StyleGAN2: written
here in that format (names, shapes, the args Namespace) with the weights of
tests/data/stylegan2-rosinality-reference.json, whose outputs come from rosinality's own
code (MIT; run in a scratch folder with a small channel layout, CPU paths)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from models.checkpoints import CheckpointError
from models.registry import Registry

REFERENCE = json.loads((Path(__file__).resolve().parent.parent / "data" /
                        "stylegan2-rosinality-reference.json").read_text())


def shapes(size: int, sd: int, n_mlp: int, ch: dict[int, int]) -> dict[str, tuple]:
    """rosinality's g_ema keys and shapes for a generator of this size and channels."""
    out: dict[str, tuple] = {}
    for i in range(1, n_mlp + 1):
        out[f"style.{i}.weight"], out[f"style.{i}.bias"] = (sd, sd), (sd,)
    out["input.input"] = (1, ch[4], 4, 4)

    def styled(name: str, cin: int, cout: int, up: bool) -> None:
        out[f"{name}.conv.weight"] = (1, cout, cin, 3, 3)
        out[f"{name}.conv.modulation.weight"] = (cin, sd)
        out[f"{name}.conv.modulation.bias"] = (cin,)
        out[f"{name}.noise.weight"], out[f"{name}.activate.bias"] = (1,), (cout,)
        if up:
            out[f"{name}.conv.blur.kernel"] = (4, 4)

    def rgb(name: str, cin: int, up: bool) -> None:
        out[f"{name}.conv.weight"] = (1, 3, cin, 1, 1)
        out[f"{name}.conv.modulation.weight"] = (cin, sd)
        out[f"{name}.conv.modulation.bias"] = (cin,)
        out[f"{name}.bias"] = (1, 3, 1, 1)
        if up:
            out[f"{name}.upsample.kernel"] = (4, 4)

    styled("conv1", ch[4], ch[4], False)
    rgb("to_rgb1", ch[4], False)
    log2 = int(np.log2(size))
    for j, r in enumerate(2 ** i for i in range(3, log2 + 1)):
        styled(f"convs.{2 * j}", ch[r // 2], ch[r], True)
        styled(f"convs.{2 * j + 1}", ch[r], ch[r], False)
        rgb(f"to_rgbs.{j}", ch[r], True)
    for i in range((log2 - 2) * 2 + 1):
        r = 2 ** ((i + 5) // 2)
        out[f"noises.noise_{i}"] = (1, 1, r, r)
    return out


def write_pt(path: Path, key: str, extra: dict | None = None) -> Path:
    case = REFERENCE[key]
    kw, ch = case["kwargs"], {int(k): v for k, v in case["channels"].items()}
    f = torch.tensor([1.0, 3.0, 3.0, 1.0])
    kernel = torch.outer(f, f) / 64 * 4
    g = {}
    for name, shape in shapes(kw["size"], kw["style_dim"], kw["n_mlp"], ch).items():
        if name.endswith("kernel"):
            g[name] = kernel.clone()
            continue
        rs = np.random.RandomState(zlib.crc32(name.encode()))
        scale = 1.0 if (name.endswith("weight") and "noise" not in name) or name.startswith(
            ("input", "noises")) else 0.2
        g[name] = torch.from_numpy(np.asarray(rs.randn(*shape) * scale)).float()
    args = argparse.Namespace(size=kw["size"], latent=kw["style_dim"], n_mlp=kw["n_mlp"],
                              channel_multiplier=2, lr_mlp=0.01)
    latent_avg = torch.from_numpy(np.random.RandomState(5).randn(kw["style_dim"]) * 0.2)
    torch.save({"g_ema": g, "args": args, "latent_avg": latent_avg.float(), **(extra or {})},
               path)
    return path


@pytest.mark.parametrize("key", list(REFERENCE))
def test_codes_and_pictures_equal_rosinalitys_code(tmp_path, key):
    reg = Registry(None)
    info = reg.add_checkpoint(write_pt(tmp_path / f"{key}.pt", key))
    case = REFERENCE[key]
    assert info.family == "stylegan2-rosinality"
    assert info.image_shape == (case["kwargs"]["size"],) * 2 + (3,)
    b = reg.get(info.name)
    for k, out in case["outputs"].items():
        seed, psi = k.split("_")
        ws = b.codes_from_seeds([int(seed)], psi=float(psi))
        with torch.no_grad():
            img = b.net.synthesis(torch.from_numpy(ws), "const")[0].numpy()
        ref = np.asarray(out["img"], np.float32)
        assert np.abs(ws[0] - np.asarray(out["ws"], np.float32)).max() < 1e-6
        assert np.abs(img - ref).mean() * 127.5 <= 1 / 255 and np.abs(img - ref).max() < 1e-5


def test_without_latent_avg_truncation_uses_the_mapped_mean(tmp_path):
    path = write_pt(tmp_path / "x.pt", "tiny16")
    blob = torch.load(path, weights_only=False)
    del blob["latent_avg"]
    torch.save(blob, path)
    reg = Registry(None)
    info = reg.add_checkpoint(path)
    b = reg.get(info.name)
    z = torch.randn(4096, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        mean = b.net.mapping(z, None)[:, 0].mean(0).numpy()
    assert np.allclose(b.mean_code()[0], mean, atol=1e-6)
    assert reg.card(info.name)["config"]["w_avg"] == "mean of 4096 seeded z"


def test_bad_files_get_clear_messages_and_run_nothing(tmp_path):
    marker = tmp_path / "pwned.txt"

    class Evil:
        def __reduce__(self):
            return (Path.write_text, (marker, "pwned"))

    write_pt(tmp_path / "evil.pt", "tiny16", {"hook": Evil()})
    with pytest.raises(CheckpointError, match="pathlib"):
        Registry(None).add_checkpoint(tmp_path / "evil.pt")
    assert not marker.exists()
    path = write_pt(tmp_path / "cut.pt", "tiny16")
    blob = torch.load(path, weights_only=False)
    del blob["g_ema"]["to_rgbs.0.bias"]
    blob["g_ema"]["to_rgbs.1.conv.weight"] = torch.zeros(1)
    torch.save(blob, path)
    with pytest.raises(CheckpointError):
        Registry(None).add_checkpoint(path)


def test_cli_stylemix_takes_a_rosinality_checkpoint(tmp_path):
    path = write_pt(tmp_path / "550000.pt", "tiny32")
    r = subprocess.run([sys.executable, "-m", "studio", "stylemix", "--model", str(path),
                        "--a", "1", "--b", "2", "--preset", "coarse", "--out",
                        str(tmp_path / "m.png")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert Image.open(tmp_path / "m.png").size == (32, 32)
