"""Shared by every test folder: pytest puts this folder on sys.path for it, so tests import `kernel_timeouts`."""
