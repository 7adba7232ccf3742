"""Photos end to end, as the mini-program sends and shows them: `wx.uploadFile` to `POST /uploads`,
the upload's id on a report, comment, resolution or meeting minutes, and `<image src>` on the signed
URLs the API hands out. Images are made in memory, small.

The uploader is 张德明 (13800000007, resident of 千山美林); 13800000008 (a tenant of 千山美林)
may read his report, 13800000011 (a resident of 东方新天地) may not.
"""

from __future__ import annotations

import asyncio
import io
import os
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from PIL import Image

from app.dev_wechat import MEDIA_CHECK_ASYNC, FakeWeChat, passing_pusher, run_fake_wechat
from app.uploads import forget_unattached
from models.photos import file_signature
from resolvers.ids import decode
from resolvers.photos import recheck_held
from tests.conftest import Api, counting_statements, fetch, fetchval, make_settings, running_api, token_for
from tests.votes import compound_id

pytestmark = pytest.mark.asyncio

RESIDENT, NEIGHBOUR, STRANGER = "13800000007", "13800000008", "13800000011"
CHIEF, GRID = "13800000001", "13800000003"
LIMIT = 200_000
PUSH_TOKEN = "push-token-0123456789"
CLOUD = "cloud://prod-1a2b3c.7072-prod-1a2b3c-1300000000/reports/manhole.jpg"
PHOTO = "photos { url thumbnailUrl width height status }"
REPORT = f"mutation($i: ReportTaskInput!) {{ reportTask(input: $i) {{ id photoUrls {PHOTO} }} }}"
TASK = f"query($id: ID!) {{ task(id: $id) {{ {PHOTO} timeline(first: 20) {{ edges {{ node {{ kind {PHOTO} }} }} }} meetings {{ {PHOTO} }} }} }}"
COMMENT = f"mutation($id: ID!, $t: String!, $p: [String!]) {{ commentTask(id: $id, text: $t, photos: $p) {{ {PHOTO} }} }}"
RESOLVE = 'mutation($id: ID!, $p: [String!]) { resolveTask(id: $id, resolution: "已更换井盖", photos: $p) { status } }'
ACCEPT = "mutation($id: ID!) { acceptTask(id: $id) { status } }"
SCHEDULE = "mutation($i: ScheduleMeetingInput!) { scheduleMeeting(input: $i) { id } }"
MINUTES = f"""mutation($id: ID!, $p: [String!]) {{
  recordMeetingDecisions(meetingId: $id, decisions: ["先换井盖"], photos: $p) {{ {PHOTO} }} }}"""
MY_REPORTS = f"{{ me {{ reportedTasks(first: 10) {{ edges {{ node {{ {PHOTO} }} }} }} }} }}"


def jpeg_with_location(size: tuple[int, int] = (64, 48)) -> bytes:
    """A small JPEG as a phone writes it: EXIF with the GPS position (重庆綦江) and an orientation."""
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated: stored sideways, shown upright
    exif[0x010F] = "Phone maker"
    exif[0x8825] = {1: "N", 2: (29.0, 1.0, 30.0), 3: "E", 4: (106.0, 39.0, 5.0)}
    out = io.BytesIO()
    Image.new("RGB", size, (180, 40, 40)).save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (40, 30), (0, 120, 0, 128)).save(out, "PNG")
    return out.getvalue()


def noisy_jpeg() -> bytes:
    """A real photo too large for the test limit: noise does not compress."""
    out = io.BytesIO()
    Image.frombytes("RGB", (520, 520), os.urandom(520 * 520 * 3)).save(out, "JPEG", quality=95)
    assert len(out.getvalue()) > LIMIT
    return out.getvalue()


