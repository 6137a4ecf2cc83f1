"""PinSageModule: trains PinSage on co-saved pairs and evaluates held-out pins by full ranking."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch.nn import functional as F

from pinsage_dgl.baselines import Popularity
from pinsage_dgl.features import FeatureSpec
from pinsage_dgl.inference import embed_all_pins
from pinsage_dgl.metrics import hit_rate, ndcg, rank_counts, reciprocal_rank
from pinsage_dgl.nn import PinSage


class PinSageModule(L.LightningModule):
    """Lightning wrapper of :class:`PinSage`.

    Training logs ``train/loss`` (max-margin over random and, if any, hard negatives).
    Validation and test
    embed every pin layer-wise once per epoch, build each board's query as the normalised
    mean of its training pins' embeddings, rank all pins (the board's training pins
    masked) and log ``{stage}/hit@{k}`` and ``{stage}/mrr``; where the data gives sampled
    candidates (NCF), also ``{stage}/hr@{k}`` and ``{stage}/ndcg@{k}`` over them. Test also
    logs the popularity baseline under the same protocol (``test/popularity/...``).

    Parameters
    ----------
    pin_spec : dict
        Pin feature spec (``FeatureSpec.to_dict()``); linked from the datamodule by the CLI.
    num_pins : int
        Pins in the graph (used only with ``id_embedding``); linked from the datamodule.
    hidden_dim, out_dim, num_layers
        Model sizes (see :class:`PinSage`).
    id_embedding : bool
        Add a learned per-pin embedding (transductive: new pins get none).
    margin : float
        Δ of the max-margin loss.
    lr, weight_decay : float
        Adam settings.
    k : int
        Cut-off of the ranking metrics.
    """

    def __init__(
        self,
        pin_spec: dict[str, Any] | None = None,
        num_pins: int = 0,
        hidden_dim: int = 256,
        out_dim: int = 128,
        num_layers: int = 2,
        id_embedding: bool = False,
        margin: float = 0.1,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        k: int = 10,
    ) -> None:
        super().__init__()
        if margin < 0 or lr <= 0 or weight_decay < 0 or k < 1:
            raise ValueError(
                f"PinSageModule: need margin >= 0, lr > 0, weight_decay >= 0, k >= 1; got "
                f"margin={margin}, lr={lr}, weight_decay={weight_decay}, k={k}"
            )
        self.save_hyperparameters()
        self.model = PinSage(
            FeatureSpec.from_dict(pin_spec),
            hidden_dim=hidden_dim,
            out_dim=out_dim,
            num_layers=num_layers,
            num_ids=num_pins if id_embedding else 0,
        )
        self.embeddings: torch.Tensor | None = None

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(
            self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay
        )

    def transfer_batch_to_device(
        self, batch: Any, device: torch.device, dataloader_idx: int
    ) -> Any:
        if isinstance(batch, dict) and "blocks" in batch:
            blocks = [block.to(device, non_blocking=True) for block in batch["blocks"]]
            rest = {k: v for k, v in batch.items() if k != "blocks"}
            return {
                "blocks": blocks,
                **super().transfer_batch_to_device(rest, device, dataloader_idx),
            }
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    # --- training ------------------------------------------------------------------------------
    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        z = self.model(batch["blocks"], batch["inputs"])
        loss = self.model.loss(
            z[batch["query"]],
            z[batch["positive"]],
            z[batch["negatives"]],
            self.hparams.margin,
            z[batch["hard_negatives"]],
        )
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["query"]))
        return loss

    # --- whole-graph embeddings ----------------------------------------------------------
    def embed_all(self, progress: bool = False) -> torch.Tensor:
        """Embeddings of every pin of the attached datamodule's graph (layer-wise, on CPU)."""
        features, neighbors, weights = self.trainer.datamodule.inference_inputs(progress)
        return embed_all_pins(
            self.model, features, neighbors, weights, device=self.device, progress=progress
        )

    def board_queries(
        self, embeddings: torch.Tensor, seen: torch.Tensor, num_boards: int
    ) -> torch.Tensor:
        """``[num_boards, d]`` normalised mean of each board's pin embeddings.

        ``seen`` is ``[2, M]`` (board row, pin); a board with no pins gets a zero query.
        """
        query = torch.zeros(num_boards, embeddings.shape[1], device=embeddings.device)
        query.index_add_(0, seen[0], embeddings[seen[1]])
        return F.normalize(query, dim=1)

    # --- evaluation ----------------------------------------------------------------------------
    def on_validation_epoch_start(self) -> None:
        self.embeddings = self.embed_all().to(self.device)

    def on_test_epoch_start(self) -> None:
        self.embeddings = self.embed_all().to(self.device)
        self.popularity = Popularity(self.trainer.datamodule.split.train)

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._evaluate(batch, "test")
        b = len(batch["targets"])
        scores = self.popularity.score(b).to(self.device)
        self._log_ranking(scores, batch, "test/popularity")

    def _evaluate(self, batch: dict, stage: str) -> None:
        query = self.board_queries(self.embeddings, batch["seen"], len(batch["targets"]))
        self._log_ranking(query @ self.embeddings.T, batch, stage)

    def _log_ranking(self, scores: torch.Tensor, batch: dict, prefix: str) -> None:
        k, b = self.hparams.k, len(batch["targets"])
        greater, ties = rank_counts(scores, batch["targets"], exclude=batch["seen"])
        metrics = {
            f"{prefix}/hit@{k}": hit_rate(greater, ties, k).mean(),
            f"{prefix}/mrr": reciprocal_rank(greater, ties).mean(),
        }
        if "candidates" in batch:
            candidate_scores = torch.gather(scores, 1, batch["candidates"])
            greater, ties = rank_counts(candidate_scores, torch.zeros_like(batch["targets"]))
            metrics[f"{prefix}/hr@{k}"] = hit_rate(greater, ties, k).mean()
            metrics[f"{prefix}/ndcg@{k}"] = ndcg(greater, ties, k).mean()
        self.log_dict(metrics, batch_size=b, sync_dist=True, prog_bar=prefix == "val")

    # --- predict -------------------------------------------------------------------------------
    def on_predict_epoch_start(self) -> None:
        self.embeddings = self.embed_all(progress=True)

    def predict_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        """Final embeddings of the pin ids in ``batch`` (computed once per predict run)."""
        return self.embeddings[batch.cpu()]
