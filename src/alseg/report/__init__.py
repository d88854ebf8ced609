"""Reports of a study: the paper's tables, budget curves and t-SNE figures, from the store."""
