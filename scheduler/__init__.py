"""Multichannel appointment and callback scheduling for Jobcenters."""
