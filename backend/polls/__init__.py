"""Polls: announcements to holders and votes on town questions, one card one vote, with a
ballot file anyone can recount."""
