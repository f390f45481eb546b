"""Payments: providers behind one interface (`demo`, `card`, `wallet`)."""
