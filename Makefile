# The two commands a newcomer needs: `make demo` and `make test`. Everything installs from the package
# mirror into .venv, pinned by constraints.txt; nothing calls out at run time.
VENV   ?= .venv
PY     := $(VENV)/bin/python
PYTHON ?= python3
export XL_HOME ?= $(CURDIR)/.xl
export DAGSTER_HOME := $(XL_HOME)/dagster

.PHONY: install browser lint test test-distributed demo dev bench validate clean docs

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $@

# The report test renders the leadership report in Debian's Chromium, with a Chinese font; both come from the
# package mirror, once (root, or sudo).
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
browser:
	@command -v chromium >/dev/null && fc-list | grep -qi "wenquanyi zen hei" || { $(SUDO) apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends chromium fonts-wqy-zenhei; }

# ruff (pinned in pyproject.toml's dev extra): pyflakes, pycodestyle, import order, bugbear, pyupgrade.
lint: install
	$(VENV)/bin/ruff check .

# Two workers; each test file on one of them, so a file's module fixture (a materialised lake) is built once.
test: install browser lint
	$(PY) -m pytest -n 2 --dist loadfile

# The distributed profile, proven on this machine (docs/deployment.md): installs PostgreSQL, Redis and Ceph's
# object gateway from the package mirror once (and the `distributed` extra), starts them with the Dagster daemon
# and two Celery workers in a temporary folder, and stops them all by PID at the end. `make test` never needs them.
test-distributed: install
	deploy/services/install.sh
	$(PY) -m pytest tests_distributed -s -n 0

demo: install
	$(VENV)/bin/xl demo

docs: install
	$(PY) -m xl_pipelines.dictionary

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml xl_pipelines/storage.py | install
	mkdir -p $(DAGSTER_HOME) && $(PY) -c 'import sys; from xl_pipelines.runner import instance_config; open(sys.argv[1], "w", encoding="utf-8").write(instance_config())' $@

validate: install $(DAGSTER_HOME)/dagster.yaml
	$(VENV)/bin/dagster definitions validate -w workspace.yaml
	$(VENV)/bin/dg check defs

dev: install $(DAGSTER_HOME)/dagster.yaml
	@test -n "$$XL_PSEUDONYM_KEY" || echo "XL_PSEUDONYM_KEY is not set: runs from the UI pseudonymise with the public DEVELOPMENT key"
	XL_PSEUDONYM_KEY="$${XL_PSEUDONYM_KEY:-$$($(PY) -c 'from xl_pipelines.pseudonym import DEVELOPMENT_KEY as k; print(k)')}" \
		$(VENV)/bin/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

bench: install
	command -v ffprobe >/dev/null || ($(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q ffmpeg)  # bench baseline only
	test -f /usr/share/backgrounds/Wine_by_Jakkub_Mede.jpg -a -f /usr/share/backgrounds/Dragonfly_by_Bolly.jpg -a -d /usr/share/backgrounds/mate || ($(SUDO) apt-get update -q && \
		$(SUDO) apt-get install -y -q mate-backgrounds lomiri-wallpapers-16.04 lomiri-wallpapers-20.04)  # bench/vqd.py's photographs
	test -d bench/photos/skimage || (mkdir -p bench/photos && cd bench/photos && apt-get download -q python3-skimage && dpkg -x python3-skimage_*.deb skimage)  # its sample photographs, unpacked only
	$(PY) -m bench.run
	deploy/services/install.sh  # the distributed stage's services (PostgreSQL, Redis, Ceph gateway), once
	$(PY) -m bench.distributed --cameras $${XL_BENCH_DISTRIBUTED_CAMERAS:-300}

clean:
	rm -rf $(XL_HOME) bench/work
