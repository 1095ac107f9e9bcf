"""The segmentation bundle's multi-GPU override under torchrun, two ranks on the CPU (gloo): both ranks
end with the same weights, rank 0 alone writes the model and the checkpoint. Two training processes at
once, so `make integration` runs it (CXR_INTEGRATION=1)."""

from __future__ import annotations

import json
import os
import sys

import pytest
import torch
from conftest import REPO, run_cli

from monai_ext.tools.data_lists import build_covid_qu_ex, write_datalist

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.environ.get("CXR_INTEGRATION"), reason="make integration runs this (CXR_INTEGRATION=1)"),
]

CONFIGS = REPO / "bundles" / "cxr_lung_segmentation" / "configs"


def test_multi_gpu_config_trains_both_ranks_to_the_same_weights_under_torchrun_on_cpu(synthetic_root, tmp_path):
    datalist = tmp_path / "seg.json"
    write_datalist(build_covid_qu_ex(synthetic_root / "lung-seg"), datalist)
    common = ["--dataset_dir", str(synthetic_root / "lung-seg"), "--datalist", str(datalist),
              "--output_dir", str(tmp_path / "train"), "--ckpt_dir", str(tmp_path / "models"),
              "--image_size", "64", "--batch_size", "4", "--num_workers", "0"]  # fmt: skip
    # every rank saves its weights at the end: a test handler beside the config's own, in a third config file
    extra = tmp_path / "save_per_rank.json"
    handlers = (
        "$@train#handlers + (@train#rank0_handlers if dist.get_rank() == 0 else [])"
        f" + [rank_weights.SaveWeightsPerRank(@network, '{tmp_path / 'ranks'}')]"
    )
    extra.write_text(json.dumps({"rank_weights": "$import rank_weights", "train#trainer#train_handlers": handlers}))
    configs = f"['{CONFIGS / 'train.json'}','{CONFIGS / 'multi_gpu_train.json'}','{extra}']"
    run_cli(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--master_port",
            "29517",
            "-m",
            "monai.bundle",
            "run",
            "training",
            "--config_file",
            configs,
            "--max_epochs",
            "1",
            *common,
        ],
        env={"PYTHONPATH": str(REPO / "tests")},
    )
    ranks = [torch.load(tmp_path / "ranks" / f"rank{r}.pt", map_location="cpu", weights_only=True) for r in (0, 1)]
    assert ranks[0].keys() == ranks[1].keys()
    for name, tensor in ranks[0].items():
        torch.testing.assert_close(ranks[1][name], tensor, rtol=0, atol=0, msg=name)
    # rank 0 alone wrote the best model and the resume checkpoint, and the model is rank 0's final weights or earlier
    assert (tmp_path / "models" / "model.pt").is_file() and (tmp_path / "train" / "checkpoint_epoch=1.pt").is_file()
    final = torch.load(tmp_path / "train" / "checkpoint_epoch=1.pt", map_location="cpu", weights_only=True)["model"]
    assert all(torch.equal(final[k], ranks[0][k]) for k in ranks[0])
