"""Users own their images: members, API tokens, sessions, through the real backend and S3.

Every test acts as a user does, over HTTP, and looks in MinIO only to check what is
(and is not) kept there.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import apps_samples as samples
import httpx
import pytest
from apps_stack import Stack, keyed_upload, upload
from imgcloud.auth import AttemptLimiter
from imgcloud.devstack import Service


@dataclass(frozen=True)
class Member:
    name: str
    password: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def make_member(
    stack: Stack, role: str = "member", scopes: tuple[str, ...] = ("upload", "delete")
) -> Member:
    name, password = f"m-{secrets.token_hex(4)}", secrets.token_urlsafe(12)
    with stack.client() as admin:
        made = admin.post("/api/users", json={"name": name, "password": password, "role": role})
        assert made.status_code == 201, made.text
        token = admin.post("/api/tokens", json={"user": name, "scopes": list(scopes)})
        assert token.status_code == 201, token.text
    return Member(name, password, token.json()["token"])


@pytest.fixture
def alice(stack: Stack) -> Member:
    return make_member(stack)


@pytest.fixture
def bob(stack: Stack) -> Member:
    return make_member(stack)


@pytest.fixture
def anonymous(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.backend.url, timeout=30) as client:
        yield client


def as_member(stack: Stack, member: Member, service: Service | None = None) -> httpx.Client:
    url = (service or stack.backend).url
    return httpx.Client(base_url=url, timeout=30, headers=member.auth)


def uploaded(stack: Stack, member: Member, name: str = "owned.png") -> str:
    with as_member(stack, member) as client:
        answer = upload(client, samples.ACCEPTED["png"](), name, "image/png")
    assert answer.status_code == 202, answer.text
    return answer.json()["id"]


def listed_ids(client: httpx.Client) -> list[str]:
    answer = client.get("/api/images", params={"limit": 100})
    assert answer.status_code == 200, answer.text
    return [image["id"] for image in answer.json()["images"]]


def session_of(stack: Stack, member: Member) -> tuple[dict[str, str], str]:
    """Sign in as the page does: the session cookie (as a header: it is Secure, and an
    HTTP client keeps Secure cookies for HTTPS) and the CSRF token."""
    answer = httpx.post(
        f"{stack.backend.url}/api/session",
        json={"name": member.name, "password": member.password},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    cookie = answer.headers["set-cookie"]
    return {"Cookie": cookie.split(";", 1)[0]}, answer.json()["csrf"]


# Who may do what.


def test_without_a_credential_there_is_no_listing_and_no_upload(
    stack: Stack, anonymous: httpx.Client
) -> None:
    before = stack.upload_keys()
    listing = anonymous.get("/api/images")
    refused = upload(anonymous, samples.ACCEPTED["png"](), "anon.png", "image/png")
    for answer in (listing, refused):
        assert answer.status_code == 401, answer.text
        assert answer.json()["reason"] == "sign_in" and answer.json()["request_id"]
        assert answer.headers["www-authenticate"].startswith("Bearer")
    assert stack.upload_keys() == before


def test_a_member_lists_their_own_images_and_an_admin_everyones(
    stack: Stack, alice: Member, bob: Member
) -> None:
    hers, his = uploaded(stack, alice), uploaded(stack, bob)
    with as_member(stack, alice) as client:
        assert hers in listed_ids(client) and his not in listed_ids(client)
    with as_member(stack, bob) as client:
        assert listed_ids(client) == [his]
    with stack.client() as admin:
        everyone = listed_ids(admin)
    assert his in everyone and hers in everyone
    assert everyone.index(his) < everyone.index(hers)  # newest first, as before


def test_anyone_with_an_images_url_may_view_it_and_its_variants(
    stack: Stack, alice: Member, anonymous: httpx.Client
) -> None:
    image_id = uploaded(stack, alice)
    view = anonymous.get(f"/api/images/{image_id}")
    assert view.status_code == 200 and view.json()["owner"] == alice.name
    assert anonymous.get(f"/api/images/{image_id}/original").status_code == 200


def test_one_member_cannot_delete_anothers_image(
    stack: Stack, alice: Member, bob: Member, anonymous: httpx.Client
) -> None:
    image_id = uploaded(stack, alice)
    with as_member(stack, bob) as client:
        refused = client.delete(f"/api/images/{image_id}")
    assert refused.status_code == 403, refused.text
    assert refused.json()["reason"] == "not_owner"
    assert anonymous.get(f"/api/images/{image_id}/original").status_code == 200
    assert anonymous.delete(f"/api/images/{image_id}").status_code == 401
    with as_member(stack, alice) as client:
        assert client.delete(f"/api/images/{image_id}").status_code == 200
        assert image_id not in listed_ids(client)
    assert anonymous.get(f"/api/images/{image_id}").status_code == 404
    assert not stack.keys(f"owners/{alice.name}/{image_id}")


def test_an_admin_deletes_any_members_image(stack: Stack, alice: Member) -> None:
    image_id = uploaded(stack, alice)
    with stack.client() as admin:
        assert admin.delete(f"/api/images/{image_id}").status_code == 200
    with as_member(stack, alice) as client:
        assert image_id not in listed_ids(client)
    assert not stack.keys(f"images/{image_id}/")


def test_a_token_does_only_what_its_scopes_allow(stack: Stack, alice: Member) -> None:
    image_id = uploaded(stack, alice)
    with stack.client() as admin:
        made = {
            scope: admin.post("/api/tokens", json={"user": alice.name, "scopes": [scope]}).json()
            for scope in ("upload", "delete")
        }
    upload_only = {"Authorization": f"Bearer {made['upload']['token']}"}
    delete_only = {"Authorization": f"Bearer {made['delete']['token']}"}
    with httpx.Client(base_url=stack.backend.url, timeout=30, headers=upload_only) as client:
        assert client.delete(f"/api/images/{image_id}").status_code == 403
        assert image_id in listed_ids(client)  # every credential lists its owner's images
    with httpx.Client(base_url=stack.backend.url, timeout=30, headers=delete_only) as client:
        refused = upload(client, samples.ACCEPTED["png"](), "no.png", "image/png")
        assert refused.status_code == 403 and refused.json()["reason"] == "forbidden"
        assert client.delete(f"/api/images/{image_id}").status_code == 200


def test_a_member_manages_only_their_own_tokens(stack: Stack, alice: Member, bob: Member) -> None:
    with as_member(stack, alice) as client:
        admin_scope = client.post("/api/tokens", json={"scopes": ["admin"]})
        assert admin_scope.status_code == 403, admin_scope.text
        assert admin_scope.json()["reason"] == "scope_beyond_role"
        for_bob = client.post("/api/tokens", json={"user": bob.name, "scopes": ["upload"]})
        assert for_bob.status_code == 403
        assert (
            client.post("/api/users", json={"name": "mallory", "password": "x" * 12}).status_code
            == 403
        )
        bobs = bob.token.split("_")[1]
        assert client.delete(f"/api/tokens/{bobs}").status_code == 403
        own = client.post("/api/tokens", json={"scopes": ["upload"], "label": "laptop"})
        assert own.status_code == 201
        listed = client.get("/api/tokens").json()["tokens"]
    assert {t["user"] for t in listed} == {alice.name} and len(listed) == 2
    with as_member(stack, bob) as client:
        assert client.get("/api/tokens").status_code == 200  # bob's token still works


def test_a_revoked_token_stops_working_at_once_on_every_backend(
    stack: Stack, second_backend: Service, alice: Member
) -> None:
    backends = (stack.backend, second_backend)
    for backend in backends:
        with as_member(stack, alice, backend) as client:
            assert client.get("/api/images").status_code == 200
    token_id = alice.token.split("_")[1]
    with as_member(stack, alice) as client:  # a member revokes their own token
        assert client.delete(f"/api/tokens/{token_id}").status_code == 200
    for backend in backends:
        with as_member(stack, alice, backend) as client:
            refused = client.get("/api/images")
            assert refused.status_code == 401, (backend.url, refused.text)
            assert refused.json()["reason"] == "bad_token"
            assert (
                upload(client, samples.ACCEPTED["png"](), "late.png", "image/png").status_code
                == 401
            )


def test_a_removed_member_holds_nothing_any_more(
    stack: Stack, second_backend: Service, alice: Member
) -> None:
    cookie, _ = session_of(stack, alice)
    with stack.client() as admin:
        gone = admin.delete(f"/api/users/{alice.name}")
    assert gone.status_code == 200 and gone.json()["credentials_revoked"] == 2
    for backend in (stack.backend, second_backend):
        with as_member(stack, alice, backend) as client:
            assert client.get("/api/images").status_code == 401
        assert httpx.get(f"{backend.url}/api/session", headers=cookie).status_code == 401
    assert not [k for k in stack.keys("accounts/") if alice.name in k]


def test_a_keyed_upload_is_each_members_own(stack: Stack, alice: Member, bob: Member) -> None:
    data, key = samples.ACCEPTED["jpeg"](), secrets.token_hex(16)
    with as_member(stack, alice) as client:
        hers = keyed_upload(client, data, key).json()["id"]
    with as_member(stack, bob) as client:
        his = keyed_upload(client, data, key).json()["id"]
        assert his != hers and listed_ids(client) == [his]


def test_the_deploy_token_is_listed_and_replaced_only_by_a_deploy(stack: Stack) -> None:
    with stack.client() as admin:
        assert admin.get("/api/session").json()["user"] == "deploy"
        listed = admin.get("/api/tokens").json()["tokens"]
        assert listed[0]["id"] == "deploy"
        refused = admin.delete("/api/tokens/deploy")
    assert refused.status_code == 409 and refused.json()["reason"] == "deploy_token"


# Sessions.


def test_a_session_cookie_is_secure_httponly_and_strict(stack: Stack, alice: Member) -> None:
    answer = httpx.post(
        f"{stack.backend.url}/api/session",
        json={"name": alice.name, "password": alice.password},
        timeout=30,
    )
    flags = {part.strip().split("=")[0].lower() for part in answer.headers["set-cookie"].split(";")}
    assert {"secure", "httponly", "samesite", "max-age"} <= flags
    assert "samesite=strict" in answer.headers["set-cookie"].lower()


def test_a_write_with_the_session_must_carry_its_csrf_token(stack: Stack, alice: Member) -> None:
    cookie, csrf = session_of(stack, alice)
    files = {"file": ("csrf.png", samples.ACCEPTED["png"](), "image/png")}
    before = stack.upload_keys()
    with httpx.Client(base_url=stack.backend.url, timeout=30, headers=cookie) as client:
        assert client.get("/api/session").json()["user"] == alice.name  # reads need none
        forged = client.post("/api/images", files=files)
        wrong = client.post("/api/images", files=files, headers={"X-CSRF-Token": "x" * 43})
        for answer in (forged, wrong):
            assert answer.status_code == 403 and answer.json()["reason"] == "csrf"
        assert stack.upload_keys() == before
        made = client.post("/api/images", files=files, headers={"X-CSRF-Token": csrf})
        assert made.status_code == 202, made.text
        assert client.delete("/api/session", headers={"X-CSRF-Token": csrf}).status_code == 200
        assert client.get("/api/session").status_code == 401


def test_sign_in_takes_json_only(stack: Stack, alice: Member) -> None:
    # A form another site posts (login CSRF) is not JSON, and a browser cannot send JSON
    # across origins without a preflight we never answer.
    answer = httpx.post(
        f"{stack.backend.url}/api/session",
        data={"name": alice.name, "password": alice.password},
        timeout=30,
    )
    assert answer.status_code == 415 and "set-cookie" not in answer.headers


def test_failed_sign_ins_are_limited_for_that_name(
    stack: Stack, alice: Member, bob: Member
) -> None:
    url = f"{stack.backend.url}/api/session"
    wrong = {"name": alice.name, "password": "not-her-password"}
    statuses = [httpx.post(url, json=wrong, timeout=30).status_code for _ in range(5)]
    assert statuses == [401] * 5
    right = httpx.post(url, json={"name": alice.name, "password": alice.password}, timeout=30)
    assert right.status_code == 429, right.text
    assert right.json()["reason"] == "too_many_attempts"
    assert 0 < int(right.headers["retry-after"]) <= 300
    others = httpx.post(url, json={"name": bob.name, "password": bob.password}, timeout=30)
    assert others.status_code == 200


def test_an_unknown_name_and_a_wrong_password_get_the_same_answer(
    stack: Stack, alice: Member
) -> None:
    url = f"{stack.backend.url}/api/session"
    unknown = httpx.post(url, json={"name": "nobody-here", "password": "whatever-1"}, timeout=30)
    wrong = httpx.post(url, json={"name": alice.name, "password": "whatever-1"}, timeout=30)
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json()["error"] == wrong.json()["error"]


def test_the_attempt_limiter_forgets_after_its_window() -> None:
    now = [1000.0]
    limiter = AttemptLimiter(limit=2, window=60, clock=lambda: now[0])
    limiter.failed("a", "10.0.0.1")
    limiter.failed("a", "10.0.0.1")
    assert limiter.wait("a", "10.0.0.1") == 60
    assert limiter.wait("a", "10.0.0.2") == 0 and limiter.wait("b", "10.0.0.1") == 0
    now[0] += 61
    assert limiter.wait("a", "10.0.0.1") == 0


# What is kept, and bad input.


def test_passwords_and_token_secrets_are_kept_only_as_hashes(stack: Stack, alice: Member) -> None:
    s3 = stack.s3()
    kept = {
        key: s3.get_object(Bucket=stack.bucket, Key=key)["Body"].read()
        for key in stack.keys("accounts/")
    }
    user = kept[f"accounts/users/{alice.name}.json"]
    assert b'"$argon2id$' in user
    secret = alice.token.split("_", 2)[2].encode()
    for body in kept.values():
        assert alice.password.encode() not in body and secret not in body


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        ({"name": "Bad Name", "password": "long-enough-1"}, 400, "bad_name"),
        ({"name": "deploy", "password": "long-enough-1"}, 400, "bad_name"),
        ({"name": "shorty", "password": "short"}, 400, "weak_password"),
        ({"name": "roleless", "password": "long-enough-1", "role": "owner"}, 400, "bad_role"),
        ({"name": "nopass"}, 400, "bad_password"),
    ],
    ids=["name", "reserved", "password", "role", "missing"],
)
def test_bad_account_input_gets_its_reason(
    stack: Stack, body: dict[str, str], status: int, reason: str
) -> None:
    with stack.client() as admin:
        answer = admin.post("/api/users", json=body)
    assert (answer.status_code, answer.json()["reason"]) == (status, reason), answer.text


def test_a_name_is_taken_once_and_a_scope_must_exist(stack: Stack, alice: Member) -> None:
    with stack.client() as admin:
        again = admin.post("/api/users", json={"name": alice.name, "password": "x" * 12})
        unknown = admin.post("/api/tokens", json={"user": alice.name, "scopes": ["root"]})
    assert again.status_code == 409 and again.json()["reason"] == "user_exists"
    assert unknown.status_code == 400 and unknown.json()["reason"] == "bad_scope"


# The operator's commands.


def imgcloud(stack: Stack, *args: str, stdin: str = "", token: str = "") -> str:
    env = dict(
        os.environ, IMGCLOUD_URL=stack.frontend.url, IMGCLOUD_TOKEN=token or stack.admin_token
    )
    done = subprocess.run(
        [sys.executable, "-m", "imgcloud", *args],
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_operator_adds_a_member_makes_and_revokes_a_token_and_removes_them(
    stack: Stack,
) -> None:
    name = f"ops-{secrets.token_hex(3)}"
    imgcloud(stack, "users", "add", name, "--password-stdin", stdin="a-long-password\n")
    assert f"{name}\tmember" in imgcloud(stack, "users", "list")
    token = imgcloud(stack, "tokens", "create", "--user", name, "--scope", "upload").strip()
    with httpx.Client(base_url=stack.frontend.url, timeout=30) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        assert upload(client, samples.ACCEPTED["png"](), "cli.png", "image/png").status_code == 202
        token_id = token.split("_")[1]
        assert f"{token_id}\t{name}\tupload" in imgcloud(stack, "tokens", "list", "--user", name)
        imgcloud(stack, "tokens", "revoke", token_id)
        assert client.get("/api/images").status_code == 401
    assert "removed" in imgcloud(stack, "users", "remove", name)
    assert name not in imgcloud(stack, "users", "list")


def test_the_operators_command_says_why_it_was_refused(stack: Stack, alice: Member) -> None:
    env = dict(os.environ, IMGCLOUD_URL=stack.backend.url, IMGCLOUD_TOKEN=alice.token)
    done = subprocess.run(
        [sys.executable, "-m", "imgcloud", "users", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "403" in done.stderr and "does not allow admin" in done.stderr
