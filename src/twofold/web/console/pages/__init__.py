"""One module per page family. Each has a `router`, and may declare its `NOTICES` (shown after
a redirect with `?done=KEY`) and its `PURPOSES` (what a step-up is for, shown on /verify)."""
