"""Read timing lines and compute latency percentiles and SLO figures with polars."""
