"""Studies of the product in lipread/, kept beside it (never imported by it): how to teach
it a face (enroll_study.py, enroll_tally.py) and how its confidence is fitted and how well
it says a reading is right (confidence.py). Run `python -m experiments --help` from the
repository's root; README.md says what each measures."""
