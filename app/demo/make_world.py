#!/usr/bin/env python3
"""Write the bundled demo world, ``app/demo/world.yaml`` (import format version 1, API.md).

    python app/demo/make_world.py            # rewrite world.yaml next to this script, then check it
    python app/demo/make_world.py --check    # only check the world.yaml that is already there

Why the world looks as it does
------------------------------
The demo retells the Qijiang "綦理家·五员共治" pilot (DESIGN §1) with its real, public place names and
with invented people only: every name is an ordinary made-up Chinese name, drawn from a seeded
generator that refuses names seen in press coverage of the pilot, and every phone number other than
the well-known ``138000000xx`` demo accounts is random.

* 綦江区 › 文龙街道 › 九龙社区 (grid 九龙社区第三网格) › 千山美林 is the pilot compound of the story:
  eight buildings, 146 registered Party members (the figure the product must reproduce, "146
  party members found and grouped by building"), and 6栋, an older seven-storey building of 28
  flats (2 units × 7 floors × 2 doors) whose worn-out elevator is replaced only if ¾ of its owners
  agree. 6栋 is deliberately awkward for the vote rules: 6-1-302 has two co-owners (a couple) and
  one owner holds two of its flats, so 28 households make 27 heads; no flat there is unsold.
* 通惠街道 › 通惠社区 holds 东方新天地 (unregistrable parking spaces, the overgrown back hill) and
  君鼎疆上 (e-bike charging); 山予城 (the property-fee dispute) sits in 九龙社区. Each compound has
  its own grid and grid worker, so a grid worker sees exactly one compound.
* Sizes are those of real mid-sized compounds: 400–520 households each, about 2,000 in all, in
  11–18-storey buildings with 2–4 flats per landing; a stack of flats shares one floor area
  (60–150 m², two decimals), so areas repeat up a building as they do on a real title register.
* Ownership carries every case the vote rules (民法典 art. 278, 解释 art. 9) must handle: most
  households have one owner, about a quarter a co-owning spouse, a few investors own two or three
  flats (one couple co-owns all its flats and counts as one head; another co-owns only one of them
  and counts as two), the developer's representative still holds about 3 % unsold flats per
  compound (one head however many), and about 8 % of households also have a tenant, who lives
  there but cannot vote.
* Every compound has a full team: a chief convener (a Party member living there), a deputy (the
  property manager), 2–3 committee members, one building convener per building living in that
  building, three owners' committee members, one or two property staff; every community has two
  community-committee members and every grid one grid worker. Besides 千山美林's 146, each other
  compound has 10–30 registered Party members, registered between 2024 and 2026.
* The well-known phones 13800000000–13800000018 (README, tests) hold exactly what ``WELL_KNOWN``
  below lists; ``self_check`` proves it, together with the referential rules an import enforces.

The output is deterministic (fixed seed, standard ``random`` and ``yaml`` only): running the script
twice writes the same bytes.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from collections import Counter, defaultdict
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import yaml

SEED = 20250712
OUT = Path(__file__).with_name("world.yaml")

# --------------------------------------------------------------------------------------------
# Places
# --------------------------------------------------------------------------------------------

COMMUNITIES = [
    {"key": "jiulong", "name": "九龙社区", "street": "文龙街道", "district": "綦江区"},
    {"key": "tonghui", "name": "通惠社区", "street": "通惠街道", "district": "綦江区"},
]
GRIDS = [
    {"key": "jiulong-g3", "name": "九龙社区第三网格", "community": "jiulong"},
    {"key": "jiulong-g5", "name": "九龙社区第五网格", "community": "jiulong"},
    {"key": "tonghui-g2", "name": "通惠社区第二网格", "community": "tonghui"},
    {"key": "tonghui-g4", "name": "通惠社区第四网格", "community": "tonghui"},
]

# Floor-area bands (m²) per door on a landing; one area is drawn per stack (building, unit, door).
L2 = ((108, 136), (84, 99))  # 1梯2户: a three-room and a two-room flat
L2_OLD = ((74, 92), (61, 76))  # 6栋 of 千山美林: an older multi-storey building, smaller flats
L3 = ((118, 146), (63, 76), (92, 108))
L4 = ((96, 118), (62, 72), (64, 75), (88, 106))

# Buildings in order 1栋, 2栋, …: (units, floors, doors per landing, area bands).
COMPOUNDS = [
    {
        "key": "qianshan-meilin",
        "name": "千山美林",
        "community": "jiulong",
        "grid": "jiulong-g3",
        "property_company": "千山物业服务有限公司",
        "party_members": 146,
        "buildings": [
            (2, 18, 2, L2),
            (2, 18, 2, L2),
            (2, 17, 2, L2),
            (2, 11, 2, L2),
            (3, 11, 2, L2),
            (2, 7, 2, L2_OLD),
            (2, 18, 2, L2),
            (2, 18, 2, L2),
        ],
    },
    {
        "key": "dongfang-xintiandi",
        "name": "东方新天地",
        "community": "tonghui",
        "grid": "tonghui-g2",
        "property_company": "重庆东天物业服务有限公司",
        "party_members": 24,
        "buildings": [
            (2, 18, 2, L2),
            (2, 18, 2, L2),
            (2, 18, 2, L2),
            (2, 15, 2, L2),
            (2, 15, 2, L2),
            (1, 11, 4, L4),
            (1, 11, 4, L4),
            (1, 11, 4, L4),
        ],
    },
    {
        "key": "junding-jiangshang",
        "name": "君鼎疆上",
        "community": "tonghui",
        "grid": "tonghui-g4",
        "property_company": "君鼎物业服务有限公司",
        "party_members": 17,
        "buildings": [
            (2, 18, 2, L2),
            (2, 18, 2, L2),
            (2, 18, 3, L3),
            (2, 18, 3, L3),
            (2, 16, 2, L2),
            (2, 16, 2, L2),
        ],
    },
    {
        "key": "shanyu-cheng",
        "name": "山予城",
        "community": "jiulong",
        "grid": "jiulong-g5",
        "property_company": "山予物业管理有限公司",
        "party_members": 21,
        "buildings": [
            (2, 18, 2, L2),
            (2, 18, 2, L2),
            (2, 17, 2, L2),
            (2, 17, 2, L2),
            (2, 12, 2, L2),
            (2, 12, 2, L2),
            (3, 11, 2, L2),
            (3, 11, 2, L2),
        ],
    },
]
QS, DF = "qianshan-meilin", "dongfang-xintiandi"

WORK_UNITS = [
    "綦江区应急管理局机关党支部",
    "綦江区科技局机关党支部",
    "綦江区教委机关党支部",
    "綦江区人民医院党委",
    "文龙街道机关党支部",
    "綦江区税务局党委",
    "綦江区财政局机关党支部",
    "綦江区中医院党委",
    "綦江区住房城乡建委机关党支部",
    "通惠街道机关党支部",
    "綦江中学党委",
    "綦江区市场监管局党委",
]
REGISTERED_FROM, REGISTERED_TO = date(2024, 1, 1), date(2026, 10, 31)

# --------------------------------------------------------------------------------------------
# Well-known people (README and tests log in as them). Homes pinned to fixed flats.
# --------------------------------------------------------------------------------------------

WELL_KNOWN_NAMES = {
    "13800000000": "邓佳怡",
    "13800000001": "罗志宏",
    "13800000002": "陈秀兰",
    "13800000003": "王婷",
    "13800000004": "何建军",
    "13800000005": "杨帆",
    "13800000006": "周国庆",
    "13800000007": "张德明",
    "13800000008": "吴晓东",
    "13800000009": "彭海涛",
    "13800000010": "蒋丽",
    "13800000011": "胡小军",
    "13800000012": "李淑珍",
    "13800000013": "熊丹",
    "13800000014": "谭永红",
    "13800000015": "余波",
    "13800000016": "聂文斌",
    "13800000017": "曾庆华",
    "13800000018": "汪成",
}
# phone -> [(compound, household, relation)]
PINNED_HOMES = {
    "13800000001": [(QS, "2-1-1601", "OWNER")],
    "13800000002": [(QS, "6-2-501", "OWNER")],
    "13800000006": [(QS, "3-2-801", "OWNER")],
    "13800000007": [(QS, "6-1-302", "OWNER")],
    "13800000008": [(QS, "1-2-1102", "TENANT")],
    "13800000010": [(QS, "4-1-502", "OWNER")],
    "13800000011": [(DF, "2-1-602", "OWNER")],
    "13800000012": [(QS, "6-1-302", "OWNER")],
    "13800000016": [(DF, "1-1-1501", "OWNER")],
    "13800000017": [(DF, "3-2-1002", "OWNER")],
    "13800000018": [(QS, "6-1-702", "OWNER"), (QS, "6-2-201", "OWNER")],
}
PINNED_PARTY = {"13800000001": {"work_unit": "綦江区应急管理局机关党支部", "registered_on": "2025-03-12"}}

# What each well-known phone holds, stated independently of the generator for self_check:
# roles as (role, scope key or None), positions as (compound, position, building or None),
# homes as (compound, building, relation, exact household or None), party: None / True / exact.
WELL_KNOWN = {
    "13800000000": {"roles": {("ADMIN", None)}},
    "13800000001": {
        "roles": {("PARTY_MEMBER", QS)},
        "positions": {(QS, "CHIEF_CONVENER", None)},
        "homes": [(QS, "2栋", "OWNER", None)],
        "party": PINNED_PARTY["13800000001"],
    },
    "13800000002": {
        "roles": {("PARTY_MEMBER", QS)},
        "positions": {(QS, "BUILDING_CONVENER", "6栋")},
        "homes": [(QS, "6栋", "OWNER", None)],
        "party": True,
    },
    "13800000003": {"roles": {("GRID_WORKER", "jiulong-g3")}},
    "13800000004": {"roles": {("COMMUNITY_COMMITTEE", "jiulong")}},
    "13800000005": {"roles": {("PROPERTY_STAFF", QS)}},
    "13800000006": {"roles": {("OWNERS_COMMITTEE", QS)}, "homes": [(QS, "3栋", "OWNER", None)]},
    "13800000007": {"homes": [(QS, "6栋", "OWNER", "6-1-302")]},
    "13800000008": {"homes": [(QS, "1栋", "TENANT", None)]},
    "13800000009": {"roles": {("PROPERTY_STAFF", QS)}, "positions": {(QS, "DEPUTY_CONVENER", None)}},
    "13800000010": {
        "roles": {("PARTY_MEMBER", QS)},
        "positions": {(QS, "COMMITTEE_MEMBER", None)},
        "homes": [(QS, "4栋", "OWNER", None)],
        "party": True,
    },
    "13800000011": {"homes": [(DF, None, "OWNER", None)]},
    "13800000012": {"homes": [(QS, "6栋", "OWNER", "6-1-302")]},
    "13800000013": {"roles": {("GRID_WORKER", "tonghui-g2")}},
    "13800000014": {"roles": {("COMMUNITY_COMMITTEE", "tonghui")}},
    "13800000015": {"roles": {("PROPERTY_STAFF", DF)}},
    "13800000016": {
        "roles": {("PARTY_MEMBER", DF)},
        "positions": {(DF, "CHIEF_CONVENER", None)},
        "homes": [(DF, None, "OWNER", None)],
        "party": True,
    },
    "13800000017": {"roles": {("OWNERS_COMMITTEE", DF)}, "homes": [(DF, None, "OWNER", None)]},
    "13800000018": {"homes": [(QS, "6栋", "OWNER", None), (QS, "6栋", "OWNER", None)]},
}

# Who fills the fixed seats; anything not named here is drawn from the compound's residents.
SEATS = {
    QS: {
        "chief": "13800000001",
        "deputy": "13800000009",
        "staff": ["13800000005", "13800000009"],
        "owners_committee": ["13800000006"],
        "committee": ["13800000010"],
        "building_conveners": {"6栋": "13800000002"},
        "party": ["13800000001", "13800000002", "13800000010"],
    },
    DF: {
        "chief": "13800000016",
        "staff": ["13800000015"],
        "owners_committee": ["13800000017"],
        "party": ["13800000016"],
    },
}
COMMUNITY_COMMITTEE = {"jiulong": ["13800000004"], "tonghui": ["13800000014"]}
GRID_WORKERS = {"jiulong-g3": "13800000003", "tonghui-g2": "13800000013"}

# --------------------------------------------------------------------------------------------
# Invented names and phones
# --------------------------------------------------------------------------------------------

SURNAMES = (
    "王李张刘陈杨黄赵吴周" * 3 + "徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程"
    "魏苏吕丁任沈姚卢傅钟冉谭向付秦熊廖邹舒母牟陶穆霍游代"
)
MALE = "伟强磊军勇杰涛明超刚平辉鹏华建国志波斌宇浩凯林峰俊文德成兵海东川江宏永荣祥洪龙安"
FEMALE = "芳娜敏静丽艳娟秀霞桂英玉兰萍红燕琴凤莉倩婷雪梅琳慧颖洁晶丹蓉佳欣瑶怡淑珍"
# Names met in press coverage of the pilot area (and the API.md example): never generated.
PRESS_NAMES = {"冉世敏", "郭琴", "徐应芬", "唐斌皓", "刘颖", "董霞", "邵锐"}
PHONE_PREFIXES = (
    "130 131 132 133 135 136 137 138 139 150 151 152 155 157 158 159 166 173 177 178 "
    "180 181 182 183 185 186 187 188 189 191 199"
).split()


class People:
    """Registry of invented people: unique phones, unique names, homes in insertion order."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.by_phone: dict[str, dict] = {}
        self.names: set[str] = set(PRESS_NAMES) | set(WELL_KNOWN_NAMES.values())

    def _phone(self) -> str:
        while True:
            phone = self.rng.choice(PHONE_PREFIXES) + "".join(self.rng.choice("0123456789") for _ in range(8))
            if not phone.startswith("1380000") and phone not in self.by_phone:
                return phone

    def _name(self, female: bool) -> str:
        pool = FEMALE if female else MALE
        while True:
            k = 2 if self.rng.random() < 0.7 else 1
            name = self.rng.choice(SURNAMES) + "".join(self.rng.sample(pool, k))
            if name not in self.names:
                self.names.add(name)
                return name

    def new(self, *, phone: str | None = None, name: str | None = None, female: bool | None = None) -> dict:
        if female is None:
            female = self.rng.random() < 0.5
        if phone is None:
            phone = self._phone()
        if name is None:
            name = self._name(female)
        assert phone not in self.by_phone, phone
        p = {"phone": phone, "name": name, "female": female, "party": None, "homes": []}
        self.by_phone[phone] = p
        return p

    def well_known(self, phone: str) -> dict:
        return self.by_phone.get(phone) or self.new(phone=phone, name=WELL_KNOWN_NAMES[phone])

    def developer(self) -> dict:
        surname = self.rng.choice("冉谭向秦熊廖邹舒牟陶穆霍游代")
        title = self.rng.choice(("先生", "女士"))
        name = f"开发商代表{surname}{title}"
        while name in self.names:
            name = f"开发商代表{self.rng.choice(SURNAMES)}{title}"
        self.names.add(name)
        return self.new(name=name, female=title == "女士")

    def party(self, p: dict) -> None:
        if p["party"] is None:
            day = REGISTERED_FROM + timedelta(
                days=self.rng.randrange((REGISTERED_TO - REGISTERED_FROM).days + 1)
            )
            p["party"] = PINNED_PARTY.get(p["phone"]) or {
                "work_unit": self.rng.choice(WORK_UNITS),
                "registered_on": day.isoformat(),
            }


