"""Tests of the provider clients."""
