"""`make bench`: the slice on a large simulated city-day against a floor measured in the same run."""
