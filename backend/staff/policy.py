"""Who may call which town route: one table, read by `backend.staff.deps.town_staff`.

`POLICY[(method, route_path)]` is the set of roles allowed to call a route under
`/api/v1/staff/towns/{slug}/`, keyed by the HTTP method and FastAPI's route path exactly as
declared (e.g. `("GET", "/api/v1/staff/towns/{slug}/drops")`). Each area adds the entries of
its own routes here, one line each.

A route missing from this table is treated as owner-only at run time (fail closed), and the
authorisation matrix test (`tests/staff/test_authorisation_matrix.py`) fails naming it, so a
new route cannot ship without a decision.

`ALLOWED_IF[(method, route_path)]` grants a role on a route only while a flag of the town is
true: refunds are the owner's, and an editor's too when `town.editors_may_refund` is set
(DESIGN.md, staff). The role must then be left out of `POLICY` for that route.

The role sets (DESIGN.md): owner everything; editor drops, lotteries, campaigns, parks,
benefits, spots, announcements, polls (and reads orders); moderator park names and
announcements/polls before they go out; analyst reads orders, analytics, exports, funnel;
verifier verifies passes and redeems benefits (nothing in the console but `/me`).
"""

from __future__ import annotations

from typing import Final

#: Sets to build entries from, so each line reads as a decision.
OWNER: Final = frozenset({"owner"})
EDITORS: Final = frozenset({"owner", "editor"})
MODERATORS: Final = frozenset({"owner", "moderator"})
EDITORS_AND_MODERATORS: Final = frozenset({"owner", "editor", "moderator"})
#: Who reads sales figures and orders: the owner, editors (they run the sales) and analysts.
ORDER_READERS: Final = frozenset({"owner", "editor", "analyst"})
ANALYSTS: Final = frozenset({"owner", "analyst"})
#: Who reads drops: everyone in the console but the shop verifier.
DROP_READERS: Final = frozenset({"owner", "editor", "analyst", "moderator"})
#: Who may run a staffed spot's kiosk screen: editors and the town's shop verifiers.
KIOSK_RUNNERS: Final = frozenset({"owner", "editor", "verifier"})

TOWN: Final = "/api/v1/staff/towns/{slug}"
#: The dashboard's figures: `GET {TOWN}/analytics/{figure}` and its `.csv` (backend/analytics).
ANALYTICS_FIGURES: Final = (
    "summary",
    "prefectures",
    "residents",
    "funnel",
    "visits",
    "participation",
    "staying",
    "categories",
)

