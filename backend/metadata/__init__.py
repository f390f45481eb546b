"""Token metadata: what a wallet or marketplace shows for a card (JSON and an SVG picture).

Split in three so each part can be tested alone: `lookup` decides whether a card is issued
and gathers the public facts about it, `card` turns those facts into ERC-721 metadata, and
`image` draws them. None of it ever sees the buyer: metadata is public and permanent.
"""
