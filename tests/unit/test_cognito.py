"""Cognito-style ACCESSTOKEN + IDTOKEN pairs checked against a JWKS (the schedules face).

The tests generate their own RSA key pairs, publish the public half as a JWKS file and sign
tokens with PyJWT directly (or by hand for forgeries), never through filedock.auth.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from filedock.auth.cognito import CognitoVerifier
from filedock.auth.tokens import JwksKeys
from filedock.config import SettingsError, load_settings
from filedock.core.errors import Unauthenticated
from filedock.core.principal import Principal
from filedock.runtime import cognito_verifier
from tests.unit.token_support import JwksServer, b64, forge_hs256, write_jwks

ISSUER = "https://cognito-idp.eu-west-2.amazonaws.com/eu-west-2_testpool"
CLIENT_ID = "1t93bnmj1lm64ud2ovni11vfk6"
SUB = "3623ed1e-7038-45d7-b031-efdbee9123b7"
KID = "pool-key-1"
NOW = 1_563_316_461  # the seed's auth_time; a fixed clock keeps expiry checks exact
LEEWAY = 30
COGNITO_VARIABLES = (
    "FILEDOCK_COGNITO_JWKS_URL",
    "FILEDOCK_COGNITO_ISSUER",
    "FILEDOCK_COGNITO_CLIENT_ID",
)


@pytest.fixture(scope="module")
def pool_key() -> rsa.RSAPrivateKey:
    """The user pool's signing key; generated once because generation is slow."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def foreign_key() -> rsa.RSAPrivateKey:
    """Someone else's key, never published in our JWKS."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def jwks_path(tmp_path: Path, pool_key: rsa.RSAPrivateKey) -> Path:
    return write_jwks(tmp_path, {KID: pool_key.public_key()})


@pytest.fixture
def verifier(jwks_path: Path) -> CognitoVerifier:
    return CognitoVerifier(
        JwksKeys.from_location(str(jwks_path)),
        ISSUER,
        CLIENT_ID,
        leeway_seconds=LEEWAY,
        clock=lambda: float(NOW),
    )


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in COGNITO_VARIABLES:
        monkeypatch.delenv(variable, raising=False)


def access_claims(**changes: Any) -> dict[str, Any]:
    """An access token's claims as Cognito issues them (seed 000); None drops a claim."""
    claims: dict[str, Any] = {
        "sub": SUB,
        "token_use": "access",
        "scope": "aws.cognito.signin.user.admin",
        "auth_time": NOW,
        "iss": ISSUER,
        "exp": NOW + 3600,
        "iat": NOW,
        "jti": "4493fc10-436f-41fe-9adf-e17d8db0dcd3",
        "client_id": CLIENT_ID,
        "username": SUB,
    }
    return _apply(claims, changes)


def id_claims(**changes: Any) -> dict[str, Any]:
    """An id token's claims as Cognito issues them (seed 000); None drops a claim."""
    claims: dict[str, Any] = {
        "sub": SUB,
        "email_verified": True,
        "iss": ISSUER,
        "cognito:username": SUB,
        "given_name": "Bruce",
        "aud": CLIENT_ID,
        "custom:account_type": "Owner",
        "token_use": "id",
        "auth_time": NOW,
        "exp": NOW + 3600,
        "iat": NOW,
        "family_name": "Stewart",
        "email": "api_test@mailinator.com",
    }
    return _apply(claims, changes)


