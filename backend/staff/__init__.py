"""Staff: the town's people, their roles, sign-in by emailed code, sessions and invites."""
