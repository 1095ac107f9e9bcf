"""The benchmark behind ``make bench`` (``python -m monai_ext.bench``): training throughput and end-to-end latency."""