# --------------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------------


def make_buildings(rng: random.Random, spec: list) -> list[dict]:
    buildings = []
    for b, (units, floors, doors, bands) in enumerate(spec, start=1):
        areas = {
            (u, d): Decimal(rng.randrange(bands[d - 1][0] * 100, bands[d - 1][1] * 100 + 1)) / 100
            for u in range(1, units + 1)
            for d in range(1, doors + 1)
        }
        households = [
            {"number": f"{b}-{u}-{floor}{d:02d}", "floor": floor, "area": f"{areas[u, d]:.2f}"}
            for u in range(1, units + 1)
            for floor in range(1, floors + 1)
            for d in range(1, doors + 1)
        ]
        buildings.append({"name": f"{b}栋", "households": households})
    return buildings


def populate(
    rng: random.Random, people: People, cfg: dict, buildings: list[dict], roles: list, positions: list
) -> None:
    """Owners, co-owners, developer, investors, tenants, then the team and Party members."""
    key = cfg["key"]
    seats = SEATS.get(key, {})
    building_of = {h["number"]: b["name"] for b in buildings for h in b["households"]}
    numbers = list(building_of)
    owners: dict[str, list[dict]] = defaultdict(list)
    tenants: dict[str, list[dict]] = defaultdict(list)

    def home(p: dict, number: str, relation: str) -> None:
        p["homes"].append({"compound": key, "household": number, "relation": relation})
        (owners if relation == "OWNER" else tenants)[number].append(p)

    # Well-known homes first; their flats get no other owners or tenants, except the flat a
    # well-known tenant rents, which gets an ordinary owner below.
    reserved: set[str] = set()
    for phone, homes in PINNED_HOMES.items():
        for compound, number, relation in homes:
            if compound == key:
                home(people.well_known(phone), number, relation)
                reserved.add(number)
    free = [n for n in numbers if n not in reserved]
    rented_pinned = [n for n in numbers if n in tenants]  # has a well-known tenant, needs an owner

    # Unsold flats held by the developer (none in 千山美林 6栋: that old building is sold out).
    developer = people.developer()
    candidates = [n for n in free if not (key == QS and building_of[n] == "6栋")]
    unsold = sorted(rng.sample(candidates, round(0.03 * len(numbers))), key=numbers.index)
    for n in unsold:
        home(developer, n, "OWNER")
    placed = set(unsold) | set(rented_pinned)
    free = [n for n in free if n not in placed]
    rng.shuffle(free)

    # Investors: the first couple co-owns all three of its flats (one head); the second couple
    # co-owns only the first of its flats (two heads); the rest own two flats, a spouse sometimes.
    groups: list[tuple[dict, list[str], str]] = []  # (owner, flats, spouse mode: all/first/none)
    for i in range(max(3, round(0.012 * len(numbers)))):
        flats = [n for n in free if not (key == QS and building_of[n] == "6栋")][-(3 if i == 0 else 2) :]
        free = [n for n in free if n not in flats]
        mode = "all" if i == 0 else "first" if i == 1 else ("all" if rng.random() < 0.25 else "none")
        groups.append((people.new(), sorted(flats, key=numbers.index), mode))
    investor_extra = [n for _, flats, _ in groups for n in flats[1:]]
    for n in rented_pinned + free:
        groups.append((people.new(), [n], "all" if rng.random() < 0.25 else "none"))
    for owner, flats, mode in groups:
        for n in flats:
            home(owner, n, "OWNER")
        if mode != "none":
            spouse = people.new(female=not owner["female"])
            for n in flats if mode == "all" else flats[:1]:
                home(spouse, n, "OWNER")

    # Tenants in about 8 % of households, investors' second flats first.
    target = round(0.08 * len(numbers)) - len(tenants)
    rentable = [n for n in numbers if n not in reserved and n not in set(unsold)]
    chosen = [n for n in investor_extra if rng.random() < 0.6][:target]
    rest = [n for n in rentable if n not in set(chosen)]
    chosen += rng.sample(rest, target - len(chosen))
    for n in sorted(chosen, key=numbers.index):
        home(people.new(), n, "TENANT")

    # Residents who may take a seat: owners other than the developer and the well-known people.
    residents: list[dict] = []
    seen: set[str] = set()
    for n in numbers:
        for p in owners[n]:
            if p["phone"] not in seen and p is not developer and p["phone"] not in WELL_KNOWN_NAMES:
                seen.add(p["phone"])
                residents.append(p)
    taken: set[str] = set()

    def pick(pool: list[dict]) -> dict:
        p = rng.choice([q for q in pool if q["phone"] not in taken])
        taken.add(p["phone"])
        return p

    single = [p for p in residents if len(p["homes"]) == 1]
    by_building: dict[str, list[dict]] = defaultdict(list)
    for p in single:
        by_building[building_of[p["homes"][0]["household"]]].append(p)

    chief = people.well_known(seats["chief"]) if "chief" in seats else pick(single)
    manager = people.well_known(seats["deputy"]) if "deputy" in seats else people.new()
    staff = [people.well_known(s) for s in seats.get("staff", [])]
    if manager not in staff:
        staff.append(manager)
    if len(staff) < 2 and rng.random() < 0.5:
        staff.append(people.new())
    oc = [people.well_known(s) for s in seats.get("owners_committee", [])]
    while len(oc) < 3:
        oc.append(pick(single))
    committee = [people.well_known(s) for s in seats.get("committee", [])]
    committee.append(oc[-1])  # one owners' committee member sits on the team
    n_committee = 3 if key == QS else rng.choice((2, 3))
    while len(committee) < n_committee:
        committee.append(pick(single))
    conveners = {}
    for b in buildings:
        phone = seats.get("building_conveners", {}).get(b["name"])
        conveners[b["name"]] = people.well_known(phone) if phone else pick(by_building[b["name"]])

    # Party members: the chief, the resident committee members who are not on the owners'
    # committee, most building conveners (all in 千山美林), then residents drawn at random.
    party = [people.well_known(s) for s in seats.get("party", [])]
    party += [chief] + [p for p in committee if p not in oc]
    party += [p for p in conveners.values() if key == QS or rng.random() < 0.7]
    party = list({p["phone"]: p for p in party}.values())  # first occurrence wins, order kept
    in_party = {p["phone"] for p in party}
    pool = [p for p in residents if p["phone"] not in in_party]
    party += rng.sample(pool, cfg["party_members"] - len(party))
    for p in party:
        people.party(p)

    home_order = {n: i for i, n in enumerate(numbers)}
    first_home = lambda p: min(home_order[h["household"]] for h in p["homes"] if h["compound"] == key)  # noqa: E731
    for p in staff:
        roles.append({"phone": p["phone"], "role": "PROPERTY_STAFF", "compound": key})
    for p in oc:
        roles.append({"phone": p["phone"], "role": "OWNERS_COMMITTEE", "compound": key})
    for p in sorted(party, key=first_home):  # grouped by building, as the party groups are
        roles.append({"phone": p["phone"], "role": "PARTY_MEMBER", "compound": key})
    positions.append({"phone": chief["phone"], "compound": key, "position": "CHIEF_CONVENER"})
    positions.append({"phone": manager["phone"], "compound": key, "position": "DEPUTY_CONVENER"})
    for p in committee:
        positions.append({"phone": p["phone"], "compound": key, "position": "COMMITTEE_MEMBER"})
    for name, p in conveners.items():
        positions.append(
            {"phone": p["phone"], "compound": key, "position": "BUILDING_CONVENER", "building": name}
        )


