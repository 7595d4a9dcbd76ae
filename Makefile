# Two commands do all the set-up on a fresh machine (Python 3.11):
#   make studio   install, then serve the studio web app on the bundled models (http://127.0.0.1:7860;
#                 make studio PORT=8080 HOST=0.0.0.0 to serve elsewhere)
#   make test     install, then run the test suite
# And one for the command line:
#   make picture  install, then make a picture and its generation-order GIF with emoji-v1 (generate's default)
VENV ?= .venv
PY := $(VENV)/bin/python
PROMPT ?= a large dog in the top left and a small sun on the right on a blue background
SEED ?= 0
HOST = 127.0.0.1
PORT = 7860

.PHONY: install studio picture test

$(VENV)/.installed: requirements.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt
	touch $@

install: $(VENV)/.installed

studio: install
	$(PY) app.py --host $(HOST) --port $(PORT)

picture: install
	$(PY) -m studio_core generate --prompt "$(PROMPT)" --seed $(SEED) --out out/picture.png --gif out/picture.gif

test: install
	$(PY) -m pytest -q
