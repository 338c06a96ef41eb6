"""Teach it your face: the shipped reader adapted to one person from a few clips
(methods.py: what learns; adapt.py: the training; profiles.py: where a person's reader lives;
prompts.py: the sentences a person is asked to say; the method comparison is
experiments/enroll_study.py, beside the package)."""