async def upload(
    api: Api, token: str | None, content: bytes, name: str = "IMG_0001.jpg", field: str = "file"
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    files = {field: (name, content, "image/jpeg")}
    return await api.client.post("/uploads", files=files, data={"source": "camera"}, headers=headers)


async def uploaded(api: Api, token: str, content: bytes | None = None) -> dict[str, Any]:
    response = await upload(api, token, content or jpeg_with_location())
    assert response.status_code == 201, response.text
    return response.json()


def stored(api: Api, upload_id: str, thumb: bool = False) -> bytes:
    root = api.app.state.settings.data_dir / "files" / "uploads"
    return (root / f"{decode(upload_id)[1]}{'.thumb' if thumb else ''}").read_bytes()


def refusal(response: httpx.Response) -> tuple[int, str, str]:
    error = response.json()["errors"][0]
    return response.status_code, error["extensions"]["code"], error["message"]


async def report(api: Api, url: str, token: str, **more: Any) -> dict[str, Any]:
    given = {"compoundId": await compound_id(url), "category": "FACILITIES_REPAIR"}
    given |= {"title": "6栋门口井盖松动", "description": "井盖踩上去会晃"} | more
    return (await api.data(REPORT, {"i": given}, token=token))["reportTask"]


async def shown(api: Api, photo: dict[str, Any]) -> tuple[bytes, bytes]:
    """The photo and its thumbnail, fetched as `<image src>` does: no token."""
    full, small = await api.client.get(photo["url"]), await api.client.get(photo["thumbnailUrl"])
    assert (full.status_code, small.status_code) == (200, 200), (full.text, small.text)
    assert small.headers["content-type"] == "image/jpeg"
    return full.content, small.content


@pytest_asyncio.fixture
async def api(demo_db_url: str) -> AsyncIterator[Api]:
    async with running_api(demo_db_url, make_settings(demo_db_url, QILIJIA_UPLOAD_MAX_BYTES=LIMIT)) as client:
        yield client


async def test_refused_uploads_store_nothing(api: Api, demo_db_url: str) -> None:
    """No token, a bad token, too large, not an image whatever its name, no `file` field: each a
    JSON refusal in Chinese, and no row, no file."""
    resident = await token_for(demo_db_url, RESIDENT)
    assert refusal(await upload(api, None, jpeg_with_location()))[:2] == (401, "UNAUTHENTICATED")
    assert refusal(await upload(api, "not-a-token", jpeg_with_location()))[:2] == (401, "UNAUTHENTICATED")
    status, code, message = refusal(await upload(api, resident, noisy_jpeg()))
    assert (status, code) == (413, "BAD_USER_INPUT") and "照片不能超过 0.2 MB" in message
    status, code, message = refusal(await upload(api, resident, b"just text, named like a photo\n" * 20))
    assert (status, code) == (400, "BAD_USER_INPUT") and "按文件内容判断" in message
    status, _, message = refusal(await upload(api, resident, png()[:60], name="cut.png"))
    assert status == 400 and ("已损坏" in message or "按文件内容判断" in message)
    assert refusal(await upload(api, resident, png(), field="image"))[0] == 400
    assert await fetchval(demo_db_url, "SELECT count(*) FROM upload") == 0
    files = api.app.state.settings.data_dir / "files"
    assert not files.exists() or not any(p.is_file() for p in files.rglob("*"))

    # 60 files in an hour, then a pause: the 61st is refused before its body is read
    neighbour = await token_for(demo_db_url, NEIGHBOUR)
    await fetchval(
        demo_db_url,
        """INSERT INTO upload (owner_id, sha256, size_bytes, media_type, width, height, status)
           SELECT p.id, 'x', 1, 'image/png', 1, 1, 'PASSED' FROM person p, generate_series(1, 60)
           WHERE p.phone = $1""",
        NEIGHBOUR,
    )
    busy = await upload(api, neighbour, png())
    assert refusal(busy) == (429, "RATE_LIMITED", "一小时内最多上传 60 个文件，请稍后再试。")
    assert busy.headers["retry-after"] == "600"
    await fetchval(demo_db_url, "UPDATE upload SET created_at = now() - interval '61 minutes'")
    assert (await upload(api, neighbour, png())).status_code == 201


async def test_a_photo_on_a_report_is_seen_by_those_who_may_read_it(api: Api, demo_db_url: str) -> None:
    """Uploaded without its EXIF, with a thumbnail; attached to a report with a link and a cloud
    file; a neighbour who reads the report gets working signed URLs, a stranger gets nothing; only
    the uploader attaches an upload; a tampered or expired URL is refused; comments, resolutions
    and meeting minutes carry photos; a list's photos cost one statement however many."""
    resident, neighbour = await token_for(demo_db_url, RESIDENT), await token_for(demo_db_url, NEIGHBOUR)
    stranger = await token_for(demo_db_url, STRANGER)
    sent = jpeg_with_location()
    assert Image.open(io.BytesIO(sent)).getexif().get_ifd(0x8825)  # the phone wrote where it was
    made = await uploaded(api, resident, sent)
    assert (made["status"], made["width"], made["height"]) == ("PASSED", 48, 64)  # turned upright
    kept = Image.open(io.BytesIO(stored(api, made["id"])))
    assert kept.format == "JPEG" and dict(kept.getexif()) == {} and "exif" not in kept.info
    assert max(Image.open(io.BytesIO(stored(api, made["id"], thumb=True))).size) <= 480
    row = (await fetch(demo_db_url, "SELECT * FROM upload"))[0]
    assert (row["status"], row["media_type"], row["size_bytes"]) == (
        "PASSED",
        "image/jpeg",
        len(stored(api, made["id"])),
    )

    task = await report(
        api, demo_db_url, resident, photoUrls=["https://img.example.cn/a.jpg"], photos=[made["id"], CLOUD]
    )
    links = [p["url"] for p in task["photos"]]
    assert links[0] == "https://img.example.cn/a.jpg" and links[2] == CLOUD and "/files/" in links[1]

    seen = (await api.data(TASK, {"id": task["id"]}, token=neighbour))["task"]["photos"]
    assert [p["status"] for p in seen] == ["PASSED"] * 3 and seen[1]["width"] == 48
    full, small = await shown(api, seen[1])
    assert full == stored(api, made["id"]) and Image.open(io.BytesIO(small)).format == "JPEG"
    stale = await api.client.get(seen[1]["url"], headers={"Authorization": "Bearer expired-token"})
    assert stale.status_code == 200  # a stale token sent along is no matter: the signature is
    hidden = await api.gql(TASK, {"id": task["id"]}, token=stranger)
    assert hidden["errors"][0]["extensions"]["code"] == "FORBIDDEN" and "files" not in str(hidden)

    # a signed URL altered or past its time is refused
    tampered = seen[1]["url"].replace("sig=", "sig=x")
    other = seen[1]["url"].replace(str(decode(made["id"])[1]), str(uuid.uuid4()))
    ident, past = decode(made["id"])[1], int(time.time()) - 10
    expired = f"/files/{ident}?exp={past}&sig={file_signature(api.app.state.file_url_key, ident, past)}"
    for bad in (tampered, other, expired, f"/files/{ident}"):
        status, code, message = refusal(await api.client.get(bad))
        assert (status, code, message) == (403, "FORBIDDEN", "照片链接已过期或无效，请刷新页面后重试。")

    # someone else's upload cannot be attached; nothing is written
    events = await fetchval(demo_db_url, "SELECT count(*) FROM task_event")
    refused = await api.gql(
        COMMENT, {"id": task["id"], "t": "我也看到了", "p": [made["id"]]}, token=neighbour
    )
    assert refused["errors"][0]["message"] == "只能使用您自己上传的照片。"
    assert await fetchval(demo_db_url, "SELECT count(*) FROM task_event") == events

    # the neighbour's comment with their own photo; the grid worker's resolution with theirs
    mine = await uploaded(api, neighbour, png())
    comment = await api.data(
        COMMENT, {"id": task["id"], "t": "我也看到了", "p": [mine["id"]]}, token=neighbour
    )
    assert [p["width"] for p in comment["commentTask"]["photos"]] == [40]
    grid = await token_for(demo_db_url, GRID)
    await api.data(ACCEPT, {"id": task["id"]}, token=grid)
    fixed = await uploaded(api, grid)
    await api.data(RESOLVE, {"id": task["id"], "p": [fixed["id"]]}, token=grid)
    # the chief convener's meeting minutes with a photo of the meeting
    chief = await token_for(demo_db_url, CHIEF)
    meeting = {"taskId": task["id"], "topic": "井盖更换", "heldAt": "2026-01-05T19:30:00+08:00"}
    meeting_id = (await api.data(SCHEDULE, {"i": meeting}, token=chief))["scheduleMeeting"]["id"]
    minutes = await uploaded(api, chief)
    await api.data(MINUTES, {"id": meeting_id, "p": [minutes["id"]]}, token=chief)

    read = (await api.data(TASK, {"id": task["id"]}, token=resident))["task"]
    with_photos = [(e["node"]["kind"], len(e["node"]["photos"])) for e in read["timeline"]["edges"]]
    assert ("COMMENTED", 1) in with_photos and ("STATUS_CHANGED", 1) in with_photos
    resolution = next(
        e["node"]["photos"][0]
        for e in read["timeline"]["edges"]
        if e["node"]["photos"] and e["node"]["kind"] == "STATUS_CHANGED"
    )
    assert (await shown(api, resolution))[0] == stored(api, fixed["id"])
    assert [len(m["photos"]) for m in read["meetings"]] == [1]

    # the photos of a list: one statement for one report's, one for three reports'
    async def statements() -> int:
        with counting_statements(api.app) as counted:
            await api.data(MY_REPORTS, token=resident)
        return counted.count

    one = await statements()
    for _ in range(2):
        await report(api, demo_db_url, resident, photos=[made["id"], CLOUD])
    assert await statements() == one


@pytest_asyncio.fixture
async def wechat_api(demo_db_url: str) -> AsyncIterator[tuple[Api, FakeWeChat]]:
    fake = FakeWeChat()
    async with run_fake_wechat(fake) as base, httpx.AsyncClient(timeout=5.0, trust_env=False) as http:
        settings = make_settings(
            demo_db_url,
            WECHAT_APPID=fake.appid,
            WECHAT_SECRET=fake.secret,
            WECHAT_API_BASE=base,
            WECHAT_PUSH_TOKEN=PUSH_TOKEN,
        )
        async with running_api(demo_db_url, settings, wechat_http=http) as client:
            yield client, fake


async def test_wechat_holds_a_photo_until_its_check_passes(
    wechat_api: tuple[Api, FakeWeChat], demo_db_url: str
) -> None:
    """With WeChat configured each upload goes to mediaCheckAsync and is held, shown to its
    uploader only, until WeChat's signed push passes it; a failing image is rejected for good; a
    push with a bad or stale signature is refused and changes nothing."""
    api, fake = wechat_api
    await fetchval(demo_db_url, "UPDATE person SET wechat_openid = 'openid-zhang' WHERE phone = $1", RESIDENT)
    resident, neighbour = await token_for(demo_db_url, RESIDENT), await token_for(demo_db_url, NEIGHBOUR)
    held = await uploaded(api, resident)
    assert held["status"] == "HELD"
    (asked,) = fake.media_checks
    assert (asked["openid"], asked["media_type"], asked["version"]) == ("openid-zhang", 2, 2)
    assert (await api.client.get(asked["media_url"])).status_code == 200  # WeChat can fetch it
    # WeChat is never sent to an address a client's Host header names: in `prod`, QILIJIA_PUBLIC_URL
    # is required with WeChat; here (`dev`, unset) the request's own address stands in
    assert asked["media_url"].startswith("http://testserver/files/")
    assert len(fake.calls_to(MEDIA_CHECK_ASYNC)) == 1

    task = await report(api, demo_db_url, resident, photos=[held["id"]])
    assert [p["status"] for p in task["photos"]] == ["HELD"]
    assert (await api.data(TASK, {"id": task["id"]}, token=neighbour))["task"]["photos"] == []

    async def push(params: dict[str, str], body: dict[str, Any]) -> httpx.Response:
        return await api.client.post("/wechat/push", params=params, json=body)

    params, body = fake.media_push(asked["trace_id"], "pass", push_token=PUSH_TOKEN)
    forged = fake.media_push(asked["trace_id"], "pass", push_token="not-our-token")
    stale = fake.media_push(
        asked["trace_id"], "pass", push_token=PUSH_TOKEN, timestamp=int(time.time()) - 3600
    )
    for bad in (forged, stale, ({k: v for k, v in params.items() if k != "signature"}, body)):
        assert refusal(await push(*bad))[:2] == (403, "FORBIDDEN")
    assert await fetchval(demo_db_url, "SELECT status FROM upload") == "HELD"
    answered = await push(params, body)
    assert (answered.status_code, answered.text) == (200, "success")
    assert (await push(params, body)).text == "success"  # WeChat pushing it again changes nothing
    seen = (await api.data(TASK, {"id": task["id"]}, token=neighbour))["task"]["photos"]
    assert [p["status"] for p in seen] == ["PASSED"]
    await shown(api, seen[0])

    # a failing image: rejected, shown to its uploader only, never attached
    bad = await uploaded(api, resident)
    failing = fake.media_checks[-1]["trace_id"]
    assert (await push(*fake.media_push(failing, "risky", push_token=PUSH_TOKEN))).text == "success"
    refused = await api.gql(COMMENT, {"id": task["id"], "t": "补一张", "p": [bad["id"]]}, token=resident)
    assert refused["errors"][0]["message"] == "这张照片未通过微信图片安全检查，不能使用。"
    statuses = await fetch(demo_db_url, "SELECT status FROM upload ORDER BY created_at")
    assert [r["status"] for r in statuses] == ["PASSED", "REJECTED"]
    # a verdict for a check nobody waits for is not taken: WeChat pushes it again later
    assert (await push(*fake.media_push("unknown-trace", "pass", push_token=PUSH_TOKEN))).status_code == 404
    # WeChat's check of the push URL: the echo, for a signed request only
    verify = {**params, "echostr": "echo-123"}
    assert (await api.client.get("/wechat/push", params=verify)).text == "echo-123"


async def test_the_fake_passes_every_photo_for_an_integrator(
    wechat_api: tuple[Api, FakeWeChat], demo_db_url: str
) -> None:
    """`qilijia dev wechat`'s fake pushes a passing verdict for every image check, signed as WeChat
    does, so that photos do not stay held in development."""
    api, fake = wechat_api
    fake.on_media_check = passing_pusher(fake, "/wechat/push", PUSH_TOKEN, api.client, delay=0)
    await fetchval(demo_db_url, "UPDATE person SET wechat_openid = 'openid-zhang' WHERE phone = $1", RESIDENT)
    held = await uploaded(api, await token_for(demo_db_url, RESIDENT))
    assert held["status"] == "HELD"
    for _ in range(50):
        if await fetchval(demo_db_url, "SELECT status FROM upload") == "PASSED":
            break
        await asyncio.sleep(0.05)
    assert await fetchval(demo_db_url, "SELECT status FROM upload") == "PASSED"


async def test_a_photo_whose_check_could_not_be_asked_is_asked_again(demo_db_url: str) -> None:
    """WeChat away at the upload: the photo is held and never asked about; the job asks again from a
    minute later (one process at a time, never twice), so that it does not stay held for good."""
    fake = FakeWeChat(media_errcode=-1)
    async with run_fake_wechat(fake) as base, httpx.AsyncClient(timeout=5.0, trust_env=False) as http:
        settings = make_settings(
            demo_db_url,
            WECHAT_APPID=fake.appid,
            WECHAT_SECRET=fake.secret,
            WECHAT_API_BASE=base,
            WECHAT_PUSH_TOKEN=PUSH_TOKEN,
            QILIJIA_PUBLIC_URL="https://qilijia.example.cn",
        )
        async with running_api(demo_db_url, settings, wechat_http=http) as api:
            services = api.app.state.services

            async def again() -> int:
                return await recheck_held(services.sessions, services.wechat, services.photo_links)

            await fetchval(
                demo_db_url, "UPDATE person SET wechat_openid = 'openid-zhang' WHERE phone = $1", RESIDENT
            )
            held = await uploaded(api, await token_for(demo_db_url, RESIDENT))
            ident = decode(held["id"])[1]
            assert held["status"] == "HELD" and fake.media_checks == []
            assert await again() == 0  # not within its first minute
            await fetchval(demo_db_url, "UPDATE upload SET created_at = now() - interval '2 minutes'")
            assert await again() == 0  # WeChat still away
            fake.media_errcode = None
            assert sorted(await asyncio.gather(again(), again())) == [0, 1]
            (asked,) = fake.media_checks
            assert asked["openid"] == "openid-zhang"
            assert await fetchval(demo_db_url, "SELECT check_asked_at IS NOT NULL FROM upload")
            assert asked["media_url"].startswith(f"https://qilijia.example.cn/files/{ident}?")
            assert await fetchval(demo_db_url, "SELECT check_trace_id FROM upload") == asked["trace_id"]
            assert await again() == 0  # asked once
            # its verdict never came (a push lost): asked for again an hour later, once
            await fetchval(demo_db_url, "UPDATE upload SET check_asked_at = now() - interval '61 minutes'")
            assert await again() == 1 and await again() == 0
            asked = fake.media_checks[-1]
            assert len(fake.media_checks) == 2
            assert await fetchval(demo_db_url, "SELECT check_trace_id FROM upload") == asked["trace_id"]
            params, body = fake.media_push(asked["trace_id"], "pass", push_token=PUSH_TOKEN)
            pushed = await api.client.post("/wechat/push", params=params, json=body)
            assert pushed.text == "success"
            assert await fetchval(demo_db_url, "SELECT status FROM upload") == "PASSED"
            # older than a day: no longer asked about
            fake.media_errcode = -1
            late = decode((await uploaded(api, await token_for(demo_db_url, RESIDENT)))["id"])[1]
            await fetchval(
                demo_db_url, "UPDATE upload SET created_at = now() - interval '2 days' WHERE id = $1", late
            )
            fake.media_errcode = None
            assert await again() == 0 and len(fake.media_checks) == 2


async def test_uploads_attached_to_nothing_are_forgotten_after_a_day(api: Api, demo_db_url: str) -> None:
    resident = await token_for(demo_db_url, RESIDENT)
    kept, dropped, fresh = [await uploaded(api, resident, png()) for _ in range(3)]
    await report(api, demo_db_url, resident, photos=[kept["id"]])
    await fetchval(
        demo_db_url,
        "UPDATE upload SET created_at = now() - interval '2 days' WHERE id <> $1",
        decode(fresh["id"])[1],
    )
    services, storage = api.app.state.services, api.app.state.storage
    assert await forget_unattached(services.sessions, storage) == 1
    assert await forget_unattached(services.sessions, storage) == 0
    left = {r["id"] for r in await fetch(demo_db_url, "SELECT id FROM upload")}
    assert left == {decode(kept["id"])[1], decode(fresh["id"])[1]}
    assert stored(api, kept["id"]) and stored(api, fresh["id"], thumb=True)
    with pytest.raises(FileNotFoundError):
        stored(api, dropped["id"])
    with pytest.raises(FileNotFoundError):
        stored(api, dropped["id"], thumb=True)


async def test_storage_follows_the_settings(tmp_path: Any) -> None:
    """A directory under the data directory by default (an S3-compatible bucket when configured:
    `test_photos_in_an_s3_compatible_bucket`)."""
    from app.storage import DirectoryStorage, storage_from

    local = storage_from(make_settings(None, QILIJIA_DATA_DIR=str(tmp_path)))
    assert isinstance(local, DirectoryStorage) and local.root == tmp_path / "files"
    key = f"uploads/{uuid.uuid4()}"
    await local.put(key, b"photo", "image/jpeg")
    assert await local.get(key) == b"photo" and (tmp_path / "files" / key).stat().st_mode & 0o077 == 0
    await local.delete(key)
    await local.delete(key)  # twice is no error
    assert await local.get(key) is None
    with pytest.raises(ValueError):
        await local.get("../secret_key")


async def test_photos_in_an_s3_compatible_bucket(demo_db_url: str, tmp_path: Any) -> None:
    """With a bucket configured, a photo uploaded through the API lands in it (under the prefix)
    and is read back through its signed URL; the server is moto's S3 on loopback, spoken to over
    HTTP as a real bucket would be."""
    import boto3
    from moto.server import ThreadedMotoServer

    from app.storage import S3Storage

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        credentials = {"aws_access_key_id": "AKID-test", "aws_secret_access_key": "secret-test"}
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **credentials).create_bucket(
            Bucket="qilijia-photos"
        )
        settings = make_settings(
            demo_db_url,
            QILIJIA_DATA_DIR=str(tmp_path),
            QILIJIA_S3_BUCKET="qilijia-photos",
            QILIJIA_S3_ENDPOINT=endpoint,
            QILIJIA_S3_REGION="us-east-1",
            QILIJIA_S3_PREFIX="prod/",
            QILIJIA_S3_ACCESS_KEY_ID="AKID-test",
            QILIJIA_S3_SECRET_ACCESS_KEY="secret-test",
        )
        async with running_api(demo_db_url, settings) as api:
            storage = api.app.state.storage
            assert isinstance(storage, S3Storage) and storage.client.meta.endpoint_url == endpoint
            resident = await token_for(demo_db_url, RESIDENT)
            photo = await uploaded(api, resident, jpeg_with_location())
            ident = decode(photo["id"])[1]
            listed = storage.client.list_objects_v2(Bucket="qilijia-photos", Prefix="prod/uploads/")
            assert sorted(o["Key"] for o in listed["Contents"]) == [
                f"prod/uploads/{ident}",
                f"prod/uploads/{ident}.thumb",
            ]
            assert not (tmp_path / "files").exists()  # nothing on the server's disk
            task = await report(api, demo_db_url, resident, photos=[photo["id"]])
            full, small = await shown(api, task["photos"][0])
            assert Image.open(io.BytesIO(full)).getexif() == {} and small
            await storage.delete(f"uploads/{ident}")
            assert await storage.get(f"uploads/{ident}") is None
            gone = await api.client.get(task["photos"][0]["url"])
            assert gone.status_code == 404
    finally:
        server.stop()


