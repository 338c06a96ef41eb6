"""The networks (networks.py, with fastconv.py's conv1), their weights (loader.py), and
widening a trained network (widen.py)."""
