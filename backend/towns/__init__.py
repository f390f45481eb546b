"""Towns (自治体) on this deployment: their records, contracts and public listing."""
