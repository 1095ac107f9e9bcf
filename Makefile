# Chest X-ray lung segmentation and COVID-19 classification on MONAI.
# Every user-facing target makes .venv/ first when it is missing (make setup).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SYNTH := data/synthetic

.PHONY: setup test data demo clean help

help:
	@echo "make demo   - set up, then run the main job on the embedded synthetic data"
	@echo "make test   - set up, then run the test suite"
	@echo "make data   - write the synthetic dataset to $(SYNTH) and its data lists to data_lists/"
	@echo "make setup  - create $(VENV) and install requirements.txt and monai_ext (editable)"

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	$(VENV)/bin/pip install --quiet --no-deps -e .
	touch $@

test: setup
	$(PY) -m pytest tests

# synthetic default dataset (deterministic) and its MONAI data lists
data: setup $(SYNTH)/synthetic.json data_lists/synthetic_lung_seg.json data_lists/synthetic_covidx.json

$(SYNTH)/synthetic.json: | $(STAMP)
	$(PY) -m monai_ext.synthetic --out $(SYNTH) --seed 0

data_lists/synthetic_lung_seg.json: $(SYNTH)/synthetic.json
	$(PY) -m monai_ext.data_lists covid-qu-ex --root $(SYNTH)/lung-seg --out $@

data_lists/synthetic_covidx.json: $(SYNTH)/synthetic.json
	$(PY) -m monai_ext.data_lists covidx --root $(SYNTH)/covidx --out $@ --classes binary --val-fraction 0.15 --seed 0

demo: data
	@echo "synthetic data in $(SYNTH); data lists in data_lists/"

clean:
	rm -rf $(SYNTH) results
