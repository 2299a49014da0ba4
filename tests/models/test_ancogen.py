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
    # The level is set from the original's: its own where the recording is kept with its
    # noise (a pitch change shifts its own peaks), its speech level (its SNR reading taken
    # out) where the model regenerates it.
    for regen, method in ((False, "shifted"), (True, "regenerated")):
        r = edit_audio(backend, voc, x, {"pitch": 2.0, "loudness": -3.0}, regenerate=regen)
        assert r.method == method and r.audio.size == x.size
        snr = r.plan["analysis"]["snr_db"]
        noise = 10 * np.log10(1 + 10 ** (-snr / 10)) if regen else 0.0
        assert active_level_db(r.audio) == pytest.approx(active_level_db(x) - noise - 3.0,
                                                         abs=0.1)
    assert r.mel.shape == (80, at.frames(x.size))
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
    assert rate == 16000 and abs(len(y) - len(x)) <= 1
    assert "pitch shifted in the recording, then filtered toward" in res.stdout
    res = cli("attributes", "edit", DATA / "unseen-fr4.flac", out, "--model", ckpt,
              "--vocoder", "griffinlim", "--pitch-semitones", "3", "--regenerate")
    assert res.returncode == 0, res.stderr
    assert "regenerated by" in res.stdout and "vocoded by griffinlim" in res.stdout
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
    assert higher.method == "shifted" and higher.audio.size == x.size
    assert shift_semitones(x, higher.audio) == pytest.approx(3.0, abs=0.3)
    regenerated = edit_audio(attr, voc, x, {"pitch": 3.0}, regenerate=True)
    assert regenerated.method == "regenerated"
    assert shift_semitones(x, regenerated.audio) == pytest.approx(3.0, abs=0.6)
    # Asked for more noise than it reads: only the model can add it.
    assert edit_audio(attr, voc, x, {"snr": 10.0}).method == "regenerated"
    noise = np.random.default_rng(0).normal(0, 1, x.size).astype(np.float32)
    noisy = at.mix_at_snr(x, noise, 5.0)
    cleaned = edit_audio(attr, voc, noisy, {"snr": 40.0})
    clean = cleaned.audio
    assert cleaned.method == "cleaned"
    # The floor was searched until the model reads the target in the result.
    assert attr.analyse(clean)["snr_db"] >= 40.0 - 1.0

    def floor(y):
        return float(np.percentile(at.loudness_db(y), 10))

    # The quietest tenth of the frames (a 2 s clip: few pauses) is 8.3 dB quieter measured.
    assert floor(clean) < floor(noisy) - 6
    assert active_level_db(clean) == pytest.approx(active_level_db(x), abs=2.0)
    card = reg.card("attributes-speech")
    assert card["config"]["content_dims"] > 0
    assert set(card["measured_control"]["targets"]) >= {
        "pitch_shift_within_0.5_of_asked", "denoise_bak_gain_at_least_0.8"}


def test_mel_gain_filters_the_clip_itself():
    from models.audio.features import apply_mel_gain
    from models.audio.io import read_audio
    from models.protocol import MelSettings

    s = MelSettings()
    x = read_audio(DATA / "unseen-fr4.flac", 16000).audio
    frames = at.frames(x.size)
    same = apply_mel_gain(x, np.zeros((80, frames), np.float32), s)
    assert np.max(np.abs(same - x)) < 1e-4                 # the clip itself, phase and all
    quieter = apply_mel_gain(x, np.full((80, frames), np.log(0.1), np.float32), s)
    assert np.allclose(quieter, 0.1 * x, atol=1e-4)