async def test_a_huge_jpeg_is_decoded_at_a_reduced_scale() -> None:
    """Memory stays in proportion: a 36-megapixel JPEG is decoded (and kept) at half its side."""
    from app.images import clean

    out = io.BytesIO()
    Image.new("RGB", (6000, 6000), (30, 90, 160)).save(out, "JPEG", quality=50)
    cleaned = clean(out.getvalue())
    assert (cleaned.width, cleaned.height) == (3000, 3000)
    phone = io.BytesIO()
    Image.new("RGB", (4000, 3000), (30, 90, 160)).save(phone, "JPEG", quality=50)
    assert (clean(phone.getvalue()).width, clean(phone.getvalue()).height) == (4000, 3000)


async def test_the_rules_of_photos() -> None:
    """Cloud file ids, URL signatures and WeChat's push signatures, without a server."""
    from auth.wechat_push import media_verdict, push_signature, push_signed
    from models.photos import cloud_file_problem, signature_valid, url_expiry

    assert cloud_file_problem(CLOUD) is None
    for bad in ("cloud://", "cloud://env-only", "cloud://env/../x", "https://a/b.jpg", "cloud://e/a b.jpg"):
        assert cloud_file_problem(bad) is not None, bad
    key, ident, now = b"k" * 32, uuid.uuid4(), 1_800_000_000.0
    expires = url_expiry(now, 3600)
    assert expires - now >= 3600 and expires == url_expiry(now + 60, 3600)  # the same URL minutes later
    signed = file_signature(key, ident, expires)
    assert signature_valid(key, ident, expires, signed, now)
    assert not signature_valid(key, ident, expires, signed, expires + 1)  # expired
    assert not signature_valid(key, uuid.uuid4(), expires, signed, now)  # another file
    assert not signature_valid(b"x" * 32, ident, expires, signed, now)  # another server's key
    stamp = str(int(now))
    params = {"timestamp": stamp, "nonce": "42", "signature": push_signature("tok", stamp, "42")}
    assert push_signed("tok", params, now) and not push_signed("other", params, now)
    assert not push_signed("tok", params, now + 3600)
    body = FakeWeChat().media_push("t-1", "review", push_token="tok")[1]
    assert media_verdict(body, FakeWeChat().appid) == media_verdict(body, None)
    assert media_verdict(body, None) is not None and not media_verdict(body, None).passed  # type: ignore[union-attr]
    assert media_verdict(body, "wx-another-app") is None
    assert media_verdict({"Event": "user_enter_tempsession"}, None) is None


