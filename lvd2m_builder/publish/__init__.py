"""Publishing to the Hub: the Hub's limits (limits.py) and what a push changes (plan.py); hub.py pushes."""
