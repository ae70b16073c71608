"""Python models: what SQL cannot do (the identity graph's fixpoint, data-driven weights, LTV fits)."""
