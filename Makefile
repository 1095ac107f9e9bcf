# Chest X-ray lung segmentation and COVID-19 classification on MONAI.
# Every user-facing target makes .venv/ first when it is missing (make setup).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SYNTH := data/synthetic

.PHONY: setup test data demo reproduce clean help

help:
	@echo "make demo   - set up, then run the main job on the embedded synthetic data"
	@echo "make test   - set up, then run the test suite"
	@echo "make reproduce [QU_EX=DIR] [COVIDX=DIR] [PROFILE=default|real] [FORCE=1]"
	@echo "             - the whole study and its report in results/<profile>/summary.md"
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
	$(PY) -m monai_ext.data_lists covidx --root $(SYNTH)/covidx --out $@ --classes binary --val-fraction 0.15 --seed 0 --masks $(SYNTH)/covidx-lung-gt

# The main job on the synthetic data, with the bundles' documented commands: train the lung
# segmentation bundle, predict masks for the COVIDx-layout images, train and evaluate a classifier
# on the segmented lungs. Outputs go to results/demo/ (the bundles' own models/ stay untouched).
DEMO := results/demo
SEG := bundles/cxr_lung_segmentation/configs
CLS := bundles/cxr_covid_classification/configs
BUNDLE_RUN := $(PY) -m monai.bundle run

demo: data
	$(BUNDLE_RUN) training --config_file $(SEG)/train.json --image_size 128 --max_epochs 4 \
		--output_dir $(DEMO)/seg --ckpt_dir $(DEMO)/seg/models
	$(BUNDLE_RUN) evaluating --config_file "['$(SEG)/train.json','$(SEG)/evaluate.json']" --image_size 128 \
		--ckpt_dir $(DEMO)/seg/models --output_dir $(DEMO)/seg/eval
	$(BUNDLE_RUN) --config_file $(SEG)/inference.json --image_size 128 --dataset_dir $(SYNTH)/covidx \
		--ckpt_dir $(DEMO)/seg/models --output_dir $(DEMO)/masks
	$(PY) -m monai_ext.data_lists covidx --root $(SYNTH)/covidx --masks $(DEMO)/masks --val-fraction 0.15 \
		--out $(DEMO)/covidx_predicted_masks.json
	$(BUNDLE_RUN) training --config_file $(CLS)/train.json --datalist $(DEMO)/covidx_predicted_masks.json \
		--mask_dir $(DEMO)/masks --input_mode lung --image_size 96 --max_epochs 6 \
		--output_dir $(DEMO)/cls --ckpt_dir $(DEMO)/cls/models
	$(BUNDLE_RUN) evaluating --config_file "['$(CLS)/train.json','$(CLS)/evaluate.json']" \
		--datalist $(DEMO)/covidx_predicted_masks.json --mask_dir $(DEMO)/masks --input_mode lung --image_size 96 \
		--ckpt_dir $(DEMO)/cls/models --output_dir $(DEMO)/cls/eval
	@echo "segmentation: $(DEMO)/seg/eval/metrics_summary.json; masks: $(DEMO)/masks"
	@echo "classification (lung input, test split): $(DEMO)/cls/eval/metrics.csv"

# The whole study: synthetic by default (about 15 min on 2 CPU cores); with QU_EX and/or COVIDX the
# real settings (PROFILE=real), a missing dataset replaced by the synthetic one. Steps whose outputs
# are complete and whose inputs and settings are unchanged are skipped; FORCE=1 reruns everything.
PROFILE ?= $(if $(QU_EX)$(COVIDX),real,default)

reproduce: setup
	$(PY) -m monai_ext.reproduce --profile $(PROFILE) $(if $(QU_EX),--qu-ex "$(QU_EX)") \
		$(if $(COVIDX),--covidx "$(COVIDX)") $(if $(FORCE),--force)

clean:
	rm -rf $(SYNTH) results
