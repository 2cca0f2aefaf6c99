"""A user pool's attribute schema: what CreateUserPool's ``Schema`` declares, what
DescribeUserPool's ``SchemaAttributes`` shows, and which user attributes a write accepts.

Every pool has Cognito's standard attributes (developer guide, "Working with user
attributes", standard attributes; their types and constraints as DescribeUserPool shows
them, recorded in moto's ``STANDARD_SCHEMA``, getmoto/moto#4493). ``Schema`` may tighten
a standard attribute (``Required``, ``Mutable``, constraints) and adds custom attributes,
named ``custom:<name>`` (``dev:custom:<name>`` when developer-only).
``email_verified`` and ``phone_number_verified`` are built in and cannot be declared: a
``Schema`` entry of that name is a custom attribute (aws/aws-cdk#14699, Cognito's answer).

Answers for bad definitions, all InvalidParameterException (the wording of Cognito's
answers as public reports and moto's tests record them):

* custom attribute without ``AttributeDataType``: "Invalid AttributeDataType input,
  consider using the provided AttributeDataType enum." (aws-amplify/docs#4624);
* required custom attribute: "Required custom attributes are not supported currently."
  (boto/boto3#2317);
* custom name over 20 characters: "1 validation error detected: Value 'x' at
  'schema.1.member.name' failed to satisfy constraint: Member must have length less than
  or equal to 20" (aws/aws-cdk#14699);
* type outside Boolean/Number/String/DateTime, a standard attribute retyped or made
  developer-only, unreadable or negative constraints, string bounds above 2048, min above
  max: moto's ``test_create_user_pool_*`` wording.

Writes (SignUp, AdminCreateUser) answer "Attributes did not conform to the schema: " and
one line per problem, each ending in a newline: "<name>: Attribute does not exist in the
schema." (aws-amplify/amplify-flutter#509) or, on SignUp, "<name>: the attribute is
required" (furaiev/amazon-cognito-identity-dart-2#89). AdminCreateUser may leave required
attributes out (developer guide, quoted in amazon-archives/amazon-cognito-identity-js#567).
Values outside a declared length or range, and non-numbers for Number attributes, are
refused with the emulator's own wording after the same prefix. Updates
((Admin)UpdateUserAttributes) may not write an attribute whose ``Mutable`` is false, nor
``sub`` (:func:`check_mutable`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from worker.contrib.emulator.errors import ServiceError, invalid_parameter

__all__ = [
    "BUILT_IN",
    "STANDARD",
    "SchemaAttribute",
    "build_schema",
    "check_mutable",
    "check_user_attributes",
    "schema_document",
]

DATA_TYPES = ("Boolean", "Number", "String", "DateTime")
_MAX_STRING = 2048
_MAX_CUSTOM_NAME = 20
_ADMIN_ONLY = frozenset({"email_verified", "phone_number_verified"})


@dataclass(frozen=True)
class SchemaAttribute:
    """One attribute of a pool's schema; constraints as the API carries them (strings)."""

    name: str
    data_type: str
    developer_only: bool = False
    mutable: bool = True
    required: bool = False
    string_constraints: Mapping[str, str] | None = None
    number_constraints: Mapping[str, str] | None = None

    def document(self) -> dict[str, Any]:
        """The SchemaAttributeType document DescribeUserPool shows."""
        doc: dict[str, Any] = {
            "Name": self.name,
            "AttributeDataType": self.data_type,
            "DeveloperOnlyAttribute": self.developer_only,
            "Mutable": self.mutable,
            "Required": self.required,
        }
        if self.string_constraints is not None:
            doc["StringAttributeConstraints"] = dict(self.string_constraints)
        if self.number_constraints is not None:
            doc["NumberAttributeConstraints"] = dict(self.number_constraints)
        return doc

    def problem(self, value: str) -> str | None:
        """Why ``value`` does not fit this attribute, or None."""
        if self.data_type == "Number":
            try:
                number = int(value)
            except ValueError:
                return "Number must be an integer"
            low, high = _bounds(self.number_constraints, "MinValue", "MaxValue")
            if (low is not None and number < low) or (high is not None and number > high):
                return f"Number must be between {low} and {high}"
        elif self.data_type == "Boolean" and value.lower() not in ("true", "false"):
            # any case, as Cognito takes it: email_verified="True" (moto's tests write it)
            return "Boolean must be true or false"
        elif self.data_type == "String":
            low, high = _bounds(self.string_constraints, "MinLength", "MaxLength")
            if (low is not None and len(value) < low) or (high is not None and len(value) > high):
                return f"String length must be between {low or 0} and {high}"
        return None


