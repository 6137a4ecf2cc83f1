"""Names the ``pinsage`` command checks its options against before it imports torch: the
kinds of nearest-neighbour index (:mod:`pinsage_dgl.retrieval` builds them) and the file
formats of embeddings (:mod:`pinsage_dgl.inference` writes them)."""

INDEX_KINDS = ("exact", "flat", "ivf", "hnsw")
EMBEDDING_FORMATS = (".npz", ".parquet")
