"""Holders: walletless supporters, their custodial keys, sign-in links and cards."""