def build() -> dict:
    rng = random.Random(SEED)
    people = People(rng)
    for phone in sorted(WELL_KNOWN_NAMES):  # well-known people open the people list
        people.well_known(phone)
    roles: list[dict] = [{"phone": "13800000000", "role": "ADMIN"}]
    positions: list[dict] = []
    for c in COMMUNITIES:
        members = [people.well_known(s) for s in COMMUNITY_COMMITTEE.get(c["key"], [])]
        while len(members) < 2:
            members.append(people.new())
        roles += [
            {"phone": p["phone"], "role": "COMMUNITY_COMMITTEE", "community": c["key"]} for p in members
        ]
    for g in GRIDS:
        p = people.well_known(GRID_WORKERS[g["key"]]) if g["key"] in GRID_WORKERS else people.new()
        roles.append({"phone": p["phone"], "role": "GRID_WORKER", "grid": g["key"]})
    compounds = []
    for cfg in COMPOUNDS:
        buildings = make_buildings(rng, cfg["buildings"])
        compounds.append(
            {k: cfg[k] for k in ("key", "name", "community", "grid", "property_company")}
            | {"buildings": buildings}
        )
        populate(rng, people, cfg, buildings, roles, positions)
    persons = []
    for p in people.by_phone.values():
        out = {"phone": p["phone"], "name": p["name"]}
        if p["party"]:
            out["party"] = p["party"]
        out["homes"] = p["homes"]
        persons.append(out)
    return {
        "version": 1,
        "communities": COMMUNITIES,
        "grids": GRIDS,
        "compounds": compounds,
        "people": persons,
        "roles": roles,
        "positions": positions,
    }


