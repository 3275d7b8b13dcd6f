# Set-up and entry points. `make demo` and `make test` work on a fresh machine.
VENV ?= .venv
PY := $(VENV)/bin/python
CORES ?= all

.PHONY: setup demo test lint lock clean
setup: $(VENV)/.installed

# The venv is rebuilt from scratch whenever the lock, the constraints or the
# project metadata change; torch is pinned by constraints.txt on every install.
$(VENV)/.installed: requirements.lock constraints.txt pyproject.toml
	rm -rf $(VENV)
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

demo: setup
	$(VENV)/bin/snakemake --cores $(CORES) --profile workflow/profiles/local

test: setup
	$(PY) -m pytest

lint: setup
	$(VENV)/bin/snakemake --lint

# Re-resolve every dependency (needs the registry) and rewrite the lock.
lock:
	rm -rf /tmp/mima-lock-venv && python3 -m venv /tmp/mima-lock-venv
	/tmp/mima-lock-venv/bin/pip install --quiet -c constraints.txt -e '.[all]'
	/tmp/mima-lock-venv/bin/pip freeze --exclude-editable | sed 's/+cpu$$//' > requirements.lock

clean:
	rm -rf results .snakemake
