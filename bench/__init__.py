"""`make bench`: speed and cost figures, each a ratio against a baseline measured in the same run."""
