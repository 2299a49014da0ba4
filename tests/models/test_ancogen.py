"""The AnCoGen-style attribute model (models/audio/ancogen.py, models/train/ancogen.py)."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from models.audio import ancogen as ag
from models.audio import attributes as at
from models.checkpoints import save_checkpoint
from models.protocol import AttributeBackend, Capability
from models.registry import Registry
from models.train import ancogen as tr
from tests.models.test_audio import DATA

TINY = ag.AnCoGenConfig(dim=32, layers=1, heads=2, max_frames=256)


def make_tiny_ancogen(folder, seed=0):
    torch.manual_seed(seed)
    card = {"family": "ancogen", "config": ag.config_to_card(TINY), "description": "tiny test"}
    return save_checkpoint(folder / "tiny-attributes.safetensors", ag.AnCoGen(TINY).state_dict(),
                           card)


def test_scales_round_trip_and_read_expectations():
    sc = ag.scales(ag.AnCoGenConfig())
    f0 = torch.tensor([50.0, 110.0, 220.0, 1100.0])
    back = torch.exp(sc["f0"].centres[sc["f0"].to_bins(f0)])
    assert torch.allclose(back, f0, rtol=0.03)                       # < half a bin (~23 cents)
    probs = torch.zeros(2, sc["snr"].bins)
    probs[0, 3] = probs[1, 10] = 1.0
    assert sc["snr"].expectation(probs).tolist() == pytest.approx(
        [float(sc["snr"].centres[3]), float(sc["snr"].centres[10])])


def test_registry_loads_it_as_an_attribute_model_and_analysis_has_every_frame(tmp_path):
    make_tiny_ancogen(tmp_path)
    reg = Registry(tmp_path)
    info = reg.info("tiny-attributes")
    assert Capability.ATTRIBUTES in info.capabilities
    assert [a.name for a in info.attributes] == ["pitch", "loudness", "snr", "c50"]
    backend = reg.get("tiny-attributes", "cpu")
    assert isinstance(backend, AttributeBackend)
    x = np.random.default_rng(0).normal(0, 0.1, 16000 * 2 + 100).astype(np.float32)
    a = backend.analyse(x)
    assert a["frame_rate"] == 62.5
    assert a["f0_hz"].shape == a["loudness_db"].shape == (at.frames(x.size),)
    assert -5 <= a["snr_db"] <= 50 and -5 <= a["c50_db"] <= 42
    # Longer than the model's window: analysed in pieces, every frame still there.
    long = np.tile(x, 4)
    assert backend.analyse(long)["f0_hz"].shape == (at.frames(long.size),)
    curves = backend.analyse_attributes(np.zeros((80, 30), np.float32))
    assert curves["pitch"].shape == (30,) and curves["snr"].shape == (1,)


def test_training_steps_learn_pitch_from_labelled_glides():
    rate = 16000
    clips, f0s = [], []
    for k in range(6):
        t = np.arange(2 * rate) / rate
        f = 110 * 2 ** (k / 3 + 0.5 * t)
        clips.append((0.3 * np.sin(2 * np.pi * np.cumsum(f) / rate)).astype(np.float32))
        f0s.append(f[np.minimum(at.frame_centres(t.size).astype(int), t.size - 1)])
    rooms = [at.simulate_room(np.random.default_rng(0))]
    ex = tr.Examples(clips, f0s, rooms, [], 1.0, seed=0)
    torch.manual_seed(0)
    net = ag.AnCoGen(TINY)
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    gen = torch.Generator().manual_seed(0)
    fixed = ex.batch(8)
    first = tr.step_loss(net, fixed, torch.Generator().manual_seed(1))[1]
    for _ in range(60):
        loss, _ = tr.step_loss(net, ex.batch(8), gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = tr.step_loss(net, fixed, torch.Generator().manual_seed(1))[1]
    assert after["f0"] < first["f0"] and after["snr"] < first["snr"]
    item = ex.one(snr=10.0, room=None, noise="white", clip=0)
    assert item["snr"] == 10.0 and item["c50"] == tr.DRY_C50
    assert item["f0"].shape == item["loud"].shape == (62,)


def cli(*args):
    return subprocess.run([sys.executable, "-m", "studio", *map(str, args)],
                          capture_output=True, text=True, timeout=180)


def test_attributes_analyze_cli(tmp_path):
    ckpt = make_tiny_ancogen(tmp_path)
    res = cli("attributes", "analyze", DATA / "unseen-us3.flac", "--model", ckpt, "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    n = len(out["f0_hz"])
    assert out["frame_rate"] == 62.5 and n == len(out["loudness_db"]) > 200
    assert isinstance(out["snr_db"], float) and isinstance(out["c50_db"], float)
    assert all(v == 0 or 50 <= v <= 1100 for v in out["f0_hz"])
    short = tmp_path / "short.wav"
    import soundfile as sf

    sf.write(short, np.zeros(1000, np.float32), 16000)
    bad = cli("attributes", "analyze", short, "--model", ckpt)
    assert bad.returncode == 2 and "shorter than 0.25 s" in bad.stderr
    bad = cli("attributes", "analyze", DATA / "unseen-us3.flac", "--model", "vae-glyphs")
    assert bad.returncode == 2 and "not a speech attribute model" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_shipped_attribute_model_on_a_held_out_voice():
    """attributes-speech on tests/data's French speaker (never heard): pitch close to FCPE's
    on the clean clip, and its SNR reading falls when white noise is mixed in at 0 dB."""
    from models.audio.io import read_audio
    from models.registry import default_registry

    reg = default_registry()
    name = reg.default(Capability.ATTRIBUTES)
    assert name == "attributes-speech"
    backend = reg.get(name, "cpu")
    x = read_audio(DATA / "unseen-fr4.flac", 16000).audio
    clean = backend.analyse(x)
    err = at.pitch_error(clean["f0_hz"], at.pitch_fcpe(x))
    assert err["cents"] < 100 and err["voicing_agreement"] > 0.8
    noise = np.random.default_rng(0).normal(0, 1, x.size).astype(np.float32)
    noisy = backend.analyse(at.mix_at_snr(x, noise, 0.0))
    assert noisy["snr_db"] < 10 < clean["snr_db"]
    card = reg.card(name)
    assert card["metrics"]["snr0_pitch_hz"] < card["metrics"]["snr0_pyin_pitch_hz"]


# -- regeneration: the content stream and attribute edits --------------------------------

TINY_GEN = ag.AnCoGenConfig(dim=32, layers=1, heads=2, max_frames=256, content_dims=8)


def make_tiny_generator(folder, seed=0):
    torch.manual_seed(seed)
    card = {"family": "ancogen", "config": ag.config_to_card(TINY_GEN),
            "description": "tiny test generator"}
    return save_checkpoint(folder / "tiny-gen.safetensors", ag.AnCoGen(TINY_GEN).state_dict(),
                           card)


def test_content_ignores_level_and_keeps_the_envelope():
    mel = torch.randn(5, 80)
    c = ag.content_of(mel, 20)
    assert c.shape == (5, 20)
    assert torch.allclose(ag.content_of(mel + 3.0, 20), c, atol=1e-5)       # level: no
    assert not torch.allclose(ag.content_of(mel * 1.5, 20), c, atol=1e-2)   # shape: yes
    basis = ag.dct_basis(80, 20)
    assert torch.allclose(basis @ basis.T, torch.eye(20), atol=1e-5)        # orthonormal


def test_init_from_keeps_shared_layers_and_names_new_ones():
    old = ag.AnCoGen(TINY)
    new = ag.AnCoGen(TINY_GEN)
    fresh = ag.init_from(new, old.state_dict())
    assert sorted(fresh) == ["content_in.bias", "content_in.weight", "content_mask",
                             "content_out.bias", "content_out.weight"]
    assert torch.equal(new.mel_in.weight, old.mel_in.weight)


def test_plan_and_generation_follow_the_request():
    from models.protocol import AttributeRequest

    net = ag.AnCoGen(TINY_GEN)
    backend = ag.AnCoGenBackend(net)
    assert backend.can_generate and not ag.AnCoGenBackend(ag.AnCoGen(TINY)).can_generate
    mel = np.random.default_rng(0).normal(-5, 2, (80, 300)).astype(np.float32)
    a = backend.analyse_mel(mel)
    assert a["content"].shape == (300, 8)                 # beyond max_frames: in pieces
    plan = backend.plan(AttributeRequest(mel, {"pitch": 12.0, "snr": 60.0}))
    voiced = a["f0_hz"] > 0
    assert np.allclose(plan["f0_hz"][voiced], np.clip(2 * a["f0_hz"][voiced], 50, 1100),
                       rtol=1e-5)
    assert np.all(plan["f0_hz"][~voiced] == 0)
    assert plan["snr_db"] == 50.0 and plan["loudness_db"] is None   # clamped; clean-up
    kept = backend.plan(AttributeRequest(mel, {"loudness": 6.0}))
    assert np.allclose(kept["loudness_db"], a["loudness_db"] + 6.0)
    assert kept["c50_db"] == pytest.approx(a["c50_db"])
    drawn = np.full(300, 220.0, np.float32)
    assert np.allclose(backend.plan(AttributeRequest(mel, {}, {"pitch": drawn}))["f0_hz"], 220)
    with pytest.raises(ValueError, match="needs 300 values"):
        backend.plan(AttributeRequest(mel, {}, {"pitch": drawn[:10]}))
    with pytest.raises(ValueError, match="unknown attribute change: tempo"):
        backend.plan(AttributeRequest(mel, {"tempo": 1.0}))
    own = backend.plan(AttributeRequest(mel, {"pitch": 1.0}), content="signal")["content"]
    assert np.allclose(own, ag.content_of(torch.from_numpy(mel).T, 8).numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="'analysed' or 'signal'"):
        backend.plan(AttributeRequest(mel, {}), content="both")
    out = backend.generate_mel(plan["content"], plan["f0_hz"], None, 30.0, 42.0)
    assert out.shape == mel.shape and np.isfinite(out).all()
    with pytest.raises(ValueError, match="analyses only"):
        ag.AnCoGenBackend(ag.AnCoGen(TINY)).generate_mel(plan["content"], plan["f0_hz"],
                                                          None, 30.0, 42.0)


def test_edit_audio_gain_regeneration_and_level():
    from models.audio.griffinlim import GriffinLimBackend
    from models.audio.io import read_audio
    from models.audio.speech_edit import active_level_db, edit_audio

    torch.manual_seed(0)
    backend = ag.AnCoGenBackend(ag.AnCoGen(TINY_GEN))
    voc = GriffinLimBackend()
    x = read_audio(DATA / "unseen-fr4.flac", 16000).audio * np.float32(0.25)
    same = edit_audio(backend, voc, x, {})
    assert same.method == "unchanged" and np.array_equal(same.audio, x)
    g = edit_audio(backend, voc, x, {"loudness": 6.0})
    assert g.method == "gain"
    assert active_level_db(g.audio) - active_level_db(x) == pytest.approx(6.0, abs=0.01)
    r = edit_audio(backend, voc, x, {"pitch": 2.0, "loudness": -3.0})
    assert r.method == "regenerated" and r.audio.size == x.size
    assert r.mel.shape == (80, at.frames(x.size))
    # The level is set from the original's speech level (its SNR reading taken out).
    snr = r.plan["analysis"]["snr_db"]
    speech = active_level_db(x) - 10 * np.log10(1 + 10 ** (-snr / 10))
    assert active_level_db(r.audio) == pytest.approx(speech - 3.0, abs=0.1)
    cleaned = edit_audio(backend, voc, x, {"snr": 50.0})      # 50: the top, never below
    assert cleaned.method == "cleaned" and cleaned.audio.size == x.size
    forced = edit_audio(backend, voc, x, {"snr": 50.0}, regenerate=True)
    assert forced.method == "regenerated"
    loud = edit_audio(backend, voc, x * np.float32(3.5), {"loudness": 12.0})
    assert loud.limited_db > 0 and np.abs(loud.audio).max() <= 0.999
    for bad, msg in (({"pitch": 40.0}, "limited to"), ({"speed": 1.0}, "unknown"),
                     ({"loudness": float("nan")}, "finite")):
        with pytest.raises(ValueError, match=msg):
            edit_audio(backend, voc, x, bad)


def test_attributes_edit_cli(tmp_path):
    import soundfile as sf

    ckpt = make_tiny_generator(tmp_path)
    out = tmp_path / "higher.wav"
    res = cli("attributes", "edit", DATA / "unseen-fr4.flac", out, "--model", ckpt,
              "--vocoder", "griffinlim", "--pitch-semitones", "3", "--snr-db", "40")
    assert res.returncode == 0, res.stderr
    y, rate = sf.read(out)
    x, _ = sf.read(DATA / "unseen-fr4.flac")
    assert rate == 16000 and abs(len(y) - len(x)) <= 1 and "regenerated by" in res.stdout
    only = make_tiny_ancogen(tmp_path)
    bad = cli("attributes", "edit", DATA / "unseen-fr4.flac", out, "--model", only,
              "--pitch-semitones", "3")
    assert bad.returncode == 2 and "analyses only" in bad.stderr
    bad = cli("attributes", "edit", DATA / "unseen-fr4.flac", tmp_path / "no" / "x.wav",
              "--model", ckpt, "--pitch-semitones", "3")
    assert bad.returncode == 2 and "no such folder" in bad.stderr
    bad = cli("attributes", "edit", DATA / "unseen-fr4.flac", out, "--model", ckpt,
              "--pitch-semitones", "30")
    assert bad.returncode == 2 and "limited to" in bad.stderr and "Traceback" not in bad.stderr


def test_control_measurement_runs_on_a_clip(tmp_path):
    from models.audio.griffinlim import GriffinLimBackend
    from models.audio.io import read_audio
    from models.eval.attributes import measure_control

    backend = ag.AnCoGenBackend(ag.AnCoGen(TINY_GEN))
    x = read_audio(DATA / "unseen-fr4.flac", 16000).audio
    res = measure_control(backend, GriffinLimBackend(), [x], tmp_path, log=lambda _l: None)
    m = res["mean"]
    # A phase vocoder shifts by what it is asked; the gain path is exact.
    assert m["pitch_phase_vocoder_shift"] == pytest.approx(3.0, abs=0.5)
    assert m["loudness_gain_measured_db"] == pytest.approx(6.0, abs=0.05)
    assert res["targets"]["length_within_2_percent"]
    assert (tmp_path / "denoised" / "00.wav").is_file()


def test_shipped_model_regenerates_a_held_out_voice_higher_and_cleaner():
    """attributes-speech with the default vocoder on tests/data's French speaker (never
    heard): +3 semitones measured by pYIN (not the model's labeller), and white noise at
    5 dB SNR asked to 40 dB loses its noise floor while the speech keeps its level."""
    from models.audio.io import read_audio
    from models.audio.speech_edit import active_level_db, edit_audio
    from models.eval.attributes import shift_semitones
    from models.registry import default_registry

    reg = default_registry()
    attr = reg.get("attributes-speech", "cpu")
    voc = reg.get(reg.default(Capability.VOCODE), "cpu")
    x = read_audio(DATA / "unseen-fr4.flac", 16000).audio * np.float32(0.5)
    higher = edit_audio(attr, voc, x, {"pitch": 3.0})
    assert higher.method == "regenerated" and higher.audio.size == x.size
    assert shift_semitones(x, higher.audio) == pytest.approx(3.0, abs=0.6)
    noise = np.random.default_rng(0).normal(0, 1, x.size).astype(np.float32)
    noisy = at.mix_at_snr(x, noise, 5.0)
    clean = edit_audio(attr, voc, noisy, {"snr": 40.0}).audio

    def floor(y):
        return float(np.percentile(at.loudness_db(y), 10))

    # The quietest tenth of the frames (a 2 s clip: few pauses) is 8.3 dB quieter measured.
    assert floor(clean) < floor(noisy) - 6
    assert active_level_db(clean) == pytest.approx(active_level_db(x), abs=2.0)
    card = reg.card("attributes-speech")
    assert card["config"]["content_dims"] > 0
    assert set(card["measured_control"]["targets"]) >= {
        "pitch_shift_within_0.5_of_asked", "denoise_bak_gain_at_least_0.8"}


def test_clean_up_filters_the_clip_itself_never_deeper_than_asked():
    from models.audio.io import read_audio
    from models.audio.speech_edit import apply_mel_gain, cleanup_floor_db, wiener_gain
    from models.protocol import MelSettings

    s = MelSettings()
    x = read_audio(DATA / "unseen-fr4.flac", 16000).audio
    frames = at.frames(x.size)
    same = apply_mel_gain(x, np.zeros((80, frames), np.float32), s)
    assert np.max(np.abs(same - x)) < 1e-4                 # the clip itself, phase and all
    quieter = apply_mel_gain(x, np.full((80, frames), np.log(0.1), np.float32), s)
    assert np.allclose(quieter, 0.1 * x, atol=1e-4)
    mel = np.random.default_rng(0).normal(-4, 2, (80, frames)).astype(np.float32)
    g = wiener_gain(mel - 5.0, mel, floor_db=-25.0)      # same shape, other level: no cut
    assert np.allclose(g, 0.0, atol=1e-6)
    g = wiener_gain(np.full_like(mel, -20.0), mel, floor_db=-25.0)
    assert g.min() >= -25.0 / (20 / np.log(10)) - 1e-6 and g.max() <= 0.0
    a = {"snr_db": 5.0, "c50_db": 20.0}
    assert cleanup_floor_db({"snr": 30.0}, {}, a) == -25.0
    assert cleanup_floor_db({"snr": 30.0, "c50": 30.0}, {}, a) == -25.0
    assert cleanup_floor_db({"c50": 35.0}, {}, a) == -15.0
    assert cleanup_floor_db({"snr": 2.0}, {}, a) is None             # noisier: regenerate
    assert cleanup_floor_db({"snr": 30.0, "pitch": 1.0}, {}, a) is None
    assert cleanup_floor_db({"snr": 30.0}, {"pitch": np.ones(3)}, a) is None
    assert cleanup_floor_db({"loudness": 3.0}, {}, a) is None
