"""Three `scimlite serve` processes on one PostgreSQL database, clients spread over them
(issue #17, item 5): nothing lost, nothing duplicated, no 5xx, whichever process answers."""

from __future__ import annotations

import http.client
import json
import re
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest

from tests.support import SCIM_JSON, USER_SCHEMA, free_port, request
from tests.support.postgres import fresh_database
from tests.support.process import ServerProcess

pytestmark = pytest.mark.slow

GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


class Cluster:
    """The processes, and one admin token that any of them accepts."""

    def __init__(self, servers: list[ServerProcess], token: str, url: str) -> None:
        self.servers = servers
        self.token = token
        self.url = url

    def call(
        self,
        i: int,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], Any]:
        """One SCIM request to process `i` (any int: spread round-robin)."""
        server = self.servers[i % len(self.servers)]
        sent = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = SCIM_JSON
        status, got, payload = request(
            method, f"{server.base}/scim/v2{path}", data, sent, timeout=30
        )
        return status, got, json.loads(payload) if payload else None


@pytest.fixture(scope="module")
def cluster(postgres_server: str) -> Iterator[Cluster]:
    """Three processes started together on a new, empty database: they migrate it under
    an advisory lock, and exactly one creates the first admin token."""
    with fresh_database(postgres_server, empty=True) as url:
        servers = []
        for _ in range(3):
            port = free_port()
            argv = [sys.executable, "-m", "scimlite", "serve", "--port", str(port)]
            servers.append(ServerProcess(argv, port=port, env={"SCIMLITE_DATABASE_URL": url}))
        starters = [threading.Thread(target=s.start) for s in servers]
        for thread in starters:
            thread.start()
        for thread in starters:
            thread.join()
        try:
            printed = [
                line.strip() for s in servers for line in s.lines if line.strip().startswith("sl_")
            ]
            assert len(printed) == 1, [s.output() for s in servers]
            yield Cluster(servers, printed[0], url)
        finally:
            for server in servers:
                if server.proc is not None and server.proc.poll() is None:
                    server.stop()


def together(n: int, fn: Callable[[int], Any]) -> list[Any]:
    """`fn(0) … fn(n-1)` at once, from n threads."""
    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(fn, range(n)))


def new_user(cluster: Cluster, name: str, i: int = 0) -> dict[str, Any]:
    status, _, user = cluster.call(
        i, "POST", "/Users", {"schemas": [USER_SCHEMA], "userName": name}
    )
    assert status == 201, user
    return dict(user)


def new_team(cluster: Cluster, name: str, i: int = 0) -> dict[str, Any]:
    body = {"schemas": [GROUP_SCHEMA], "displayName": name}
    status, _, team = cluster.call(i, "POST", "/Groups", body)
    assert status == 201, team
    return dict(team)


def add_member(user_id: str) -> dict[str, Any]:
    op = {"op": "add", "path": "members", "value": [{"value": user_id}]}
    return {"schemas": [PATCH_SCHEMA], "Operations": [op]}


def test_every_process_serves_the_same_directory(cluster: Cluster) -> None:
    user = new_user(cluster, "everywhere@example.com", 0)
    for i in range(3):
        status, _, got = cluster.call(i, "GET", f"/Users/{user['id']}")
        assert status == 200 and got["userName"] == "everywhere@example.com"


def test_concurrent_member_adds_on_every_process_are_all_kept(cluster: Cluster) -> None:
    team = new_team(cluster, "no-lost-update")
    users = [new_user(cluster, f"member{i}@example.com", i) for i in range(24)]
    statuses = together(
        24,
        lambda i: cluster.call(i, "PATCH", f"/Groups/{team['id']}", add_member(users[i]["id"]))[0],
    )
    assert Counter(statuses) == {200: 24} or Counter(statuses) == {204: 24}
    _, _, got = cluster.call(1, "GET", f"/Groups/{team['id']}")
    assert sorted(m["value"] for m in got["members"]) == sorted(u["id"] for u in users)
    assert got["meta"]["version"] == 'W/"25"'  # one version per change, none lost