def _bounds(constraints: Mapping[str, str] | None, low: str, high: str) -> tuple[int | None, ...]:
    if not constraints:
        return None, None
    return tuple(int(constraints[k]) if k in constraints else None for k in (low, high))


def _string(minimum: str, maximum: str = "2048") -> dict[str, str]:
    return {"MinLength": minimum, "MaxLength": maximum}


_TEXT = (
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "nickname",
    "preferred_username",
    "profile",
    "picture",
    "website",
    "email",
    "gender",
    "zoneinfo",
    "locale",
    "phone_number",
    "address",
)

STANDARD: dict[str, SchemaAttribute] = {
    "sub": SchemaAttribute(
        "sub", "String", mutable=False, required=True, string_constraints=_string("1")
    ),
    **{n: SchemaAttribute(n, "String", string_constraints=_string("0")) for n in _TEXT},
    "birthdate": SchemaAttribute("birthdate", "String", string_constraints=_string("10", "10")),
    "email_verified": SchemaAttribute("email_verified", "Boolean"),
    "phone_number_verified": SchemaAttribute("phone_number_verified", "Boolean"),
    "updated_at": SchemaAttribute("updated_at", "Number", number_constraints={"MinValue": "0"}),
    "identities": SchemaAttribute("identities", "String", string_constraints={}),
}
# Standard names a Schema entry cannot declare (they are built in).
BUILT_IN = frozenset({"sub", "email_verified", "phone_number_verified", "identities"})


def _limit(raw: Mapping[str, Any], key: str, kind: str, name: str) -> int | None:
    value = raw.get(key)
    if value is None:
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise invalid_parameter(f"Invalid {kind} for schema attribute {name}") from None
    if number < 0:
        raise invalid_parameter(f"Invalid {kind} for schema attribute {name}")
    return number


def _constraints(
    entry: Mapping[str, Any], data_type: str, name: str, default: SchemaAttribute | None
) -> tuple[Mapping[str, str] | None, Mapping[str, str] | None]:
    """(string constraints, number constraints) of one entry, checked."""
    if data_type == "String":
        given = entry.get("StringAttributeConstraints")
        if given is None:
            return (default.string_constraints if default else {}), None
        low = _limit(given, "MinLength", "StringAttributeConstraints", name)
        high = _limit(given, "MaxLength", "StringAttributeConstraints", name)
        shown = f"custom:{name}" if default is None else name
        if (low or 0) > _MAX_STRING or (high or 0) > _MAX_STRING:
            raise invalid_parameter(
                f"user.{shown}: String attributes cannot have a length of more than 2048"
            )
        if low is not None and high is not None and low > high:
            raise invalid_parameter(f"user.{shown}: Max length cannot be less than min length.")
        return {k: str(given[k]) for k in ("MinLength", "MaxLength") if k in given}, None
    if data_type == "Number":
        given = entry.get("NumberAttributeConstraints")
        if given is None:
            return None, (default.number_constraints if default else None)
        low = _limit(given, "MinValue", "NumberAttributeConstraints", name)
        high = _limit(given, "MaxValue", "NumberAttributeConstraints", name)
        if low is not None and high is not None and low > high:
            shown = f"custom:{name}" if default is None else name
            raise invalid_parameter(f"user.{shown}: Max value cannot be less than min value.")
        return None, {k: str(given[k]) for k in ("MinValue", "MaxValue") if k in given}
    return None, None


def _entry(index: int, entry: Any) -> SchemaAttribute:
    """One ``Schema`` entry as the attribute it declares; ServiceError when refused."""
    if not isinstance(entry, dict) or not isinstance(entry.get("Name"), str) or not entry["Name"]:
        raise invalid_parameter(
            f"1 validation error detected: Value null at 'schema.{index}.member.name' failed "
            "to satisfy constraint: Member must not be null"
        )
    name: str = entry["Name"]
    data_type = entry.get("AttributeDataType")
    if data_type is not None and data_type not in DATA_TYPES:
        raise invalid_parameter(
            f"Validation error detected: Value '{data_type}' failed to satisfy constraint: "
            "Member must satisfy enum value set: [Boolean, Number, String, DateTime]"
        )
    standard = STANDARD.get(name) if name not in BUILT_IN else None
    if standard is not None:
        if (data_type and data_type != standard.data_type) or entry.get("DeveloperOnlyAttribute"):
            raise invalid_parameter(
                "You can not change AttributeDataType or set developerOnlyAttribute for "
                f"standard schema attribute {name}"
            )
        strings, numbers = _constraints(entry, standard.data_type, name, standard)
        return SchemaAttribute(
            name,
            standard.data_type,
            mutable=bool(entry.get("Mutable", standard.mutable)),
            required=bool(entry.get("Required", standard.required)),
            string_constraints=strings if standard.data_type == "String" else None,
            number_constraints=numbers,
        )
    if len(name) > _MAX_CUSTOM_NAME:
        raise invalid_parameter(
            f"1 validation error detected: Value '{name}' at 'schema.{index}.member.name' "
            "failed to satisfy constraint: Member must have length less than or equal to 20"
        )
    if data_type is None:
        raise invalid_parameter(
            "Invalid AttributeDataType input, consider using the provided AttributeDataType enum."
        )
    if entry.get("Required"):
        raise invalid_parameter("Required custom attributes are not supported currently.")
    strings, numbers = _constraints(entry, data_type, name, None)
    developer_only = bool(entry.get("DeveloperOnlyAttribute", False))
    return SchemaAttribute(
        ("dev:custom:" if developer_only else "custom:") + name,
        data_type,
        developer_only=developer_only,
        mutable=bool(entry.get("Mutable", True)),
        string_constraints=strings,
        number_constraints=numbers,
    )