async def test_a_paper_record_never_goes_to_wechat_and_stays_with_the_records(
    wechat_api: tuple[Api, FakeWeChat], demo_db_url: str
) -> None:
    """A photo of a ballot or a signed 委托书 (`purpose=record`) carries choices and ID numbers: it
    is not sent to WeChat's image check, and it is attached only where its owner and the
    committees alone see it, never to a report."""
    api, fake = wechat_api
    await fetchval(demo_db_url, "UPDATE person SET wechat_openid = 'openid-zhang' WHERE phone = $1", RESIDENT)
    resident = await token_for(demo_db_url, RESIDENT)
    headers = {"Authorization": f"Bearer {resident}"}
    files = {"file": ("ballot.jpg", jpeg_with_location(), "image/jpeg")}
    response = await api.client.post("/uploads", files=files, data={"purpose": "record"}, headers=headers)
    assert response.status_code == 201 and response.json()["status"] == "PASSED"
    assert fake.media_checks == []
    record = response.json()["id"]
    error = (
        await api.gql(
            REPORT,
            {
                "i": {
                    "compoundId": await compound_id(demo_db_url),
                    "category": "FACILITIES_REPAIR",
                    "title": "井盖松动",
                    "description": "井盖会晃",
                    "photos": [record],
                }
            },
            token=resident,
        )
    )["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT" and "书面材料" in error["message"]
    bad = await api.client.post("/uploads", files=files, data={"purpose": "secret"}, headers=headers)
    assert bad.status_code == 400 and bad.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
