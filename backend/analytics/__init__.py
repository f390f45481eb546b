"""Relationship population (関係人口): figures from everything the town records, for staff
in full and for the public with small counts suppressed (DESIGN.md, 関係人口)."""
