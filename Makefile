# Two commands for a new user: `make demo` and `make test` (see README.md).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
DEMO_URL := http://127.0.0.1:8000/admin/

.PHONY: install browser demo otp test lint diagram

$(VENV)/.installed: requirements/lock.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Recovery Desk needs Python 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes -r requirements/lock.txt
	@touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/python manage.py migrate --noinput
	RECOVERY_DESK_DEMO=1 SECURE_COOKIES=0 $(BIN)/python manage.py seed_demo
	@echo ""
	@echo "  Recovery Desk is starting (web, Celery worker, Celery beat). Ctrl-C stops all three."
	@echo "  Sign in at $(DEMO_URL) with a login printed above."
	@echo "  Second factor: 'make otp user=agent1' (in another terminal) prints the current code."
	@echo ""
	SECURE_COOKIES=0 $(BIN)/honcho --procfile Procfile.demo start

# Browser tests drive Debian's Chromium (never a downloaded browser build).
browser:
	@command -v chromium >/dev/null || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	  || echo "Could not install chromium (needs root and apt): the browser tests will fail."; }

otp: install
	@RECOVERY_DESK_DEMO=1 SECURE_COOKIES=0 $(BIN)/python manage.py demo_otp $(user)

test: install browser
	$(BIN)/python -m pytest $(ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python manage.py makemigrations --check --dry-run

diagram: install
	$(BIN)/python manage.py case_diagram > docs/case-lifecycle.md
