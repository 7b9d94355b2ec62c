"""Load bench for imgcloud: Locust through the floating IP, raw worker speed, scaling.

`python -m loadbench bench` runs Locust headless for a fixed load and duration, times the
apps' resize pipeline in one process on the same images, and writes `reports/load/`.
"""
