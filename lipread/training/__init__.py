"""Training: crops cached once (cropstore, cropcache), clips and labels (dataset), batches
and augmentation (batches), losses, the recipe's defaults, devices, callbacks, and one run
(run.py, what `lipread train` calls)."""
