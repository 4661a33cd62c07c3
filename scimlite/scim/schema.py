"""The attribute definitions scimlite implements: RFC 7643 §4 (User, Group, enterprise User).

This module is the one source of truth for attribute metadata. Key canonicalisation,
the filter whitelist, PATCH mutability checks, projection and the /Schemas discovery
documents are all derived from it, so they cannot drift apart; attribute paths are resolved
against it by one function, `scimlite.scim.paths.resolve_path`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

AttrType = Literal[
    "string", "boolean", "decimal", "integer", "dateTime", "binary", "reference", "complex"
]
Mutability = Literal["readOnly", "readWrite", "immutable", "writeOnly"]
Returned = Literal["always", "never", "default", "request"]
Uniqueness = Literal["none", "server", "global"]

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_USER_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
# Microsoft Entra ID's SCIM validator and some Entra apps send this URN for groups.
ADSCIM_GROUP_SCHEMA = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/Group"
ADSCIM_GROUP_SCHEMA_2 = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
# SCIM 1.1's core schema; OneLogin's "Core-Schema" template sends it to v2 endpoints.
SCIM1_CORE_SCHEMA = "urn:scim:schemas:core:1.0"
LIST_RESPONSE_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_OP_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SEARCH_REQUEST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
BULK_REQUEST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_RESPONSE_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"

# Values one multi-valued attribute of a resource document may hold (emails, roles, …), so
# that every write stays within a small budget; team membership is not bounded by it.
MAX_VALUES = 1000


@dataclass(frozen=True, slots=True, eq=False)
class Attribute:
    """One attribute definition (RFC 7643 §7).

    Compared by identity: each is defined once, below, and the generated field-by-field
    `__eq__` (sub-attributes included) was a quarter of parsing a POSTed user, where
    `attr in (GROUP_MEMBERS, USER_GROUPS)` runs for every attribute.
    """

    name: str
    type: AttrType = "string"
    multi_valued: bool = False
    required: bool = False
    case_exact: bool = False
    mutability: Mutability = "readWrite"
    returned: Returned = "default"
    uniqueness: Uniqueness = "none"
    description: str = ""
    sub_attributes: tuple[Attribute, ...] = ()
    canonical_values: tuple[str, ...] = ()
    reference_types: tuple[str, ...] = ()

    _subs: dict[str, Attribute] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_subs", {a.name.lower(): a for a in self.sub_attributes})

    def sub(self, name: str) -> Attribute | None:
        """Sub-attribute by name; SCIM attribute names are case-insensitive (RFC 7643 §2.1)."""
        return self._subs.get(name.lower())


@dataclass(frozen=True, slots=True)
class Schema:
    """A schema document (RFC 7643 §7): a URN and its attributes."""

    id: str
    name: str
    description: str
    attributes: tuple[Attribute, ...]
    _index: dict[str, Attribute] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {a.name.lower(): a for a in self.attributes})

    def attribute(self, name: str) -> Attribute | None:
        """Top-level attribute by name, case-insensitively."""
        return self._index.get(name.lower())


@dataclass(frozen=True, slots=True)
class ResourceType:
    """A resource type (RFC 7643 §6): its endpoint, core schema and extensions."""

    id: str
    name: str
    endpoint: str
    description: str
    schema: Schema
    extensions: tuple[Schema, ...] = ()
    # Schema URNs accepted in requests as aliases of the core schema (IdP quirks).
    schema_aliases: tuple[str, ...] = ()
    # The multi-valued attribute computed from memberships: User.groups, Group.members.
    membership_attr: str = ""

    def extension(self, urn: str) -> Schema | None:
        lowered = urn.lower()
        for ext in self.extensions:
            if ext.id.lower() == lowered:
                return ext
        return None


def _str(name: str, **kw: object) -> Attribute:
    return Attribute(name, "string", **kw)  # type: ignore[arg-type]


def _multi(
    name: str,
    description: str,
    value_type: AttrType = "string",
    types: tuple[str, ...] = ("work", "home", "other"),
    value_case_exact: bool = False,
    extra: tuple[Attribute, ...] = (),
) -> Attribute:
    """The usual multi-valued shape: value, display, type, primary (RFC 7643 §2.4)."""
    return Attribute(
        name,
        "complex",
        multi_valued=True,
        description=description,
        sub_attributes=(
            Attribute(
                "value", value_type, case_exact=value_case_exact, description=f"The {name} value."
            ),
            _str("display", description="A human-readable name, primarily used for display."),
            Attribute(
                "type",
                "string",
                canonical_values=types,
                description="A label indicating the attribute's function.",
            ),
            Attribute(
                "primary",
                "boolean",
                description="Whether this is the primary value; true at most once.",
            ),
            *extra,
        ),
    )


NAME = Attribute(
    "name",
    "complex",
    description="The components of the user's real name.",
    sub_attributes=(
        _str("formatted", description="The full name, formatted for display."),
        _str("familyName", description="The family name."),
        _str("givenName", description="The given name."),
        _str("middleName", description="The middle name(s)."),
        _str("honorificPrefix", description="Honorific prefix, e.g. 'Ms.'."),
        _str("honorificSuffix", description="Honorific suffix, e.g. 'III'."),
    ),
)

ADDRESSES = Attribute(
    "addresses",
    "complex",
    multi_valued=True,
    description="Physical mailing addresses.",
    sub_attributes=(
        _str("formatted", description="The full mailing address, formatted for display."),
        _str("streetAddress", description="The full street address."),
        _str("locality", description="The city or locality."),
        _str("region", description="The state or region."),
        _str("postalCode", description="The zip code or postal code."),
        _str("country", description="The country name, ISO 3166-1 alpha-2."),
        Attribute(
            "type",
            "string",
            canonical_values=("work", "home", "other"),
            description="A label indicating the attribute's function.",
        ),
        Attribute(
            "primary",
            "boolean",
            description="Whether this is the primary address; true at most once.",
        ),
    ),
)

USER_GROUPS = Attribute(
    "groups",
    "complex",
    multi_valued=True,
    mutability="readOnly",
    description=(
        "The teams the user belongs to, computed from team memberships. readOnly as RFC "
        "7643 defines it, but scimlite also accepts it as an extension: on POST and PUT it "
        "sets the user's teams (an absent or empty list leaves them alone), and PATCH "
        'add/remove/replace on "groups" or groups[value eq "team id"] joins or leaves '
        "teams, exactly as the same change to the team's members would."
    ),
    sub_attributes=(
        Attribute(
            "value", "string", case_exact=True, mutability="readOnly", description="The team's id."
        ),
        Attribute(
            "$ref",
            "reference",
            mutability="readOnly",
            reference_types=("Group",),
            description="The URI of the team.",
        ),
        Attribute(
            "display", "string", mutability="readOnly", description="The team's displayName."
        ),
        Attribute(
            "type",
            "string",
            mutability="readOnly",
            canonical_values=("direct",),
            description="Membership type; scimlite memberships are direct.",
        ),
    ),
)

USER = Schema(
    USER_SCHEMA,
    "User",
    "User Account",
    (
        Attribute(
            "userName",
            "string",
            required=True,
            uniqueness="server",
            description="Unique identifier for the user, compared case-insensitively.",
        ),
        NAME,
        _str("displayName", description="The name of the user, suitable for display."),
        _str("nickName", description="The casual way to address the user."),
        Attribute(
            "profileUrl",
            "reference",
            reference_types=("external",),
            description="A URI of the user's online profile.",
        ),
        _str("title", description="The user's title, such as 'Vice President'."),
        _str("userType", description="The relationship between organisation and user."),
        _str("preferredLanguage", description="Preferred written or spoken language."),
        _str("locale", description="Default location for localisation."),
        _str("timezone", description="Time zone in IANA format, e.g. 'Europe/Paris'."),
        Attribute("active", "boolean", description="The user's administrative status."),
        Attribute(
            "password",
            "string",
            mutability="writeOnly",
            returned="never",
            description="Accepted and discarded: scimlite never stores passwords.",
        ),
        _multi("emails", "Email addresses for the user."),
        _multi(
            "phoneNumbers",
            "Phone numbers for the user.",
            types=("work", "home", "mobile", "fax", "pager", "other"),
        ),
        _multi(
            "ims",
            "Instant messaging addresses for the user.",
            types=("aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"),
        ),
        _multi(
            "photos",
            "URLs of photos of the user.",
            value_type="reference",
            types=("photo", "thumbnail"),
            value_case_exact=True,
        ),
        ADDRESSES,
        USER_GROUPS,
        _multi("entitlements", "Entitlements for the user.", types=()),
        _multi("roles", "Roles for the user.", types=()),
        _multi(
            "x509Certificates",
            "DER-encoded X.509 certificates.",
            value_type="binary",
            types=(),
            value_case_exact=True,
        ),
    ),
)

MANAGER = Attribute(
    "manager",
    "complex",
    description="The user's manager.",
    sub_attributes=(
        Attribute("value", "string", description="The id of the manager's User resource."),
        Attribute(
            "$ref",
            "reference",
            reference_types=("User",),
            description="The URI of the manager's User resource.",
        ),
        Attribute(
            "displayName", "string", mutability="readOnly", description="The manager's displayName."
        ),
    ),
)

ENTERPRISE_USER = Schema(
    ENTERPRISE_USER_SCHEMA,
    "EnterpriseUser",
    "Enterprise User",
    (
        _str("employeeNumber", description="Numeric or alphanumeric identifier of the employee."),
        _str("costCenter", description="Name of a cost center."),
        _str("organization", description="Name of an organization."),
        _str("division", description="Name of a division."),
        _str("department", description="Name of a department."),
        MANAGER,
    ),
)

GROUP_MEMBERS = Attribute(
    "members",
    "complex",
    multi_valued=True,
    description="The team's members: users, by id.",
    sub_attributes=(
        Attribute(
            "value",
            "string",
            case_exact=True,
            mutability="immutable",
            description="The member's id.",
        ),
        Attribute(
            "$ref",
            "reference",
            mutability="immutable",
            reference_types=("User",),
            description="The URI of the member.",
        ),
        # RFC 7643 §8.7.1 defines members as value, $ref and type; display is returned
        # only when asked for (attributes=members.display), so what a client PATCHes in
        # is exactly what it reads back.
        Attribute(
            "display",
            "string",
            mutability="readOnly",
            returned="request",
            description="The member's displayName or userName.",
        ),
        Attribute(
            "type",
            "string",
            mutability="immutable",
            canonical_values=("User",),
            description="The member's resource type; teams hold users.",
        ),
    ),
)

GROUP = Schema(
    GROUP_SCHEMA,
    "Group",
    "Group (a team)",
    (
        Attribute(
            "displayName",
            "string",
            required=True,
            description="The team's name (its alias), compared case-insensitively.",
        ),
        GROUP_MEMBERS,
    ),
)

USER_RESOURCE = ResourceType(
    "User",
    "User",
    "/Users",
    "User Account",
    USER,
    (ENTERPRISE_USER,),
    schema_aliases=(SCIM1_CORE_SCHEMA,),
    membership_attr="groups",
)
GROUP_RESOURCE = ResourceType(
    "Group",
    "Group",
    "/Groups",
    "Group (a team)",
    GROUP,
    (),
    schema_aliases=(ADSCIM_GROUP_SCHEMA, ADSCIM_GROUP_SCHEMA_2, SCIM1_CORE_SCHEMA),
    membership_attr="members",
)
RESOURCE_TYPES: tuple[ResourceType, ...] = (USER_RESOURCE, GROUP_RESOURCE)
SCHEMAS: tuple[Schema, ...] = (USER, GROUP, ENTERPRISE_USER)

# Common attributes (RFC 7643 §3.1), present on every resource but not in its schema.
ID = Attribute(
    "id",
    "string",
    case_exact=True,
    mutability="readOnly",
    returned="always",
    uniqueness="server",
    description="Server-issued identifier, never reused.",
)
EXTERNAL_ID = Attribute(
    "externalId",
    "string",
    case_exact=True,
    description="Identifier of the resource in the provisioning client.",
)
META = Attribute(
    "meta",
    "complex",
    mutability="readOnly",
    description="Resource metadata.",
    sub_attributes=(
        Attribute("resourceType", "string", case_exact=True, mutability="readOnly"),
        Attribute("created", "dateTime", mutability="readOnly"),
        Attribute("lastModified", "dateTime", mutability="readOnly"),
        Attribute("location", "reference", mutability="readOnly", reference_types=("uri",)),
        Attribute("version", "string", case_exact=True, mutability="readOnly"),
    ),
)
COMMON_ATTRIBUTES: tuple[Attribute, ...] = (ID, EXTERNAL_ID, META)