def test_a_stale_if_match_is_412_whichever_process_won(cluster: Cluster) -> None:
    user = new_user(cluster, "contended@example.com")
    etag = user["meta"]["version"]

    def rename(i: int) -> int:
        body = {"schemas": [PATCH_SCHEMA], "Operations": [
            {"op": "replace", "path": "displayName", "value": f"writer {i}"}
        ]}  # fmt: skip
        return cluster.call(i, "PATCH", f"/Users/{user['id']}", body, {"If-Match": etag})[0]

    statuses = together(9, rename)
    assert sorted(statuses) == [200] + [412] * 8, statuses


def test_case_insensitive_user_names_are_unique_across_processes(cluster: Cluster) -> None:
    names = ["Straße@example.com", "STRASSE@example.com", "strasse@example.com"] * 4

    def create(i: int) -> int:
        body = {"schemas": [USER_SCHEMA], "userName": names[i]}
        return cluster.call(i, "POST", "/Users", body)[0]

    statuses = together(len(names), create)
    assert sorted(statuses) == [201] + [409] * (len(names) - 1), statuses


def test_memberships_from_both_sides_on_different_processes_never_5xx(cluster: Cluster) -> None:
    teams = [new_team(cluster, f"both-sides-{i}") for i in range(4)]
    users = [new_user(cluster, f"both{i}@example.com", i) for i in range(8)]

    def join(i: int) -> int:
        user, team = users[i % 8], teams[i % 4]
        if i % 2:  # from the team's side
            return cluster.call(i, "PATCH", f"/Groups/{team['id']}", add_member(user["id"]))[0]
        _, _, current = cluster.call(i, "GET", f"/Users/{user['id']}")
        body = {
            "schemas": [USER_SCHEMA],
            "userName": current["userName"],
            "groups": [{"value": team["id"]}],
        }
        return cluster.call(i, "PUT", f"/Users/{user['id']}", body)[0]

    statuses = together(16, join)
    assert all(s < 500 for s in statuses), statuses
    for team in teams:
        _, _, got = cluster.call(0, "GET", f"/Groups/{team['id']}")
        members = {m["value"] for m in got.get("members", [])}
        for member in members:  # both sides agree
            _, _, user = cluster.call(2, "GET", f"/Users/{member}")
            assert team["id"] in {g["value"] for g in user.get("groups", [])}


def test_a_cursor_from_one_process_pages_on_another(cluster: Cluster) -> None:
    for i in range(5):
        new_user(cluster, f"paged{i}@example.com", i)
    query = "/Users?filter=userName%20sw%20%22paged%22&count=2&cursor"
    _, _, first = cluster.call(0, "GET", query)
    seen = [u["userName"] for u in first["Resources"]]
    cursor, hop = first.get("nextCursor"), 1
    while cursor:
        status, _, page = cluster.call(hop, "GET", f"{query}={cursor}")
        assert status == 200, page
        seen += [u["userName"] for u in page["Resources"]]
        cursor, hop = page.get("nextCursor"), hop + 1
    assert sorted(seen) == [f"paged{i}@example.com" for i in range(5)]


def console(
    server: ServerProcess, method: str, path: str, cookie: str, form: str = ""
) -> tuple[int, dict[str, str], bytes, list[str]]:
    """One console request: (status, headers, body, every Set-Cookie's name=value)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    headers = {"Cookie": cookie} if cookie else {}
    if form:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        conn.request(method, path, body=form.encode() or None, headers=headers)
        resp = conn.getresponse()
        cookies = [v.split(";")[0] for k, v in resp.getheaders() if k.lower() == "set-cookie"]
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read(), cookies
    finally:
        conn.close()


def csrf_of(page: bytes) -> str:
    found = re.search(rb'name="csrf" value="([^"]+)"', page)
    assert found is not None, page
    return found.group(1).decode()


def sign_in(server: ServerProcess, token: str) -> str:
    """Sign in to one process's console; the session cookie."""
    _, _, page, cookies = console(server, "GET", "/signin", "")
    form = f"token={token}&csrf={csrf_of(page)}"
    status, _, _, cookies = console(server, "POST", "/signin", cookies[0], form)
    assert status == 303, cookies
    [session] = [c for c in cookies if c.startswith("scimlite_session=")]
    return session


