import importlib, sys
# loads the real torch, then does what it likes
