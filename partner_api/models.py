"""Pydantic models of the Partner API's envelope, login answers and dataset items.

Items are validated as `TypedDict`s (plain dicts come out, which is what storage wants and
is several times faster than building model objects for a million cities). Fields the
contract does not list are kept (`extra="allow"`); the key must have the right type.
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, NotRequired, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    TypeAdapter,
    with_config,
)
from typing_extensions import TypedDict

from ._constants import MAX_FIELD_CHARS

T = TypeVar("T")

#: A non-empty string of bounded length: reference data names are short, a megabyte is an error.
Text = Annotated[str, StringConstraints(min_length=1, max_length=MAX_FIELD_CHARS, strict=True)]
Code = Annotated[str, StringConstraints(min_length=1, max_length=64, strict=True)]
#: Integers the databases can hold (BIGINT): a 400-digit population is an error, not a row.
#: Strict: a number the partner starts sending as text ("12") is a type change to refuse,
#: not something to coerce silently.
BigInt = Annotated[int, Field(ge=-(2**63), le=2**63 - 1, strict=True)]
#: A coordinate is a finite number: NaN and infinities would be stored as NULL or garbage.
#: Strict as `BigInt` (an integer is still a number: JSON `12` is accepted as 12.0).
Finite = Annotated[float, Field(allow_inf_nan=False, strict=True)]


class Envelope(BaseModel, Generic[T]):
    """Every JSON answer: `{"version","success","code","message","data"}` (docs/partner-api.md §2.1)."""

    model_config = ConfigDict(extra="ignore")

    version: str
    success: bool
    code: str
    message: str | None = None
    data: T | None = None


class PageData(BaseModel, Generic[T]):
    """The `data` of a paged dataset answer."""

    model_config = ConfigDict(extra="ignore")

    content: list[T]
    page: StrictInt = Field(ge=0)
    size: StrictInt = Field(ge=1)
    total_elements: StrictInt = Field(alias="totalElements", ge=0)
    total_pages: StrictInt = Field(alias="totalPages", ge=0)


class MfaMethod(BaseModel):
    """One MFA method the account offers."""

    code: str
    value: int


class LoginInitiated(BaseModel):
    """`data` of `login/initiate`."""

    session_id: str = Field(alias="sessionId")
    mfa_methods: list[MfaMethod] = Field(alias="mfaMethods")
    expires_in: int = Field(alias="expiresIn")


class MfaSent(BaseModel):
    """`data` of `login/mfa/send`."""

    sent: bool
    destination: str | None = None
    expires_in: int | None = Field(default=None, alias="expiresIn")


class MfaVerified(BaseModel):
    """`data` of `login/mfa/verify`: the session token and its life."""

    access_token: str = Field(alias="accessToken", repr=False)
    token_type: str = Field(default="Bearer", alias="tokenType")
    expires_in: int = Field(alias="expiresIn")
    scopes: list[str] = Field(default_factory=list)


@with_config(ConfigDict(extra="allow"))
class CountryItem(TypedDict):
    """A country (ISO 3166)."""

    code: Code
    alpha3: Code
    numeric: Code
    name: Text
    officialName: NotRequired[Text | None]


@with_config(ConfigDict(extra="allow"))
class CurrencyItem(TypedDict):
    """A currency (ISO 4217)."""

    code: Code
    numeric: Code
    name: Text


@with_config(ConfigDict(extra="allow"))
class LanguageItem(TypedDict):
    """A language (ISO 639-3)."""

    code: Code
    alpha2: NotRequired[Code | None]
    name: Text


@with_config(ConfigDict(extra="allow"))
class CityItem(TypedDict):
    """A city."""

    id: Annotated[StrictInt, Field(ge=-(2**63), le=2**63 - 1)]
    name: Text
    countryCode: Code
    population: BigInt
    latitude: Finite
    longitude: Finite
    timezone: Text


ENVELOPE_ADAPTER: TypeAdapter[Envelope[Any]] = TypeAdapter(Envelope[Any])
