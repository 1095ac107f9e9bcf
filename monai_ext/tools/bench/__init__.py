"""The benchmark behind ``make bench`` (``python -m monai_ext.tools.bench``): training throughput and end-to-end latency."""
