from lipread.model.personal import InputPrompt  # noqa: F401  (temporary, for a running study)
