"""Lottery (抽選) sales: applications, a draw anyone can re-check (furusato-lottery-1), promotions."""