def test_suppression_cuts_the_noise_floor_and_keeps_what_stands_above_it():
    from models.audio.speech_edit import OVER_SUBTRACTION, suppression

    rng = np.random.default_rng(0)
    mel = rng.normal(-6.0, 0.05, (80, 100))             # stationary noise in every band ...
    mel[:70, 20:80] = 0.0                               # ... and speech far above it
    clean = np.full_like(mel, -30.0)                    # the model hears no speech here ...
    clean[:70, 20:80] = 0.0                             # ... and the speech there
    g = suppression(clean, mel)
    assert g.max() <= 0.0
    assert g[:70, 20:80].min() > np.log(0.99)          # 52 dB above 3x the floor: kept
    assert g[70:, :].max() < -20 / (20 / np.log(10))   # noise alone: below -20 dB
    assert g[:, :20].max() < -20 / (20 / np.log(10))
    # Where the clean estimate equals the clip at the noise floor, a / (1 + a) of it goes.
    flat = np.full((4, 50), -3.0)
    expect = np.log(1 / (1 + OVER_SUBTRACTION))
    assert np.allclose(suppression(flat, flat), expect, atol=1e-5)
    # A reverberant tail (what the clean estimate leaves, not stationary) is cut too.
    tail = mel.copy()
    tail[:70, 80:90] = -1.0
    assert suppression(clean, tail, reverberant=True)[:70, 80:90].max() < \
        suppression(clean, tail)[:70, 80:90].min()


class _FakeCleanModel:
    """Hears speech in the louder half of the clip's frames and noise in the quieter half: its
    clean estimate is the clip there and 20 nepers lower here, and it reads an SNR that rises
    with the gap between the two halves (5 dB as given), up to 30 dB."""

    def __init__(self, x):
        from models.audio.features import log_mel
        from models.protocol import MelSettings

        self.mel_settings = MelSettings()
        self.cfg = ag.AnCoGenConfig()
        self._mel = log_mel(x, self.mel_settings).numpy()
        level = self._mel.mean(axis=0)
        self.loud = level >= np.median(level)
        self._gap0 = self.gap(self._mel)

    def gap(self, mel):
        db = 20 / np.log(10) * mel.mean(axis=0)
        return float(db[self.loud].mean() - db[~self.loud].mean())

    def analyse_mel(self, mel):
        snr = min(5.0 + self.gap(mel) - self._gap0, 30.0)
        return {"snr_db": snr, "c50_db": 30.0, "f0_hz": np.zeros(mel.shape[1], np.float32),
                "content": None}

    def generate_mel(self, content, f0, loud, snr, c50, ctx=None):
        return np.where(self.loud, self._mel, self._mel - 20.0)


def test_clean_up_searches_the_shallowest_floor_the_model_reads_as_the_target():
    from models.audio.features import apply_mel_gain, log_mel
    from models.audio.io import read_audio
    from models.audio.speech_edit import CLEANUP_DEPTH_DB, DB_PER_NEPER, clean_up, suppression

    x = read_audio(DATA / "unseen-fr4.flac", 16000).audio
    model = _FakeCleanModel(x)
    y, clean = clean_up(model, x, {"snr": 20.0})
    reads = model.analyse_mel(log_mel(y, model.mel_settings).numpy())["snr_db"]
    assert clean is not None and y.size == x.size
    assert 20.0 <= reads <= 21.0           # reached, and not much deeper than needed
    # Already at the target: nothing is filtered.
    y, clean = clean_up(model, x, {"snr": 5.0})
    assert clean is None and y is x
    # Out of reach (this model never reads above 30): the deepest floor the search allows,
    # the asked improvement (35 dB) and CLEANUP_DEPTH_DB more, in the frames it calls noise.
    y, clean = clean_up(model, x, {"snr": 40.0})
    deepest = np.maximum(suppression(clean, model._mel),
                         (-35.0 - CLEANUP_DEPTH_DB) / DB_PER_NEPER)
    assert np.allclose(y, apply_mel_gain(x, deepest, model.mel_settings), atol=1e-6)
    assert model.analyse_mel(log_mel(y, model.mel_settings).numpy())["snr_db"] < 40.0
