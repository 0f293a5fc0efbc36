"""One module per pattern: shared state as numpy arrays, operations as @kernel functions,
each pattern next to its baselines and its (flagged) broken teaching variants."""
