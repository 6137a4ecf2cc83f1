"""Pin features (numeric, categorical, text/tags tokens, optional id) → one dense vector."""

from __future__ import annotations

import torch
from torch import nn

from pinsage_dgl.features import FeatureSpec


class FeatureEncoder(nn.Module):
    r"""A linear map of a pin's features: :math:`h^{(0)} = \sum_c E_c(x_c)`.

    Numeric columns share one linear layer; each categorical column has an embedding table;
    each text/tags column the mean of its token embeddings (padding ignored). With
    ``num_ids > 0`` a learned per-pin embedding is added too; that makes the model
    transductive (pins unseen in training have no id vector: ids outside ``[0, num_ids)``
    get none), so it is off by default.

    Parameters
    ----------
    spec : FeatureSpec
        The encoded feature columns.
    out_feats : int
        Size of :math:`h^{(0)}`.
    num_ids : int
        Number of pins with an id embedding (0 = none).
    """

    def __init__(self, spec: FeatureSpec, out_feats: int, num_ids: int = 0) -> None:
        super().__init__()
        if len(spec) == 0 and num_ids == 0:
            raise ValueError(
                "pins have no features and id embeddings are off: give a pin feature table "
                "or set id_embedding=True (pinsage: --model.id_embedding true)"
            )
        self.spec = spec
        self.numeric = [c.name for c in spec.columns if c.kind == "numeric"]
        self.numeric_proj = nn.Linear(len(self.numeric), out_feats) if self.numeric else None
        self.embeddings = nn.ModuleDict()
        for col in spec.columns:
            if col.kind == "categorical":
                self.embeddings[col.name] = nn.Embedding(col.cardinality, out_feats)
            elif col.kind in ("text", "tags"):
                self.embeddings[col.name] = nn.EmbeddingBag(
                    col.cardinality, out_feats, mode="mean", padding_idx=0
                )
        self.id_embedding = nn.Embedding(num_ids, out_feats) if num_ids > 0 else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for emb in self.embeddings.values():
            nn.init.normal_(emb.weight, std=0.1)
            if emb.padding_idx is not None:
                with torch.no_grad():
                    emb.weight[emb.padding_idx].zero_()
        if self.id_embedding is not None:
            nn.init.normal_(self.id_embedding.weight, std=0.1)
        if self.numeric_proj is not None:
            self.numeric_proj.reset_parameters()

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """``inputs``: feature name → tensor (as :meth:`ImportanceSampler.input_features`)."""
        parts = []
        if self.numeric_proj is not None:
            numeric = torch.cat(
                [inputs[n].float().view(len(inputs[n]), -1) for n in self.numeric], 1
            )
            parts.append(self.numeric_proj(numeric))
        for name, emb in self.embeddings.items():
            parts.append(emb(inputs[name]))
        if self.id_embedding is not None:
            # ids outside the table (pins new since training) get no id vector
            ids = inputs["_id"]
            known = (ids >= 0) & (ids < self.id_embedding.num_embeddings)
            vectors = self.id_embedding(torch.where(known, ids, 0))
            parts.append(vectors * known.unsqueeze(1).to(vectors.dtype))
        total = parts[0]  # every part is a fresh tensor: summed in place, no stack
        for part in parts[1:]:
            total = total.add_(part)
        return total