# --------------------------------------------------------------------------------------------
# YAML: block structure, one flow mapping per household / home / role / position line
# --------------------------------------------------------------------------------------------


class Flow(dict):
    pass


class Quoted(str):
    pass


class Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False):  # indent lists under keys
        return super().increase_indent(flow, False)


Dumper.add_representer(
    Flow, lambda d, data: d.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True)
)
Dumper.add_representer(Quoted, lambda d, data: d.represent_scalar("tag:yaml.org,2002:str", data, style='"'))

QUOTED_FIELDS = {"phone", "area", "registered_on"}


def styled(node):
    """Every mapping of scalars (household, home, party, role, position…) becomes a one-line flow
    mapping; phones, areas and dates become double-quoted strings."""
    if isinstance(node, dict):
        out = {
            k: Quoted(v) if k in QUOTED_FIELDS and isinstance(v, str) else styled(v) for k, v in node.items()
        }
        return Flow(out) if _is_leaf(node) else out
    if isinstance(node, list):
        return [styled(x) for x in node]
    return node


def _is_leaf(d: dict) -> bool:
    return all(not isinstance(v, (dict, list)) for v in d.values())


def render(world: dict) -> str:
    counts = counts_of(world)
    parts = [
        "# 綦理家 demo world (import format version 1, see API.md):"
        " real public place names, invented people.\n"
        "# Generated by app/demo/make_world.py; edit that script and rerun it, not this file.\n"
        f"# {counts['communities']} communities, {counts['grids']} grids, {counts['compounds']} compounds, "
        f"{counts['buildings']} buildings, {counts['households']} households, {counts['people']} people, "
        f"{counts['roles']} roles, {counts['positions']} positions.\n"
    ]
    for key, value in world.items():
        text = yaml.dump(
            {key: styled(value)},
            Dumper=Dumper,
            allow_unicode=True,
            sort_keys=False,
            width=4096,
            default_flow_style=False,
        )
        parts.append(text)
    return "\n".join(parts)