POLICY: dict[tuple[str, str], frozenset[str]] = {
    # staff: members, invites (owner only) and the audit log (owner and analyst: the analyst
    # reviews what happened; editors see an object's history on its own page instead).
    ("GET", f"{TOWN}/members"): OWNER,
    ("PATCH", f"{TOWN}/members/{{staff_id}}"): OWNER,
    ("DELETE", f"{TOWN}/members/{{staff_id}}"): OWNER,
    ("GET", f"{TOWN}/invites"): OWNER,
    ("POST", f"{TOWN}/invites"): OWNER,
    ("DELETE", f"{TOWN}/invites/{{invite_id}}"): OWNER,
    ("GET", f"{TOWN}/audit"): ANALYSTS,
    # campaigns: editors make them and their posters; analysts read the figures (and funnel).
    ("GET", f"{TOWN}/campaigns"): ORDER_READERS,
    ("POST", f"{TOWN}/campaigns"): EDITORS,
    ("GET", f"{TOWN}/campaigns/{{code}}"): ORDER_READERS,
    ("GET", f"{TOWN}/campaigns/{{code}}/poster.pdf"): ORDER_READERS,
    ("GET", f"{TOWN}/campaigns/{{code}}/qr.png"): ORDER_READERS,
    ("GET", f"{TOWN}/campaigns/{{code}}/qr.svg"): ORDER_READERS,
    ("GET", f"{TOWN}/funnel"): ORDER_READERS,
    # drops: owner and editor run them; analyst and moderator read them (figures, moderation).
    ("GET", f"{TOWN}/drops"): DROP_READERS,
    ("POST", f"{TOWN}/drops"): EDITORS,
    ("GET", f"{TOWN}/drops/{{drop_id}}"): DROP_READERS,
    ("PATCH", f"{TOWN}/drops/{{drop_id}}"): EDITORS,
    ("POST", f"{TOWN}/drops/{{drop_id}}/publish"): EDITORS,
    ("POST", f"{TOWN}/drops/{{drop_id}}/pause"): EDITORS,
    ("POST", f"{TOWN}/drops/{{drop_id}}/resume"): EDITORS,
    ("GET", f"{TOWN}/drops/{{drop_id}}/lottery"): DROP_READERS,
    # orders: owner, editor and analyst read them, the CSV and the home page; refunds below.
    ("GET", f"{TOWN}/orders"): ORDER_READERS,
    ("GET", f"{TOWN}/orders.csv"): ORDER_READERS,
    ("GET", f"{TOWN}/orders/{{order_id}}"): ORDER_READERS,
    ("POST", f"{TOWN}/orders/{{order_id}}/refund"): OWNER,
    ("GET", f"{TOWN}/home"): ORDER_READERS,
    # settings: owners change them (names, look, treasury, who refunds); editors read them.
    ("GET", f"{TOWN}/settings"): EDITORS,
    ("PATCH", f"{TOWN}/settings"): OWNER,
    # naming: editors run parks, lots and their signs; moderators (and owners) decide names
    # from the town's list of reasons; everyone but the verifier reads parks and lots.
    ("GET", f"{TOWN}/parks"): DROP_READERS,
    ("POST", f"{TOWN}/parks"): EDITORS,
    ("GET", f"{TOWN}/parks/{{park_id}}"): DROP_READERS,
    ("PATCH", f"{TOWN}/parks/{{park_id}}"): EDITORS,
    ("POST", f"{TOWN}/parks/{{park_id}}/lots"): EDITORS,
    ("GET", f"{TOWN}/parks/{{park_id}}/sign.pdf"): DROP_READERS,
    ("GET", f"{TOWN}/lots/{{lot_id}}"): DROP_READERS,
    ("POST", f"{TOWN}/lots/{{lot_id}}/relist"): EDITORS,
    ("GET", f"{TOWN}/naming/notices"): DROP_READERS,
    ("GET", f"{TOWN}/name-proposals"): EDITORS_AND_MODERATORS,
    ("POST", f"{TOWN}/name-proposals/{{proposal_id}}/approve"): MODERATORS,
    ("POST", f"{TOWN}/name-proposals/{{proposal_id}}/reject"): MODERATORS,
    ("GET", f"{TOWN}/name-reject-reasons"): EDITORS_AND_MODERATORS,
    ("POST", f"{TOWN}/name-reject-reasons"): MODERATORS,
    # benefits: editors run shops, their devices, benefits and spots (and print spot posters);
    # analysts read redemptions and check-ins (visit figures); kiosks run on staff phones.
    ("GET", f"{TOWN}/shops"): DROP_READERS,
    ("POST", f"{TOWN}/shops"): EDITORS,
    ("PATCH", f"{TOWN}/shops/{{shop_id}}"): EDITORS,
    ("GET", f"{TOWN}/shops/{{shop_id}}/devices"): EDITORS,
    ("POST", f"{TOWN}/shops/{{shop_id}}/devices"): EDITORS,
    ("DELETE", f"{TOWN}/devices/{{device_id}}"): EDITORS,
    ("GET", f"{TOWN}/benefits"): DROP_READERS,
    ("POST", f"{TOWN}/benefits"): EDITORS,
    ("PATCH", f"{TOWN}/benefits/{{benefit_id}}"): EDITORS,
    ("GET", f"{TOWN}/redemptions"): ORDER_READERS,
    ("GET", f"{TOWN}/redemptions.csv"): ORDER_READERS,
    ("GET", f"{TOWN}/spots"): DROP_READERS,
    ("POST", f"{TOWN}/spots"): EDITORS,
    ("PATCH", f"{TOWN}/spots/{{spot_id}}"): EDITORS,
    ("GET", f"{TOWN}/spots/{{spot_id}}/poster.pdf"): DROP_READERS,
    ("GET", f"{TOWN}/spots/{{spot_id}}/kiosk"): KIOSK_RUNNERS,
    ("GET", f"{TOWN}/check-ins"): ORDER_READERS,
    ("GET", f"{TOWN}/check-ins.csv"): ORDER_READERS,
    # polls: editors write announcements and polls; moderators (and owners) approve or reject
    # them when the town asks for it; everyone in the console but the verifier reads them.
    ("GET", f"{TOWN}/announcements"): DROP_READERS,
    ("POST", f"{TOWN}/announcements"): EDITORS,
    ("GET", f"{TOWN}/announcements/{{announcement_id}}"): DROP_READERS,
    ("PATCH", f"{TOWN}/announcements/{{announcement_id}}"): EDITORS,
    ("POST", f"{TOWN}/announcements/{{announcement_id}}/submit"): EDITORS,
    ("POST", f"{TOWN}/announcements/{{announcement_id}}/cancel"): EDITORS,
    ("POST", f"{TOWN}/announcements/{{announcement_id}}/approve"): MODERATORS,
    ("POST", f"{TOWN}/announcements/{{announcement_id}}/reject"): MODERATORS,
    ("GET", f"{TOWN}/polls"): DROP_READERS,
    ("POST", f"{TOWN}/polls"): EDITORS,
    ("GET", f"{TOWN}/polls/{{poll_id}}"): DROP_READERS,
    ("PATCH", f"{TOWN}/polls/{{poll_id}}"): EDITORS,
    ("POST", f"{TOWN}/polls/{{poll_id}}/submit"): EDITORS,
    ("POST", f"{TOWN}/polls/{{poll_id}}/cancel"): EDITORS,
    ("POST", f"{TOWN}/polls/{{poll_id}}/approve"): MODERATORS,
    ("POST", f"{TOWN}/polls/{{poll_id}}/reject"): MODERATORS,
    # analytics: the relationship-population figures, their CSVs and the monthly report are
    # read by those who read orders; editors decide premium registration from the evidence;
    # people's data requests (deletion) are the owner's, who answers for the town's records.
    **{("GET", f"{TOWN}/analytics/{figure}"): ORDER_READERS for figure in ANALYTICS_FIGURES},
    **{("GET", f"{TOWN}/analytics/{figure}.csv"): ORDER_READERS for figure in ANALYTICS_FIGURES},
    ("GET", f"{TOWN}/analytics/report.pdf"): ORDER_READERS,
    ("GET", f"{TOWN}/analytics/people/{{person_id}}"): ORDER_READERS,
    ("GET", f"{TOWN}/premium-candidates"): ORDER_READERS,
    ("GET", f"{TOWN}/premium-candidates.csv"): ORDER_READERS,
    ("POST", f"{TOWN}/premium-candidates/{{person_id}}/approve"): EDITORS,
    ("POST", f"{TOWN}/premium-candidates/{{person_id}}/decline"): EDITORS,
    ("GET", f"{TOWN}/data-requests"): OWNER,
    ("POST", f"{TOWN}/data-requests/{{request_id}}/complete"): OWNER,
    ("POST", f"{TOWN}/data-requests/{{request_id}}/decline"): OWNER,
}

ALLOWED_IF: dict[tuple[str, str], dict[str, str]] = {
    ("POST", f"{TOWN}/orders/{{order_id}}/refund"): {"editor": "editors_may_refund"},
}


def allowed(method: str, route_path: str, role: str, flags: object) -> bool:
    """Whether `role` may call the route; `flags` is the town (its boolean attributes).

    A route missing from `POLICY` is owner-only (fail closed)."""
    key = (method.upper(), route_path)
    roles = POLICY.get(key, OWNER)
    if role in roles:
        return True
    flag = ALLOWED_IF.get(key, {}).get(role)
    return flag is not None and bool(getattr(flags, flag, False))
