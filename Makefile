# Chest X-ray lung segmentation and COVID-19 classification on MONAI.
# Every user-facing target makes .venv/ first when it is missing (make setup).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SYNTH := data/synthetic

.PHONY: setup lock test test-fast lint bench data demo reproduce verify weights release label label-env deploy-env deploy-demo \
	pacs-deps pacs pacs-load viewer viewer-install deploy-pacs integration clean help

help:
	@echo "make demo   - set up, then run the main job on the embedded synthetic data"
	@echo "make test   - set up, then run the test suite; make test-fast: the tests that run no bundle end to end"
	@echo "make lint   - ruff check and ruff format --check of monai_ext and tests, import-linter's layer contracts"
	@echo "make bench [DEVICE=cuda] [QUICK=1] - training images/s and end-to-end latency: results/bench/bench.md"
	@echo "make reproduce [QU_EX=DIR] [COVIDX=DIR] [PROFILE=default|real|tiny] [SET='K=V ...'] [OUT=DIR] [FORCE=1]"
	@echo "             - the whole study and its report in results/<profile>/summary.md"
	@echo "make verify - model-zoo checks of both bundles (files, sizes, metadata schema, apps' properties, net in/out, export), then the zoo's own verify_bundle.py"
	@echo "make weights [DEV_SAMPLE=DIR] - bundles' models/model.pt: kept when its model folder records it, else trained"
	@echo "             small (the classifier on DIR/covidx's real radiographs when it is there; default $(DEV_SAMPLE))"
	@echo "make release - a release archive per bundle in the model zoo's layout: results/release"
	@echo "make label [STUDIES=$(PACS_URL)] [LABEL_ORIGINS='[...]'] - MONAI Label on localhost:$(LABEL_PORT) (.venv-label)"
	@echo "make deploy-demo - MONAI Deploy app on the real RG1_UNCR.dcm (own env .venv-deploy)"
	@echo "make pacs   - a local Orthanc PACS on 127.0.0.1:$(PACS_PORT) (DICOMweb $(PACS_URL)); Ctrl-C stops it"
	@echo "make pacs-load - store RG1_UNCR.dcm and synthetic CR/DX studies in it (STOW-RS)"
	@echo "make deploy-pacs STUDY=UID [SALIENCY=1] - the Deploy app from the PACS, its SEG and SR stored back"
	@echo "make viewer - the OHIF viewer on the PACS, http://127.0.0.1:$(VIEWER_PORT)"
	@echo "make integration - MONAI Label, MONAI Deploy, the PACS and the documented commands, for real"
	@echo "make lock   - compile the locks (requirements.lock, monai_ext/*/requirements.lock) from the requirement files"
	@echo "make data   - write the synthetic dataset to $(SYNTH) and its data lists to data_lists/"
	@echo "make setup  - create $(VENV) from requirements.lock and install monai_ext (editable)"

setup: $(STAMP)

# Every environment is installed from its lock (every package pinned with its hashes), which `make lock`
# compiles from the human-edited requirement files, the locks as they are the preferred versions:
# unchanged requirements give the same locks (a newer release elsewhere moves no pin), so CI runs
# make lock and fails when git sees a lock change. uv installs (pip takes it from the lock, by its
# hash); it does not read pip's settings, so a package mirror configured for pip (pip config:
# global.extra-index-url) is handed to it. Hashes pin every file, so looking for a version on every
# index (unsafe-best-match) cannot bring in another one. The packages' bytecode is compiled at install:
# where Python may not write it (PYTHONDONTWRITEBYTECODE, as on this project's machines) every process
# would compile MONAI, torch and the rest again (here: 20 s to import them, 7 s from the bytecode).
CORE_LOCK := requirements.lock
LABEL_LOCK := monai_ext/apps/label/requirements.lock
DEPLOY_LOCK := monai_ext/apps/deploy/requirements.lock
PIP_MIRRORS := $(shell $(PYTHON) -m pip config get global.extra-index-url 2>/dev/null)
UV_ENV := $(if $(PIP_MIRRORS),UV_EXTRA_INDEX_URL='$(PIP_MIRRORS)')
# $(1): the environment's folder, $(2): its lock
define install_lock
	$(PYTHON) -m venv $(1)
	awk '/^uv==/{p=1} p{print} p && !/\\$$/{exit}' $(2) > $(1)/uv.lock
	$(1)/bin/pip install --quiet --require-hashes --no-deps -r $(1)/uv.lock
	$(UV_ENV) $(1)/bin/uv pip install --quiet --python $(1)/bin/python --require-hashes --compile-bytecode \
		--index-strategy unsafe-best-match -r $(2)
	$(1)/bin/uv pip install --quiet --python $(1)/bin/python --no-deps --no-build-isolation -e .
	touch $(1)/.installed
