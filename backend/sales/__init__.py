"""Sales: drops (what is on sale) and orders (reservations, payment, serial numbers, minting)."""
