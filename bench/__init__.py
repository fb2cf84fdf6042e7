"""The fan-out benchmark: livedash against a node:http reference, in one run.

`python -m bench` (or `make bench`) starts the servers itself, drives them with a load
client of our own on loopback, prints a table of figures against their targets and writes
the figures as JSON under bench/results/.
"""