def _apply(claims: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    # Keyword arguments cannot contain ':', so `custom_account_type` stands for the claim.
    for name, value in changes.items():
        claim = "custom:account_type" if name == "custom_account_type" else name
        if value is None:
            claims.pop(claim, None)
        else:
            claims[claim] = value
    return claims


def sign(key: rsa.RSAPrivateKey, claims: dict[str, Any], *, kid: str | None = KID) -> str:
    headers = {"kid": kid} if kid is not None else {}
    return jwt.encode(claims, key, algorithm="RS256", headers=headers)


def refusal(verifier: CognitoVerifier, access: str | None, identity: str | None) -> str:
    """The refusal message, checked never to repeat a token or any claim value in it."""
    with pytest.raises(Unauthenticated) as caught:
        verifier.verify(access, identity)
    message = caught.value.message
    for token in (access, identity):
        for part in (token or "").split("."):
            if len(part) >= 8:
                assert part not in message
    for secret in (SUB, CLIENT_ID, "api_test@mailinator.com", "eu-west-2_testpool"):
        assert secret not in message
    return message


# --- accepted pairs -----------------------------------------------------------------------


def test_valid_pair_names_the_user_with_email(
    verifier: CognitoVerifier, pool_key: rsa.RSAPrivateKey
) -> None:
    principal = verifier.verify(sign(pool_key, access_claims()), sign(pool_key, id_claims()))

    assert principal == Principal(
        realm="cognito", user_id=SUB, role="user", email="api_test@mailinator.com"
    )
    assert not principal.is_admin


def test_admin_account_type_makes_an_admin(
    verifier: CognitoVerifier, pool_key: rsa.RSAPrivateKey
) -> None:
    identity = sign(pool_key, id_claims(custom_account_type="Admin"))

    principal = verifier.verify(sign(pool_key, access_claims()), identity)

    assert principal.role == "admin"
    assert principal.is_admin


@pytest.mark.parametrize("account_type", ["admin", "ADMIN", "Owner", ["Admin"], None])
def test_other_account_types_are_plain_users(
    verifier: CognitoVerifier, pool_key: rsa.RSAPrivateKey, account_type: Any
) -> None:
    identity = sign(pool_key, id_claims(custom_account_type=account_type))

    assert verifier.verify(sign(pool_key, access_claims()), identity).role == "user"


def test_the_access_token_cannot_make_an_admin(
    verifier: CognitoVerifier, pool_key: rsa.RSAPrivateKey
) -> None:
    # Only the id token describes the user; an extra claim in the access token is ignored.
    access = sign(pool_key, {**access_claims(), "custom:account_type": "Admin"})

    assert verifier.verify(access, sign(pool_key, id_claims())).role == "user"


@pytest.mark.parametrize("email", [None, "", 42, ["a@example.org"]])
def test_missing_or_odd_email_gives_no_email(
    verifier: CognitoVerifier, pool_key: rsa.RSAPrivateKey, email: Any
) -> None:
    identity = sign(pool_key, id_claims(email=email))

    assert verifier.verify(sign(pool_key, access_claims()), identity).email is None


def test_audience_list_containing_the_client_is_accepted(
    verifier: CognitoVerifier, pool_key: rsa.RSAPrivateKey
) -> None:
    identity = sign(pool_key, id_claims(aud=["another-client", CLIENT_ID]))

    assert verifier.verify(sign(pool_key, access_claims()), identity).user_id == SUB


def test_clock_skew_within_the_leeway_is_tolerated(
    verifier: CognitoVerifier, pool_key: rsa.RSAPrivateKey
) -> None:
    access = sign(pool_key, access_claims(exp=NOW - LEEWAY + 1, iat=NOW + LEEWAY))
    identity = sign(pool_key, id_claims(nbf=NOW + LEEWAY))

    assert verifier.verify(access, identity).user_id == SUB


# --- missing and malformed ----------------------------------------------------------------


@pytest.mark.parametrize("blank", [None, "", "   "])
def test_missing_access_token_is_refused(
    verifier: CognitoVerifier, pool_key: rsa.RSAPrivateKey, blank: str | None
) -> None:
    message = refusal(verifier, blank, sign(pool_key, id_claims()))

    assert message == "access token is missing"


@pytest.mark.parametrize("blank", [None, "", "   "])
def test_missing_id_token_is_refused(
    verifier: CognitoVerifier, pool_key: rsa.RSAPrivateKey, blank: str | None
) -> None:
    message = refusal(verifier, sign(pool_key, access_claims()), blank)

    assert message == "id token is missing"


@pytest.mark.parametrize(
    "garbage",
    [
        "garbage",
        "a.b.c",
        "...",
        "not base64!.not base64!.not base64!",
        b64({"alg": "RS256", "kid": KID}) + ".@@@@@@@@.signature",
        b64({"alg": "RS256", "kid": KID}) + "." + b64({"sub": SUB}) + ".###",
        "eyJhbGciOiJSUzI1NiJ9",
        "[]." + b64({"sub": SUB}) + ".sig",
    ],
)
def test_garbage_strings_are_refused(
    verifier: CognitoVerifier, pool_key: rsa.RSAPrivateKey, garbage: str
) -> None:
    good_access = sign(pool_key, access_claims())
    good_id = sign(pool_key, id_claims())

    assert refusal(verifier, garbage, good_id).startswith("access token ")
    assert refusal(verifier, good_access, garbage).startswith("id token ")


# --- algorithm, key and signature ---------------------------------------------------------


def unsigned(claims: dict[str, Any], alg: str = "none") -> str:
    return f"{b64({'alg': alg, 'typ': 'JWT', 'kid': KID})}.{b64(claims)}."


@pytest.mark.parametrize("alg", ["none", "None", "NONE", ""])
def test_unsigned_tokens_are_refused(
    verifier: CognitoVerifier, pool_key: rsa.RSAPrivateKey, alg: str
) -> None:
    good_access = sign(pool_key, access_claims())
    good_id = sign(pool_key, id_claims())

    assert refusal(verifier, unsigned(access_claims(), alg), good_id) == (
        "access token algorithm is not accepted"
    )
    assert refusal(verifier, good_access, unsigned(id_claims(), alg)) == (
        "id token algorithm is not accepted"
    )


@pytest.mark.parametrize("pem_format", ["spki", "pkcs1"])
def test_hs256_signed_with_the_public_key_as_secret_is_refused(
    verifier: CognitoVerifier, pool_key: rsa.RSAPrivateKey, pem_format: str
) -> None:
    # The classic confusion attack: the public key is public, so an HMAC "signed" with it
    # is forgeable by anyone if the verifier lets the header choose the algorithm.
    public_format = (
        serialization.PublicFormat.SubjectPublicKeyInfo
        if pem_format == "spki"
        else serialization.PublicFormat.PKCS1
    )
    public_pem = pool_key.public_key().public_bytes(serialization.Encoding.PEM, public_format)
    good_access = sign(pool_key, access_claims())
    good_id = sign(pool_key, id_claims(custom_account_type="Admin"))

    forged_access = forge_hs256(access_claims(), public_pem, kid=KID)
    forged_id = forge_hs256(id_claims(custom_account_type="Admin"), public_pem, kid=KID)

    assert refusal(verifier, forged_access, good_id) == "access token algorithm is not accepted"
    assert refusal(verifier, good_access, forged_id) == "id token algorithm is not accepted"


@pytest.mark.parametrize("alg", ["RS512", "PS256", "RS384"])
def test_other_rsa_algorithms_are_refused(
    verifier: CognitoVerifier, pool_key: rsa.RSAPrivateKey, alg: str
) -> None:
    # Validly signed by the pool's own key, but Cognito signs RS256 only.
    other = jwt.encode(access_claims(), pool_key, algorithm=alg, headers={"kid": KID})

    message = refusal(verifier, other, sign(pool_key, id_claims()))

    assert message == "access token algorithm is not accepted"


def test_unknown_kid_is_refused(verifier: CognitoVerifier, pool_key: rsa.RSAPrivateKey) -> None:
    good_access = sign(pool_key, access_claims())
    good_id = sign(pool_key, id_claims())

    assert refusal(verifier, sign(pool_key, access_claims(), kid="rotated-away"), good_id) == (
        "access token key is unknown"
    )
    assert refusal(verifier, good_access, sign(pool_key, id_claims(), kid="rotated-away")) == (
        "id token key is unknown"
    )


@pytest.mark.parametrize("kid", [None, ""])
def test_missing_kid_is_refused(
    verifier: CognitoVerifier, pool_key: rsa.RSAPrivateKey, kid: Any
) -> None:
    headers = {} if kid is None else {"kid": kid}
    access = jwt.encode(access_claims(), pool_key, algorithm="RS256", headers=headers)

    message = refusal(verifier, access, sign(pool_key, id_claims()))

    assert message == "access token has no key id"


def test_non_string_kid_is_refused(verifier: CognitoVerifier, pool_key: rsa.RSAPrivateKey) -> None:
    # PyJWT will not write such a header, so sign it by hand.
    signing_input = f"{b64({'alg': 'RS256', 'kid': 7})}.{b64(access_claims())}"
    signature = pool_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    access = f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"

    message = refusal(verifier, access, sign(pool_key, id_claims()))

    assert message.startswith("access token ")


def test_token_signed_by_a_foreign_key_is_refused(
    verifier: CognitoVerifier, pool_key: rsa.RSAPrivateKey, foreign_key: rsa.RSAPrivateKey
) -> None:
    good_access = sign(pool_key, access_claims())
    good_id = sign(pool_key, id_claims())

    # The foreign key claims our kid, so the pool key is tried and the signature fails.
    assert refusal(verifier, sign(foreign_key, access_claims()), good_id) == (
        "access token signature is invalid"
    )
    assert refusal(verifier, good_access, sign(foreign_key, id_claims())) == (
        "id token signature is invalid"
    )


def test_tampered_claims_break_the_signature(
    verifier: CognitoVerifier, pool_key: rsa.RSAPrivateKey
) -> None:
    header, _, signature = sign(pool_key, id_claims()).split(".")
    promoted = f"{header}.{b64(id_claims(custom_account_type='Admin'))}.{signature}"

    message = refusal(verifier, sign(pool_key, access_claims()), promoted)

    assert message == "id token signature is invalid"


# --- times --------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["access", "id"])
def test_expired_token_is_refused(
    verifier: CognitoVerifier, pool_key: rsa.RSAPrivateKey, which: str
) -> None:
    expired = {"exp": NOW - LEEWAY - 1, "iat": NOW - 3600}
    access = sign(pool_key, access_claims(**expired if which == "access" else {}))
    identity = sign(pool_key, id_claims(**expired if which == "id" else {}))

    assert refusal(verifier, access, identity) == f"{which} token has expired"


@pytest.mark.parametrize("exp_json", [None, "null", '"soon"', "true", "1e400", "NaN"])
def test_token_without_a_usable_exp_is_refused(
    verifier: CognitoVerifier, pool_key: rsa.RSAPrivateKey, exp_json: str | None
) -> None:
    # Written as JSON text: 1e400 parses as infinity and NaN compares false with every time,
    # both tokens that would never expire.
    payload = json.dumps(id_claims(exp=None))
    if exp_json is not None:
        payload = payload.removesuffix("}") + f', "exp": {exp_json}}}'
    identity = jwt.PyJWS().encode(
        payload.encode(), pool_key, algorithm="RS256", headers={"kid": KID}
    )

    message = refusal(verifier, sign(pool_key, access_claims()), identity)

    assert message == "id token has no valid exp claim"


@pytest.mark.parametrize(
    ("which", "claim"), [("access", "nbf"), ("access", "iat"), ("id", "nbf"), ("id", "iat")]
)
def test_token_not_yet_valid_is_refused(
    verifier: CognitoVerifier, pool_key: rsa.RSAPrivateKey, which: str, claim: str
) -> None:
    future = {claim: NOW + LEEWAY + 1}
    access = sign(pool_key, access_claims(**future if which == "access" else {}))
    identity = sign(pool_key, id_claims(**future if which == "id" else {}))

    assert refusal(verifier, access, identity) == f"{which} token is not yet valid"


# --- issuer, token_use, client and audience -----------------------------------------------


@pytest.mark.parametrize(
    "issuer", [None, "https://cognito-idp.eu-west-2.amazonaws.com/eu-west-2_other", ISSUER + "/"]
)
def test_wrong_issuer_is_refused(
    verifier: CognitoVerifier, pool_key: rsa.RSAPrivateKey, issuer: str | None
) -> None:
    good_access = sign(pool_key, access_claims())
    good_id = sign(pool_key, id_claims())

    assert refusal(verifier, sign(pool_key, access_claims(iss=issuer)), good_id) == (
        "access token issuer is not accepted"
    )
    assert refusal(verifier, good_access, sign(pool_key, id_claims(iss=issuer))) == (
        "id token issuer is not accepted"
    )


def test_id_token_used_as_access_token_is_refused(
    verifier: CognitoVerifier, pool_key: rsa.RSAPrivateKey
) -> None:
    identity = sign(pool_key, id_claims())

    assert refusal(verifier, identity, identity) == "access token is not an access token"


def test_access_token_used_as_id_token_is_refused(
    verifier: CognitoVerifier, pool_key: rsa.RSAPrivateKey
) -> None:
    access = sign(pool_key, access_claims())

    assert refusal(verifier, access, access) == "id token is not an id token"


def test_swapped_headers_are_refused(
    verifier: CognitoVerifier, pool_key: rsa.RSAPrivateKey
) -> None:
    access = sign(pool_key, access_claims())
    identity = sign(pool_key, id_claims())

    assert refusal(verifier, identity, access) == "access token is not an access token"


@pytest.mark.parametrize("token_use", [None, "ID", "refresh", ["access"]])
def test_access_token_without_access_use_is_refused(
    verifier: CognitoVerifier, pool_key: rsa.RSAPrivateKey, token_use: Any
) -> None:
    access = sign(pool_key, access_claims(token_use=token_use))

    message = refusal(verifier, access, sign(pool_key, id_claims()))

    assert message == "access token is not an access token"


@pytest.mark.parametrize("client_id", [None, "another-client", [CLIENT_ID], ""])
def test_wrong_client_id_is_refused(
    verifier: CognitoVerifier, pool_key: rsa.RSAPrivateKey, client_id: Any
) -> None:
    access = sign(pool_key, access_claims(client_id=client_id))

    message = refusal(verifier, access, sign(pool_key, id_claims()))

    assert message == "access token client is not accepted"


@pytest.mark.parametrize("aud", [None, "another-client", ["another-client"], [], CLIENT_ID + "x"])
def test_wrong_audience_is_refused(
    verifier: CognitoVerifier, pool_key: rsa.RSAPrivateKey, aud: Any
) -> None:
    identity = sign(pool_key, id_claims(aud=aud))

    message = refusal(verifier, sign(pool_key, access_claims()), identity)

    assert message == "id token audience is not accepted"


# --- subject ------------------------------------------------------------------------------


def test_tokens_of_different_users_are_refused(
    verifier: CognitoVerifier, pool_key: rsa.RSAPrivateKey
) -> None:
    # A valid access token of one user cannot lend its authority to another user's id token.
    other = "0f8a1c2e-0000-4000-8000-000000000001"
    identity = sign(pool_key, id_claims(sub=other, custom_account_type="Admin"))

    message = refusal(verifier, sign(pool_key, access_claims()), identity)

    assert message == "access and id tokens name different users"
    assert other not in message


@pytest.mark.parametrize("which", ["access", "id"])
@pytest.mark.parametrize("sub", [None, "", "  "])
def test_missing_sub_is_refused(
    verifier: CognitoVerifier, pool_key: rsa.RSAPrivateKey, which: str, sub: str | None
) -> None:
    change = {"sub": sub}
    access = sign(pool_key, access_claims(**change if which == "access" else {}))
    identity = sign(pool_key, id_claims(**change if which == "id" else {}))

    assert refusal(verifier, access, identity) == f"{which} token has no subject"


def test_non_string_sub_is_refused(verifier: CognitoVerifier, pool_key: rsa.RSAPrivateKey) -> None:
    access = sign(pool_key, access_claims(sub=12345))
    identity = sign(pool_key, id_claims(sub=12345))

    assert refusal(verifier, access, identity) == "access token has no subject"


# --- construction and the factory ---------------------------------------------------------


@pytest.mark.parametrize(
    ("issuer", "client_id", "leeway"), [("", CLIENT_ID, 0), (ISSUER, "", 0), (ISSUER, "c", -1)]
)
def test_verifier_refuses_an_empty_configuration(
    jwks_path: Path, issuer: str, client_id: str, leeway: int
) -> None:
    with pytest.raises(ValueError):
        CognitoVerifier(
            JwksKeys.from_location(str(jwks_path)), issuer, client_id, leeway_seconds=leeway
        )


def test_factory_is_off_without_settings(tmp_path: Path, clean_environment: None) -> None:
    assert cognito_verifier(load_settings(data_dir=tmp_path)) is None


def test_factory_builds_a_working_verifier_from_settings(
    tmp_path: Path,
    jwks_path: Path,
    pool_key: rsa.RSAPrivateKey,
    monkeypatch: pytest.MonkeyPatch,
    clean_environment: None,
) -> None:
    monkeypatch.setenv("FILEDOCK_COGNITO_JWKS_URL", str(jwks_path))
    monkeypatch.setenv("FILEDOCK_COGNITO_ISSUER", ISSUER)
    monkeypatch.setenv("FILEDOCK_COGNITO_CLIENT_ID", CLIENT_ID)
    verifier = cognito_verifier(load_settings(data_dir=tmp_path))
    assert verifier is not None

    # The real clock: tokens valid now.
    now = int(time.time())
    times = {"iat": now, "auth_time": now, "exp": now + 3600}
    principal = verifier.verify(
        sign(pool_key, access_claims(**times)), sign(pool_key, id_claims(**times))
    )

    assert principal.user_id == SUB


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    server = JwksServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()
        server.thread.join(timeout=5)


def test_jwks_url_picks_up_a_rotated_key(
    jwks_server: JwksServer, pool_key: rsa.RSAPrivateKey, foreign_key: rsa.RSAPrivateKey
) -> None:
    # JwksKeys' refetch on an unknown kid is reused as is: the pool rotates to a new key.
    jwks_server.publish({KID: pool_key.public_key()})
    clock_now = [0.0]
    keys = JwksKeys.from_location(jwks_server.url, clock=lambda: clock_now[0])
    verifier = CognitoVerifier(keys, ISSUER, CLIENT_ID, clock=lambda: float(NOW))
    assert verifier.verify(sign(pool_key, access_claims()), sign(pool_key, id_claims()))

    jwks_server.publish({KID: pool_key.public_key(), "pool-key-2": foreign_key.public_key()})
    clock_now[0] += 301
    access = sign(foreign_key, access_claims(), kid="pool-key-2")

    assert verifier.verify(access, sign(pool_key, id_claims())).user_id == SUB
    assert jwks_server.fetches == 2


# --- settings: all three or none ----------------------------------------------------------


@pytest.mark.usefixtures("clean_environment")
def test_settings_without_cognito_leave_it_off(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)

    assert (settings.cognito_jwks_url, settings.cognito_issuer, settings.cognito_client_id) == (
        None,
        None,
        None,
    )


@pytest.mark.usefixtures("clean_environment")
def test_blank_cognito_variables_count_as_unset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in COGNITO_VARIABLES:
        monkeypatch.setenv(variable, " ")

    assert load_settings(data_dir=tmp_path).cognito_issuer is None


@pytest.mark.usefixtures("clean_environment")
def test_settings_with_all_three_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FILEDOCK_COGNITO_JWKS_URL", f"{ISSUER}/.well-known/jwks.json")
    monkeypatch.setenv("FILEDOCK_COGNITO_ISSUER", ISSUER)
    monkeypatch.setenv("FILEDOCK_COGNITO_CLIENT_ID", CLIENT_ID)

    settings = load_settings(data_dir=tmp_path)

    assert settings.cognito_jwks_url == f"{ISSUER}/.well-known/jwks.json"
    assert (settings.cognito_issuer, settings.cognito_client_id) == (ISSUER, CLIENT_ID)


@pytest.mark.usefixtures("clean_environment")
@pytest.mark.parametrize("unset", COGNITO_VARIABLES)
def test_settings_missing_one_of_three_name_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unset: str
) -> None:
    values = {
        "FILEDOCK_COGNITO_JWKS_URL": "/etc/filedock/jwks.json",
        "FILEDOCK_COGNITO_ISSUER": ISSUER,
        "FILEDOCK_COGNITO_CLIENT_ID": CLIENT_ID,
    }
    for variable, value in values.items():
        if variable != unset:
            monkeypatch.setenv(variable, value)

    with pytest.raises(SettingsError) as caught:
        load_settings(data_dir=tmp_path)

    message = str(caught.value)
    assert message.startswith(f"{unset} must be set too")
    assert "FILEDOCK_?" not in message


