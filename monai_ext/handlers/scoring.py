"""A proper scoring rule as an Ignite metric, for checkpoint selection and early stopping.

ROC AUC ranks: it saturates at 1.0 on a small validation set while the probabilities still sit on the
wrong side of 0.5, and the first epoch to reach 1.0 would be kept. The mean log-likelihood of the true
class (minus the cross-entropy) rewards probabilities that are both ranked and placed right; higher is
better, so MONAI's evaluators, ``stopping_fn_from_metric`` and :class:`BestModelSaver` use it as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from ignite.exceptions import NotComputableError
from ignite.metrics import Metric
from ignite.metrics.metric import reinit__is_reduced, sync_all_reduce

from monai_ext.handlers.outputs import probs_and_labels

__all__ = ["LogLikelihood"]


class LogLikelihood(Metric):
    """Mean log-probability given to the true class over an epoch: ``-cross_entropy``, at most 0.

    Args:
        output_transform: engine output -> ``(probabilities (B, C), label indices (B,))``; the default
            reads MONAI's decollated ``pred`` (after softmax) and ``label``.
        eps: probabilities are clamped to at least ``eps`` (a confident miss scores ``log(eps)``, not -inf).
        device: where the running sums are kept (for distributed reduction).
    """

    def __init__(
        self,
        output_transform: Callable[[Sequence[dict]], tuple[torch.Tensor, torch.Tensor]] = probs_and_labels,
        eps: float = 1e-7,
        device: str | torch.device = "cpu",
    ) -> None:
        self.eps = eps
        super().__init__(output_transform=output_transform, device=device)

    @reinit__is_reduced
    def reset(self) -> None:
        self._sum = torch.tensor(0.0, dtype=torch.float64, device=self._device)
        self._count = torch.tensor(0, dtype=torch.long, device=self._device)

    @reinit__is_reduced
    def update(self, output: tuple[torch.Tensor, torch.Tensor]) -> None:
        probs, labels = output
        true_class = probs.detach().double().gather(1, labels.long().view(-1, 1).to(probs.device))
        self._sum += true_class.clamp_min(self.eps).log().sum().to(self._device)
        self._count += labels.numel()

    @sync_all_reduce("_sum", "_count")
    def compute(self) -> float:
        if self._count.item() == 0:
            raise NotComputableError("LogLikelihood needs at least one example")
        return (self._sum / self._count).item()