# --------------------------------------------------------------------------------------------
# Self-check (runs on the file as written, parsed back with yaml.safe_load)
# --------------------------------------------------------------------------------------------


def counts_of(world: dict) -> dict:
    return {
        "communities": len(world["communities"]),
        "grids": len(world["grids"]),
        "compounds": len(world["compounds"]),
        "buildings": sum(len(c["buildings"]) for c in world["compounds"]),
        "households": sum(len(b["households"]) for c in world["compounds"] for b in c["buildings"]),
        "people": len(world["people"]),
        "roles": len(world["roles"]),
        "positions": len(world["positions"]),
    }


def self_check(world: dict) -> None:
    assert list(world) == ["version", "communities", "grids", "compounds", "people", "roles", "positions"]
    assert world["version"] == 1
    communities = {c["key"]: c for c in world["communities"]}
    grids = {g["key"]: g for g in world["grids"]}
    assert len(communities) == len(world["communities"]) and len(grids) == len(world["grids"])
    assert all(g["community"] in communities for g in grids.values())

    compounds: dict[str, dict] = {}
    household_building: dict[tuple[str, str], str] = {}
    total = 0
    for c in world["compounds"]:
        assert c["key"] not in compounds, c["key"]
        compounds[c["key"]] = c
        assert c["community"] in communities and c["grid"] in grids
        assert grids[c["grid"]]["community"] == c["community"], c["key"]
        names = [b["name"] for b in c["buildings"]]
        assert len(set(names)) == len(names), c["key"]
        n = 0
        for b in c["buildings"]:
            bno = re.fullmatch(r"(\d+)栋", b["name"]).group(1)
            for h in b["households"]:
                number, floor, area = h["number"], h["floor"], h["area"]
                assert isinstance(number, str) and type(floor) is int and isinstance(area, str), h
                m = re.fullmatch(r"(\d+)-(\d+)-(\d+)(\d\d)", number)
                assert m and m.group(1) == bno and int(m.group(3)) == floor, h
                assert re.fullmatch(r"\d+\.\d\d", area) and Decimal("60") <= Decimal(area) <= Decimal(
                    "150"
                ), h
                assert (c["key"], number) not in household_building, (
                    f"duplicate household {c['key']} {number}"
                )
                household_building[c["key"], number] = b["name"]
                n += 1
        assert 300 <= n <= 700, (c["key"], n)
        total += n
    assert 1800 <= total <= 2200, total
    six = next(b for b in compounds[QS]["buildings"] if b["name"] == "6栋")["households"]
    assert len(six) == 28 and any(h["number"] == "6-1-302" for h in six)

    people: dict[str, dict] = {}
    owners: dict[tuple[str, str], set[str]] = defaultdict(set)
    tenants: dict[tuple[str, str], set[str]] = defaultdict(set)
    for p in world["people"]:
        phone = p["phone"]
        assert isinstance(phone, str) and re.fullmatch(r"1[3-9]\d{9}", phone), phone
        assert phone not in people, f"duplicate phone {phone}"
        people[phone] = p
        assert (
            isinstance(p["name"], str)
            and p["name"]
            and "某" not in p["name"]
            and p["name"] not in PRESS_NAMES
        )
        seen = set()
        for h in p["homes"]:
            ref = (h["compound"], h["household"])
            assert ref in household_building, f"{phone}: no household {ref}"
            assert ref not in seen, f"{phone}: twice in {ref}"
            seen.add(ref)
            assert h["relation"] in ("OWNER", "TENANT")
            (owners if h["relation"] == "OWNER" else tenants)[ref].add(phone)
        if "party" in p:
            assert isinstance(p["party"]["work_unit"], str) and p["party"]["work_unit"]
            reg = p["party"]["registered_on"]
            assert isinstance(reg, str) and "2024-01-01" <= reg <= "2026-12-31" and date.fromisoformat(reg), (
                reg
            )
    names = [p["name"] for p in world["people"]]
    assert len(set(names)) == len(names), "duplicate names"
    assert all(owners[ref] for ref in household_building), "a household without an owner"

    # Roles and positions: right shape, existing places and people, no duplicates.
    scope_key = {
        "PARTY_MEMBER": "compound",
        "PROPERTY_STAFF": "compound",
        "OWNERS_COMMITTEE": "compound",
        "GRID_WORKER": "grid",
        "COMMUNITY_COMMITTEE": "community",
        "ADMIN": None,
    }
    places = {"compound": compounds, "grid": grids, "community": communities}
    held_roles: dict[str, set] = defaultdict(set)
    per_scope: Counter = Counter()
    for r in world["roles"]:
        assert r["phone"] in people, r
        sk = scope_key[r["role"]]
        assert set(r) == {"phone", "role"} | ({sk} if sk else set()), r
        scope = r[sk] if sk else None
        assert sk is None or scope in places[sk], r
        assert (r["role"], scope) not in held_roles[r["phone"]], f"duplicate role {r}"
        held_roles[r["phone"]].add((r["role"], scope))
        per_scope[r["role"], scope] += 1
    held_positions: dict[str, set] = defaultdict(set)
    per_compound: Counter = Counter()
    for t in world["positions"]:
        assert t["phone"] in people and t["compound"] in compounds, t
        building = t.get("building")
        if t["position"] == "BUILDING_CONVENER":
            assert set(t) == {"phone", "compound", "position", "building"}
            assert building in {b["name"] for b in compounds[t["compound"]]["buildings"]}, t
        else:
            assert set(t) == {"phone", "compound", "position"} and t["position"] in (
                "CHIEF_CONVENER",
                "DEPUTY_CONVENER",
                "COMMITTEE_MEMBER",
            ), t
        assert all(c != t["compound"] for c, _, _ in held_positions[t["phone"]]), f"two seats: {t}"
        held_positions[t["phone"]].add((t["compound"], t["position"], building))
        per_compound[t["compound"], t["position"], building] += 1
        # Position holders live there (conveners in their building), or work there as property staff.
        homes = [
            (h["compound"], household_building[h["compound"], h["household"]])
            for h in people[t["phone"]]["homes"]
            if h["relation"] == "OWNER"
        ]
        if t["position"] == "BUILDING_CONVENER":
            assert (t["compound"], building) in homes, t
        else:
            assert (
                any(c == t["compound"] for c, _ in homes)
                or ("PROPERTY_STAFF", t["compound"]) in held_roles[t["phone"]]
            ), t

    for key, c in compounds.items():
        assert (
            per_compound[key, "CHIEF_CONVENER", None] == 1 and per_compound[key, "DEPUTY_CONVENER", None] == 1
        )
        assert 2 <= per_compound[key, "COMMITTEE_MEMBER", None] <= 3, key
        for b in c["buildings"]:
            assert per_compound[key, "BUILDING_CONVENER", b["name"]] == 1, (key, b["name"])
        assert per_scope["OWNERS_COMMITTEE", key] == 3 and 1 <= per_scope["PROPERTY_STAFF", key] <= 2, key
        expected_party = 146 if key == QS else None
        if expected_party:
            assert per_scope["PARTY_MEMBER", key] == expected_party, per_scope["PARTY_MEMBER", key]
        else:
            assert 10 <= per_scope["PARTY_MEMBER", key] <= 30, key
        # Ownership shape: ~3 % developer (one person holding several flats), ~25 % co-owned, ~8 % rented.
        refs = [r for r in household_building if r[0] == key]
        co = sum(len(owners[r]) > 1 for r in refs) / len(refs)
        rented = sum(bool(tenants[r]) for r in refs) / len(refs)
        assert 0.15 <= co <= 0.35 and 0.06 <= rented <= 0.10, (key, co, rented)
        developers = [
            p
            for p in people.values()
            if p["name"].startswith("开发商代表") and any(h["compound"] == key for h in p["homes"])
        ]
        assert len(developers) == 1 and abs(len(developers[0]["homes"]) - 0.03 * len(refs)) <= 1, key
    for key in communities:
        assert 1 <= per_scope["COMMUNITY_COMMITTEE", key] <= 2, key
    for key in grids:
        assert per_scope["GRID_WORKER", key] == 1, key
    assert per_scope["ADMIN", None] >= 1

    # Party data belongs to PARTY_MEMBERs, who live in the compound they registered with.
    for phone, p in people.items():
        party_roles = [s for r, s in held_roles[phone] if r == "PARTY_MEMBER"]
        assert bool(party_roles) == ("party" in p), phone
        for compound in party_roles:
            assert any(h["compound"] == compound for h in p["homes"]), phone

    # Well-known phones hold exactly what WELL_KNOWN lists.
    for phone, spec in WELL_KNOWN.items():
        p = people[phone]
        assert p["name"] == WELL_KNOWN_NAMES[phone], phone
        assert held_roles[phone] == spec.get("roles", set()), (phone, held_roles[phone])
        assert held_positions[phone] == spec.get("positions", set()), (phone, held_positions[phone])
        homes = sorted(
            (h["compound"], household_building[h["compound"], h["household"]], h["relation"], h["household"])
            for h in p["homes"]
        )
        want = sorted(spec.get("homes", []), key=lambda x: (x[0], x[1] or "", x[2], x[3] or ""))
        assert len(homes) == len(want), (phone, homes)
        for got, (c, b, rel, number) in zip(homes, want, strict=True):
            assert (
                got[0] == c
                and (b is None or got[1] == b)
                and got[2] == rel
                and (number is None or got[3] == number)
            ), (phone, got)
        party = spec.get("party")
        assert ("party" in p) == bool(party), phone
        if isinstance(party, dict):
            assert p["party"] == party, phone
    assert owners[QS, "6-1-302"] == {"13800000007", "13800000012"}
    for phone in (
        "13800000001",
        "13800000002",
        "13800000006",
        "13800000010",
        "13800000016",
        "13800000017",
        "13800000011",
    ):
        for h in people[phone]["homes"]:
            assert owners[h["compound"], h["household"]] == {phone}, phone
    assert all(
        owners[h["compound"], h["household"]] == {"13800000018"} for h in people["13800000018"]["homes"]
    )
    # The elevator vote of 6栋: 28 households, 27 heads (one owner holds two flats), no unsold flat.
    six_owner_sets = {frozenset(owners[QS, h["number"]]) for h in six}
    assert len(six_owner_sets) == 27, len(six_owner_sets)
    assert not any(p["name"].startswith("开发商代表") for s in six_owner_sets for p in map(people.get, s))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only check the existing world.yaml")
    args = ap.parse_args()
    if not args.check:
        OUT.write_text(render(build()), encoding="utf-8")
    text = OUT.read_text(encoding="utf-8")
    world = yaml.safe_load(text)
    self_check(world)
    size = len(text.encode("utf-8"))
    assert size < 1_000_000, size
    summary = ", ".join(f"{v} {k}" for k, v in counts_of(world).items())
    print(f"{OUT.name}: {summary}; {size:,} bytes; self-check passed", file=sys.stderr)


if __name__ == "__main__":
    main()
