"""Benefits: shops and facilities, their holders' benefits, shop verifiers, redemptions, spots
and check-ins — the evidence that a digital resident actually came to the town."""
