"""Developer tools, apart from the product: the sample generator and the benchmark."""
