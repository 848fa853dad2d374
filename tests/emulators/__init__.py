"""Loopback emulators of provider APIs."""