def build_schema(entries: list[Any] | None) -> dict[str, SchemaAttribute]:
    """The schema of a pool created with ``Schema=entries`` (None: standard only).

    Raises:
        ServiceError: InvalidParameterException for a definition Cognito refuses (see the
            module docstring), or a custom attribute declared twice.
    """
    schema = dict(STANDARD)
    declared: set[str] = set()
    for index, raw in enumerate(entries or [], start=1):
        attribute = _entry(index, raw)
        if attribute.name in declared:
            raise invalid_parameter(f"Duplicate schema attribute {attribute.name}.")
        declared.add(attribute.name)
        schema[attribute.name] = attribute
    return schema


def schema_document(schema: Mapping[str, SchemaAttribute]) -> list[dict[str, Any]]:
    """``SchemaAttributes`` as DescribeUserPool lists them."""
    return [attribute.document() for attribute in schema.values()]


def check_user_attributes(
    schema: Mapping[str, SchemaAttribute], attributes: Mapping[str, str], *, sign_up: bool
) -> None:
    """Raise unless ``attributes`` may be written to a new user of a pool with ``schema``.

    ``sign_up`` (the public SignUp) also requires the attributes the schema marks
    required, and refuses developer-only attributes and ``email_verified`` /
    ``phone_number_verified`` with NotAuthorizedException "A client attempted to write
    unauthorized attribute" (Cognito's answer for attributes an app client may not write:
    aws/aws-sdk-js#3603 for the two verified flags, aws/aws-sdk-js#1319).

    Raises:
        ServiceError: InvalidParameterException "Attributes did not conform to the
            schema: ..." listing every problem, or NotAuthorizedException.
    """
    problems: list[str] = []
    for name, value in attributes.items():
        attribute = schema.get(name)
        if attribute is None or name == "sub":
            problems.append(f"{name}: Attribute does not exist in the schema.")
            continue
        if sign_up and (attribute.developer_only or name in _ADMIN_ONLY):
            raise ServiceError(
                "NotAuthorizedException", "A client attempted to write unauthorized attribute"
            )
        problem = attribute.problem(value)
        if problem is not None:
            problems.append(f"{name}: {problem}")
    if sign_up:
        problems.extend(
            f"{a.name}: the attribute is required"
            for a in schema.values()
            if a.required and a.name != "sub" and not attributes.get(a.name)
        )
    if problems:
        raise invalid_parameter(
            "Attributes did not conform to the schema: " + "".join(p + "\n" for p in problems)
        )


def check_mutable(schema: Mapping[str, SchemaAttribute], names: Iterable[str]) -> None:
    """Raise unless every attribute in ``names`` may be changed on an existing user.

    An attribute the schema marks ``Mutable`` false is written at creation and never
    after, and ``sub`` (Cognito generates it) never (API reference, SchemaAttributeType,
    Mutable: "Specifies whether the value of the attribute can be changed. ... If an
    attribute is immutable, Amazon Cognito throws an error when it attempts to update the
    attribute."). The write is refused whatever the value, before anything changes; the
    wording is Cognito's answer (aws-amplify/aws-sdk-ios#2203: InvalidParameterException
    "Cannot modify the non-mutable attribute email_verified").

    Raises:
        ServiceError: InvalidParameterException "Cannot modify the non-mutable attribute
            <name>" naming the first such attribute.
    """
    for name in names:
        attribute = schema.get(name)
        if name == "sub" or (attribute is not None and not attribute.mutable):
            raise invalid_parameter(f"Cannot modify the non-mutable attribute {name}")