@pytest.mark.usefixtures("clean_environment")
@pytest.mark.parametrize("only", COGNITO_VARIABLES)
def test_settings_with_only_one_of_three_name_the_other_two(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, only: str
) -> None:
    monkeypatch.setenv(only, ISSUER)

    with pytest.raises(SettingsError) as caught:
        load_settings(data_dir=tmp_path)

    for variable in COGNITO_VARIABLES:
        assert (variable in str(caught.value).split(":")[0]) == (variable != only)


@pytest.mark.usefixtures("clean_environment")
@pytest.mark.parametrize("issuer", ["cognito-idp.eu-west-2.amazonaws.com/pool", "ftp://x/y", "/"])
def test_settings_refuse_an_issuer_that_is_not_an_http_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, issuer: str
) -> None:
    monkeypatch.setenv("FILEDOCK_COGNITO_JWKS_URL", "/etc/filedock/jwks.json")
    monkeypatch.setenv("FILEDOCK_COGNITO_ISSUER", issuer)
    monkeypatch.setenv("FILEDOCK_COGNITO_CLIENT_ID", CLIENT_ID)

    with pytest.raises(SettingsError, match=r"^FILEDOCK_COGNITO_ISSUER: must be an absolute"):
        load_settings(data_dir=tmp_path)