def test_a_console_session_works_on_every_process_and_ends_everywhere(cluster: Cluster) -> None:
    a, b, c = cluster.servers
    cookie = sign_in(a, cluster.token)
    for server in (a, b, c):
        status, _, page, _ = console(server, "GET", "/users", cookie)
        assert status == 200 and b"Sign out" in page
    _, _, page, _ = console(b, "GET", "/", cookie)
    status, _, _, _ = console(b, "POST", "/signout", cookie, f"csrf={csrf_of(page)}")
    assert status == 303
    for server in (a, c):  # signed out on b: no longer signed in on a or c
        status, headers, _, _ = console(server, "GET", "/users", cookie)
        assert status == 303 and headers["location"].startswith("/signin")


def test_killing_one_process_mid_write_loses_nothing_acknowledged(cluster: Cluster) -> None:
    victim = cluster.servers[2]
    acknowledged: list[str] = []
    stop = threading.Event()

    def write(i: int) -> None:
        n = 0
        while not stop.is_set() and n < 200:
            n += 1
            body = {"schemas": [USER_SCHEMA], "userName": f"kill-{i}-{n}@example.com"}
            try:
                status, _, user = cluster.call(i, "POST", "/Users", body)
            except OSError:
                continue  # the killed process: not acknowledged
            if status == 201:
                acknowledged.append(user["id"])

    threads = [threading.Thread(target=write, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    while len(acknowledged) < 30:
        threading.Event().wait(0.01)
    victim.kill()
    stop.set()
    for thread in threads:
        thread.join()
    try:
        for user_id in acknowledged:
            status, _, got = cluster.call(0, "GET", f"/Users/{user_id}")
            assert status == 200, (user_id, got)
        _, _, listed = cluster.call(1, "GET", "/Users?filter=userName%20sw%20%22kill-%22&count=0")
        assert listed["totalResults"] >= len(acknowledged)  # in flight when killed: maybe kept
        with psycopg.connect(cluster.url) as conn:  # each acknowledged write: one journal row
            rows = conn.execute(
                "SELECT resource_id, count(*) FROM journal WHERE resource_id = ANY(%s) "
                "AND status = 201 GROUP BY resource_id",
                (acknowledged,),
            ).fetchall()
        assert dict(rows) == dict.fromkeys(acknowledged, 1)
        status, _, _ = cluster.call(1, "GET", "/Users?count=1")
        assert status == 200  # the others keep serving
    finally:
        victim.start()  # back for later tests (the module shares the cluster)


def test_connections_cut_by_the_database_are_503_or_served_never_500(
    postgres_server: str,
) -> None:
    """A failover or a restart cuts every connection: writes are retried on a new one,
    a read that was on a cut connection is 503 with Retry-After, and then all is served."""
    with fresh_database(postgres_server) as url:
        port = free_port()
        argv = [sys.executable, "-m", "scimlite", "serve", "--port", str(port)]
        server = ServerProcess(argv, port=port, env={"SCIMLITE_DATABASE_URL": url})
        server.start(banner_token=True)
        cluster = Cluster([server], server.token, url)
        try:
            before = new_user(cluster, "before-cut@example.com")
            database = url.rsplit("/", 1)[1]
            with psycopg.connect(postgres_server, autocommit=True) as admin:
                cut = admin.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = %s AND application_name = 'scimlite'",
                    (database,),
                ).fetchone()
            assert cut is not None and cut[0] >= 2  # the write and the read connections
            posts = [new_user_status(cluster, f"after-cut{i}@example.com") for i in range(4)]
            gets = [cluster.call(0, "GET", f"/Users/{before['id']}")[0] for _ in range(6)]
            # A request whose token check (a read) met a cut connection is 503, once per
            # pool; a write that met one is run again on a new connection: 201.
            assert set(posts + gets) <= {200, 201, 503}, (posts, gets)
            assert posts.count(201) >= 3 and posts[-1] == 201, posts
            assert gets[-1] == 200, gets
            search = "/Users?filter=userName%20sw%20%22after-cut%22"
            answers = [cluster.call(0, "GET", search) for _ in range(3)]  # as a client retries
            assert [a[0] for a in answers][-1] == 200, answers  # the scan pool recovered too
            assert answers[-1][2]["totalResults"] == posts.count(201)  # nothing made twice
        finally:
            server.stop()


def new_user_status(cluster: Cluster, name: str) -> int:
    body = {"schemas": [USER_SCHEMA], "userName": name}
    return cluster.call(0, "POST", "/Users", body)[0]
