"""The world file (API.md, import format version 1) as a validated document.

Validation answers with the path inside the file (`compounds[3].buildings[0].households[12].area`)
and what is wrong with it, in Chinese, so that an operator can fix the file without reading code.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from models.enums import ROLE_SCOPE, HomeRelation, Position, Role
from models.person import PHONE_PATTERN
from models.place import MAX_AREA

# libyaml's loader is ~25× faster on a city-sized file; the pure-Python one is the fallback.
SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class WorldFileError(Exception):
    """The file cannot be imported; nothing was written. `problems` lists each path and reason."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def _text(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str):
        return value.strip()
    return value


Text = Annotated[str, BeforeValidator(_text), Field(min_length=1, max_length=200)]
KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
Key = Annotated[str, BeforeValidator(_text), Field(min_length=1, max_length=100, pattern=KEY_PATTERN)]
Phone = Annotated[str, BeforeValidator(_text), Field(pattern=PHONE_PATTERN)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CommunityIn(Strict):
    key: Key
    name: Text
    street: Text
    district: Text


class GridIn(Strict):
    key: Key
    name: Text
    community: Key


class HouseholdIn(Strict):
    number: Annotated[str, BeforeValidator(_text), Field(min_length=1, max_length=32)]
    floor: int = Field(ge=-10, le=300)
    area: Decimal

    @field_validator("area", mode="before")
    @classmethod
    def _area(cls, value: Any) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
            raise ValueError('面积应写成带两位小数的字符串，例如 "89.50"')
        try:
            area = Decimal(str(value).strip())
        except InvalidOperation as exc:
            raise ValueError(f"面积 {value!r} 不是数字") from exc
        if not area.is_finite() or area <= 0 or area >= MAX_AREA:
            raise ValueError("面积必须是大于 0、小于 100000 的平方米数")
        if area.as_tuple().exponent < -2:  # type: ignore[operator]
            raise ValueError("面积最多保留两位小数")
        return area.quantize(Decimal("0.01"))


class BuildingIn(Strict):
    name: Text
    households: list[HouseholdIn] = []


class CompoundIn(Strict):
    key: Key
    name: Text
    community: Key
    grid: Key
    property_company: Text | None = None
    buildings: list[BuildingIn] = []


class PartyIn(Strict):
    work_unit: Text
    registered_on: date | None = None


class TermIn(Strict):
    """A home, a role or a position holds from `starts_on` (default: the day of the import); with
    `ends_on`, the entry ends the term in force on that day (the first day it no longer holds)."""

    starts_on: date | None = None
    ends_on: date | None = None

    @model_validator(mode="after")
    def _days(self) -> TermIn:
        if self.starts_on is not None and self.ends_on is not None and self.ends_on <= self.starts_on:
            raise ValueError("ends_on 必须晚于 starts_on")
        return self


class HomeIn(TermIn):
    compound: Key
    household: Annotated[str, BeforeValidator(_text), Field(min_length=1, max_length=32)]
    relation: HomeRelation


class PersonIn(Strict):
    phone: Phone
    name: Annotated[str, BeforeValidator(_text), Field(min_length=1, max_length=50)]
    party: PartyIn | None = None
    homes: list[HomeIn] = []


class RoleIn(TermIn):
    phone: Phone
    role: Role
    compound: Key | None = None
    grid: Key | None = None
    community: Key | None = None

    @model_validator(mode="after")
    def _scope(self) -> RoleIn:
        scope = ROLE_SCOPE[self.role]
        given = [kind for kind in ("compound", "grid", "community") if getattr(self, kind) is not None]
        if scope is None and given:
            raise ValueError("ADMIN 角色不属于任何地点，请删除 " + "、".join(given))
        if scope is not None and given != [scope]:
            raise ValueError(f"{self.role.value} 角色必须且只能指定 {scope}")
        return self


class PositionIn(TermIn):
    phone: Phone
    compound: Key
    position: Position
    building: Text | None = None

    @model_validator(mode="after")
    def _building(self) -> PositionIn:
        if (self.position == Position.BUILDING_CONVENER) != (self.building is not None):
            raise ValueError("楼栋召集人必须指定 building，其他职务不能指定 building")
        return self


class World(Strict):
    version: Literal[1]
    communities: list[CommunityIn] = []
    grids: list[GridIn] = []
    compounds: list[CompoundIn] = []
    people: list[PersonIn] = []
    roles: list[RoleIn] = []
    positions: list[PositionIn] = []

    @property
    def household_count(self) -> int:
        return sum(len(b.households) for c in self.compounds for b in c.buildings)


def format_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(文件)"


_MESSAGES = {
    "missing": "缺少必填项",
    "extra_forbidden": "不认识的字段",
    "string_pattern_mismatch": "格式不正确",
    "string_too_short": "不能为空",
    "string_too_long": "太长",
    "int_parsing": "应为整数",
    "int_type": "应为整数",
    "int_from_float": "应为整数",
    "literal_error": "只支持 version: 1",
    "enum": "取值不在允许范围内",
    "date_from_datetime_parsing": "日期格式应为 YYYY-MM-DD",
    "date_parsing": "日期格式应为 YYYY-MM-DD",
    "date_type": "日期格式应为 YYYY-MM-DD",
    "greater_than_equal": "数值太小",
    "less_than_equal": "数值太大",
    "list_type": "应为列表",
    "model_type": "应为对象（键值对）",
    "string_type": "应为文字",
}


_PATTERN_MESSAGES = {
    PHONE_PATTERN: "手机号格式不正确：应为以 1 开头的 11 位数字",
    KEY_PATTERN: "格式不正确：只能包含字母、数字和 _ . -，并以字母或数字开头",
}


def _message(error: dict[str, Any]) -> str:
    ctx = error.get("ctx", {})
    if error["type"] == "value_error":
        return str(ctx.get("error", error["msg"]))
    if error["type"] == "string_pattern_mismatch" and ctx.get("pattern") in _PATTERN_MESSAGES:
        return _PATTERN_MESSAGES[ctx["pattern"]]
    base = _MESSAGES.get(error["type"], "内容不正确")
    if error["type"] == "enum":
        # pydantic words the choices in English ("'A', 'B' or 'C'"); list them the Chinese way
        choices = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        return f"{base}（可选：{'、'.join(choices)}）"
    return base


def parse(document: Any) -> World:
    try:
        return World.model_validate(document)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            problems.append(Problem(format_path(tuple(error["loc"])), _message(error)))
        raise WorldFileError(problems[:50]) from None


def load(path: Path) -> World:
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".json"):
        raise WorldFileError([Problem(str(path), "只支持 .yaml、.yml 或 .json 文件")])
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise WorldFileError([Problem(str(path), "文件不存在")]) from None
    except IsADirectoryError:
        raise WorldFileError([Problem(str(path), "这是一个目录，不是文件")]) from None
    except PermissionError:
        raise WorldFileError([Problem(str(path), "没有读取该文件的权限")]) from None
    except OSError:
        raise WorldFileError([Problem(str(path), "无法读取文件")]) from None
    except UnicodeDecodeError:
        raise WorldFileError([Problem(str(path), "文件不是 UTF-8 编码")]) from None
    try:
        document = json.loads(text) if suffix == ".json" else yaml.load(text, Loader=SafeLoader)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = (
            f"第 {mark.line + 1} 行" if mark else (f"第 {exc.lineno} 行" if hasattr(exc, "lineno") else "")
        )
        raise WorldFileError([Problem(str(path), f"文件格式错误 {where}".strip())]) from None
    return parse(document)
