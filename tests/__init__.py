"""Tests of the Prepaid SIM integration."""