endef

$(STAMP): $(CORE_LOCK) pyproject.toml
	$(call install_lock,$(VENV),$(CORE_LOCK))

# The label environment takes the core pins but jsonschema, pydicom and highdicom
# (monai_ext/apps/label/requirements.txt says why).
UV_COMPILE = $(UV_ENV) $(VENV)/bin/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
	--index-strategy unsafe-best-match --custom-compile-command "make lock"
LABEL_CORE := results/lock/label-core-requirements.txt

lock: setup
	$(UV_COMPILE) requirements.txt -o $(CORE_LOCK)
	mkdir -p $(dir $(LABEL_CORE))
	grep -v -e '^jsonschema' -e '^pydicom==' -e '^highdicom' requirements.txt > $(LABEL_CORE)
	$(UV_COMPILE) $(LABEL_CORE) monai_ext/apps/label/requirements.txt -o $(LABEL_LOCK)
	$(UV_COMPILE) requirements.txt monai_ext/apps/deploy/requirements.txt -o $(DEPLOY_LOCK)

# pytest-xdist: TEST_WORKERS processes, each test file whole in one of them (its module fixtures made once)
TEST_WORKERS ?= 2
PYTEST := $(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

test: data
	$(PYTEST) tests

# the edit loop: the tests that train or run no bundle end to end (pytest -m "not slow")
test-fast: data
	$(PYTEST) tests -m "not slow"

# ruff's lint rules and formatting (line length in pyproject.toml; `ruff format monai_ext tests` fixes the
# latter), and import-linter's contracts of monai_ext's layers (pyproject.toml; --no-cache: it writes nothing)
lint: setup
	$(VENV)/bin/ruff check monai_ext tests
	$(VENV)/bin/ruff format --check monai_ext tests
	$(VENV)/bin/lint-imports --no-cache

# training throughput (bundle trainer vs plain loop, fp32 vs AMP) and end-to-end latency on this machine
# DEVICE=cuda on a GPU; QUICK=1 runs tiny cases (a check of the command, not figures)
bench: setup
	$(PY) -m monai_ext.tools.bench --out results/bench $(if $(DEVICE),--device $(DEVICE)) $(if $(QUICK),--quick)

# synthetic default dataset (deterministic) and its MONAI data lists
data: setup $(SYNTH)/synthetic.json data_lists/synthetic_lung_seg.json data_lists/synthetic_covidx.json

$(SYNTH)/synthetic.json: | $(STAMP)
	$(PY) -m monai_ext.tools.synthetic --out $(SYNTH) --seed 0

data_lists/synthetic_lung_seg.json: $(SYNTH)/synthetic.json
	$(PY) -m monai_ext.tools.data_lists covid-qu-ex --root $(SYNTH)/lung-seg --out $@

data_lists/synthetic_covidx.json: $(SYNTH)/synthetic.json
	$(PY) -m monai_ext.tools.data_lists covidx --root $(SYNTH)/covidx --out $@ --classes binary --val-fraction 0.15 --seed 0 --masks $(SYNTH)/covidx-lung-gt

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
	$(PY) -m monai_ext.tools.data_lists covidx --root $(SYNTH)/covidx --masks $(DEMO)/masks --val-fraction 0.15 \
		--out $(DEMO)/covidx_predicted_masks.json
	$(BUNDLE_RUN) training --config_file $(CLS)/train.json --datalist $(DEMO)/covidx_predicted_masks.json \
		--mask_dir $(DEMO)/masks --input_mode lung --image_size 96 --max_epochs 6 \
		--output_dir $(DEMO)/cls --ckpt_dir $(DEMO)/cls/models
	$(BUNDLE_RUN) evaluating --config_file "['$(CLS)/train.json','$(CLS)/evaluate.json']" \
		--datalist $(DEMO)/covidx_predicted_masks.json --mask_dir $(DEMO)/masks --input_mode lung --image_size 96 \
		--ckpt_dir $(DEMO)/cls/models --output_dir $(DEMO)/cls/eval
	@$(PY) -m monai_ext.tools.summary --seg-eval $(DEMO)/seg/eval --cls-eval $(DEMO)/cls/eval --masks $(DEMO)/masks \
		--models $(DEMO)/seg/models $(DEMO)/cls/models

# The whole study: synthetic by default (under 14 min on 2 CPU cores); with QU_EX and/or COVIDX the
# real settings (PROFILE=real), a missing dataset replaced by the synthetic one. Steps whose outputs
# are complete and whose inputs and settings are unchanged are skipped; FORCE=1 reruns everything.
PROFILE ?= $(if $(QU_EX)$(COVIDX),real,default)

# SET='ID=VALUE ...' changes profile settings for one run, in MONAI's ids (seg#max_epochs=1; --set of
# python -m monai_ext.tools.reproduce);
# OUT=DIR writes the study there instead of results/<profile>
reproduce: setup
	$(PY) -m monai_ext.tools.reproduce --profile $(PROFILE) $(if $(QU_EX),--qu-ex "$(QU_EX)") \
		$(if $(COVIDX),--covidx "$(COVIDX)") $(if $(FORCE),--force) $(if $(SET),--set $(SET)) $(if $(OUT),--out "$(OUT)")

# model-zoo conformance of both bundles: monai_ext/tools/zoo.py lists its checks; then the zoo's own ci/verify_bundle.py (.ci/model-zoo)
verify: setup
	$(PY) -m monai_ext.tools.zoo --model-zoo-ci .ci/model-zoo bundles/cxr_lung_segmentation bundles/cxr_covid_classification

# Bundle weights for the integrations: kept, downloaded, or (offline, fresh clone) trained small on synthetic data
# the classifier learns from real radiographs where the development sample is (a COVIDx-layout folder)
DEV_SAMPLE ?= ../shared/data/cxr-dev
DEV_COVIDX := $(if $(wildcard $(DEV_SAMPLE)/covidx/train.txt),$(DEV_SAMPLE)/covidx)
weights: data
	$(PY) -m monai_ext.tools.weights --train-if-missing $(if $(DEV_COVIDX),--real-covidx $(DEV_COVIDX))

# A release archive per bundle in the model zoo's layout (weights in when make weights has them), for
# python -m monai.bundle download --name NAME --url file://$(CURDIR)/results/release/NAME_vX.Y.Z.zip
release: setup
	$(PY) -m monai_ext.tools.release --out results/release

# MONAI Label and MONAI Deploy each get their own environment: their dependencies (numpy 1.26 for
# monailabel, holoscan for the App SDK) must not move the core pins. Both add the core requirements.
LABEL_VENV := .venv-label
DEPLOY_VENV := .venv-deploy
LABEL_PORT ?= 8000
LABEL_DIR := results/label

label-env: $(LABEL_VENV)/.installed
$(LABEL_VENV)/.installed: $(LABEL_LOCK) pyproject.toml
	$(call install_lock,$(LABEL_VENV),$(LABEL_LOCK))

deploy-env: $(DEPLOY_VENV)/.installed
$(DEPLOY_VENV)/.installed: $(DEPLOY_LOCK) pyproject.toml
	$(call install_lock,$(DEPLOY_VENV),$(DEPLOY_LOCK))

# a folder of studies (synthetic PNG/DICOM with lung masks as final labels, and the real RG1_UNCR.dcm),
# then the server with both bundles from bundles/ (training updates bundles/cxr_lung_segmentation/models).
# STUDIES=http://127.0.0.1:8042/dicom-web serves a PACS's CR/DX series instead (labels saved as DICOM SEG there);
# a STUDIES folder of your own is served as it is (only the default one is written).
# Loopback only, and only pages served from this host may read its answers (CORS: monai_ext.apps.label.server;
# LABEL_ORIGINS='["https://viewer.example.org"]' names others); docs/label.md says how to open it to a
# network (LABEL_HOST) and turn MONAI Label's authentication on.
LABEL_HOST ?= 127.0.0.1
STUDIES ?= $(LABEL_DIR)/studies
label: label-env weights
	$(if $(filter $(LABEL_DIR)/studies,$(STUDIES)),$(LABEL_VENV)/bin/python -m monai_ext.apps.label.studies --out $(STUDIES))
	$(LABEL_VENV)/bin/python -m monai_ext.apps.label.server --app monai_ext/apps/label/app --studies $(STUDIES) \
		--conf pacs_cache $(LABEL_DIR)/pacs-cache --host $(LABEL_HOST) --port $(LABEL_PORT) \
		$(if $(LABEL_ORIGINS),--origins '$(LABEL_ORIGINS)')

deploy-demo: deploy-env weights
	$(DEPLOY_VENV)/bin/python -m monai_ext.apps.deploy.demo --out results/deploy

# The hospital's round trip on loopback: Orthanc (Debian's orthanc, orthanc-dicomweb), the OHIF viewer (npm's
# @ohif/app, its built dist/ only) and headless Chromium. pacs-deps installs what is missing (apt-get).
PACS_PORT ?= 8042
PACS_URL := http://127.0.0.1:$(PACS_PORT)/dicom-web
VIEWER_PORT ?= 3000
VIEWER_DIR := .viewer
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PACS_PACKAGES := $(shell command -v Orthanc >/dev/null 2>&1 || echo orthanc) \
	$(shell ls /usr/share/orthanc/plugins/libOrthancDicomWeb.so* >/dev/null 2>&1 || echo orthanc-dicomweb) \
	$(shell command -v chromium >/dev/null 2>&1 || echo chromium) $(shell command -v npm >/dev/null 2>&1 || echo npm)

pacs-deps:
	$(if $(strip $(PACS_PACKAGES)),$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(strip $(PACS_PACKAGES)),@echo "Orthanc, its DICOMweb plugin, Chromium and npm are installed")

pacs: setup pacs-deps
	$(PY) -m monai_ext.apps.pacs serve --storage results/pacs --port $(PACS_PORT)

pacs-load: setup
	$(PY) -m monai_ext.apps.pacs load --url $(PACS_URL)

viewer-install: $(VIEWER_DIR)/ohif/index.html
$(VIEWER_DIR)/ohif/index.html: | $(STAMP)
	$(PY) -m monai_ext.apps.pacs.viewer install --dest $(VIEWER_DIR)

viewer: viewer-install
	$(PY) -m monai_ext.apps.pacs.viewer serve --root $(VIEWER_DIR)/ohif --pacs http://127.0.0.1:$(PACS_PORT) --port $(VIEWER_PORT)

deploy-pacs: deploy-env weights
	$(DEPLOY_VENV)/bin/python -m monai_ext.apps.deploy.pacs --pacs $(PACS_URL) --study $(STUDY) \
		--model results/deploy/models --export --out results/deploy-pacs $(if $(SALIENCY),--saliency)

integration: label-env deploy-env data pacs-deps viewer-install
	CXR_INTEGRATION=1 $(PY) -m pytest tests/integration/test_travel.py tests/integration/test_real_study.py tests/integration/test_multi_gpu.py \
		tests/integration/test_documented.py
	$(LABEL_VENV)/bin/python -m pytest tests/integration/test_monailabel.py tests/integration/test_pacs_label.py
	$(DEPLOY_VENV)/bin/python -m pytest tests/integration/test_deploy.py tests/integration/test_pacs_deploy.py

clean:
	rm -rf $(SYNTH) results
