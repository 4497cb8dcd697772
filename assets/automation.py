"""When the automation sensor materialises an asset after the nightly harvest (tests/test_automation.py).

Dagster's eager() also waits until no partition its deps map to is missing. For a city day that is the nine
banners of its own day, as wanted; for a month it is every banner-day of the month so far, and for the fault
history and the warehouse every banner-day since XL_START_DATE, so in a deployment whose history starts before
its first harvest (or with one banner-day blocked) they would never run. Those wait only for what they read.
"""

import dagster as dg

AC = dg.AutomationCondition
_EAGER_OVER_SOME = AC.eager().without(~AC.any_deps_missing())
# An input made in another run (another partitioning) is awaited, not raced: Dagster's in-progress guard starts
# only once that run exists.
_NO_DEP_ABOUT_TO_RUN = ~AC.any_deps_match(AC.will_be_requested()).with_label("any_deps_will_be_requested")

CITY_DAY = AC.eager()
# A month or all history is built over the days there are (assets/gold.py missing_inputs): each input needs one.
OVER_WHAT_EXISTS = (_EAGER_OVER_SOME & AC.all_deps_match(~AC.missing() | AC.will_be_requested()).with_label(
    "every dep has a partition")).with_label("eager over what exists")
# The leadership month reads a city day, the fault history and month tables, each made in runs of its own.
AFTER_INPUTS = (OVER_WHAT_EXISTS & _NO_DEP_ABOUT_TO_RUN).with_label("eager over what exists, after its inputs")
# The views and the report show the whole lake: refreshed once nothing upstream is running or about to.
AFTER_LAKE = (_EAGER_OVER_SOME & _NO_DEP_ABOUT_TO_RUN).with_label("eager once the lake is quiet")
