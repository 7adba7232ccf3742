"""Photos over plain HTTP beside GraphQL: the upload (`POST /uploads`, as `wx.uploadFile` sends it),
the signed file URLs (`GET /files/<id>`), and WeChat's push of its image-check verdicts
(`/wechat/push`).

An upload is checked whole before anything is kept: its size, its type by its content, and that
Pillow can read it; then it is re-encoded without its EXIF, stored with a thumbnail, and recorded.
A PDF (for notices) is kept as it came (`app.pdf_files`).
A refusal is a JSON error with a Chinese sentence and leaves no row and no file behind.

Where WeChat is configured, each upload is sent to WeChat's image check (`mediaCheckAsync`) and held
— shown to its uploader only — until WeChat pushes its verdict; elsewhere (the embedded default)
it is shown at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
import uuid
from typing import Any

import orjson
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from app import images, pdf_files
from app.storage import Storage, original_key, thumbnail_key
from auth.policy import posts_notices, require_person
from auth.principal import ANONYMOUS
from auth.wechat_push import media_verdict, push_signed
from models.errors import BadUserInputError, QilijiaError
from models.photos import PDF, RECORD_PURPOSE, UploadStatus, clean_file_name, signature_valid
from resolvers import photos
from resolvers.photos import NewUpload, PhotoLinks

log = logging.getLogger("qilijia.uploads")

STATUS = {"UNAUTHENTICATED": 401, "FORBIDDEN": 403, "BAD_USER_INPUT": 400, "NOT_FOUND": 404}
#: what a multipart body carries besides the file (boundaries, headers, `wx.uploadFile`'s formData)
MULTIPART_OVERHEAD = 64_000
#: WeChat's image check, token fetch included, may take this long before the upload stays held
MEDIA_CHECK_TIMEOUT_SECONDS = 3.0
BAD_LINK = "照片链接已过期或无效，请刷新页面后重试。"
#: photos decoded at once in one process: each may take a few hundred MB while it is re-encoded,
#: so a burst of uploads waits its turn instead of exhausting the memory
DECODING_AT_ONCE = 2


def _decoding(request: Request) -> asyncio.Semaphore:
    """The app's turn to decode (made in its own event loop, on first use)."""
    state = request.app.state
    if getattr(state, "decoding", None) is None:
        state.decoding = asyncio.Semaphore(DECODING_AT_ONCE)
    return state.decoding


def _error(code: str, message: str, status: int | None = None) -> JSONResponse:
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": code}}]},
        status_code=status or STATUS.get(code, 400),
    )


def _too_large(limit: int) -> JSONResponse:
    return _error("BAD_USER_INPUT", f"照片不能超过 {limit / 1_000_000:g} MB，请压缩后再上传。", 413)


async def upload(request: Request) -> Response:
    """`POST /uploads`: one photo in the multipart field `file`, with `Authorization: Bearer …`;
    `purpose=record` for a paper record (a ballot, a signed 委托书 or 同意书, evidence for the roll)."""
    settings = request.app.state.settings
    try:
        await request.app.state.graphql.read_principal(request)
        who = require_person(request.scope.get("user") or ANONYMOUS)
    except QilijiaError as refused:
        return _error(refused.code, refused.message)
    services = request.app.state.services
    if await photos.uploaded_lately(services.sessions, who.person_id) >= settings.uploads_per_hour:
        refused = _error(
            "RATE_LIMITED", f"一小时内最多上传 {settings.uploads_per_hour} 个文件，请稍后再试。", 429
        )
        refused.headers["Retry-After"] = "600"
        return refused
    limit = settings.upload_max_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD:
        return _too_large(limit)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        return _error("BAD_USER_INPUT", "请以 multipart/form-data 上传照片（wx.uploadFile，字段名 file）。")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit + MULTIPART_OVERHEAD:
            return _too_large(limit)
    sent = await _file_field(request, bytes(body))
    if sent is None:
        return _error("BAD_USER_INPUT", "请用名为 file 的字段上传一张照片。")
    data, file_name, purpose = sent
    if len(data) > limit:
        return _too_large(limit)
    if purpose not in (None, "", RECORD_PURPOSE):
        return _error(
            "BAD_USER_INPUT", f"purpose 只能不填，或填 {RECORD_PURPOSE}（选票、委托书、同意书等书面材料）。"
        )
    private = purpose == RECORD_PURPOSE
    is_file = pdf_files.is_pdf(data)
    if is_file and not posts_notices(who):
        return _error(
            "FORBIDDEN", "只有发布公告的工作人员可以上传 PDF 文件；照片请上传 JPEG、PNG 或 WebP 格式。"
        )
    try:
        async with _decoding(request):
            cleaned = await asyncio.to_thread(pdf_files.checked if is_file else images.clean, data)
    except BadUserInputError as refused:
        return _error(refused.code, refused.message)

    wechat = services.wechat
    ident = uuid.uuid4()
    # WeChat's image check takes images: a PDF (for notices only) is not held for it
    # a record (a ballot, a signed 委托书) carries choices and ID numbers: never sent to WeChat, and
    # attached only where its owner and the committees alone see it (`models.photos.kind_problem`)
    status = UploadStatus.HELD if wechat is not None and not is_file and not private else UploadStatus.PASSED
    await _store(
        request.app.state.storage,
        services.sessions,
        NewUpload(
            id=ident,
            owner_id=who.person_id,
            sha256=hashlib.sha256(cleaned.content).hexdigest(),
            size_bytes=len(cleaned.content),
            media_type=cleaned.media_type,
            width=cleaned.width,
            height=cleaned.height,
            status=status,
            file_name=clean_file_name(file_name) if is_file else None,
            private=private,
        ),
        cleaned,
    )
    links: PhotoLinks = services.photo_links
    url, thumbnail = links.mint(links.base(request), ident)
    if status == UploadStatus.HELD:
        # WeChat fetches the photo it checks from the server's own address, never one a client's
        # Host header names (which could serve WeChat another picture); in `dev` without it set,
        # the request's address stands in (`prod` refuses to start without it)
        checked_at = links.public_url or (links.base(request) if settings.is_dev else None)
        if checked_at is not None:
            fetched, _ = links.mint(checked_at.rstrip("/"), ident)
            await _ask_media_check(services, wechat, who.person_id, ident, fetched)
    return JSONResponse(
        {
            "id": photos.global_id(ident),
            "status": status.value,
            "width": cleaned.width,
            "height": cleaned.height,
            "url": url,
            "thumbnailUrl": thumbnail,
        },
        status_code=201,
    )


async def _file_field(request: Request, body: bytes) -> tuple[bytes, str | None, str | None] | None:
    """The content of the multipart field `file`, the name it was sent under and the `purpose`
    field, or None when there is no file."""
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, receive=replay).form(max_files=1, max_fields=50)
    except Exception:  # a malformed multipart body, more than one file
        return None
    try:
        field = form.get("file")
        if not isinstance(field, UploadFile):
            return None
        purpose = form.get("purpose")
        return await field.read(), field.filename, purpose if isinstance(purpose, str) else None
    finally:
        await form.close()


async def _store(storage: Storage, sessions: Any, new: NewUpload, cleaned: images.CleanImage) -> None:
    """The files, then the row; when either fails, neither is kept."""
    try:
        await storage.put(original_key(new.id), cleaned.content, cleaned.media_type)
        await storage.put(thumbnail_key(new.id), cleaned.thumbnail, "image/jpeg")
        await photos.record(sessions, new)
    except BaseException:
        for key in (original_key(new.id), thumbnail_key(new.id)):
            with contextlib.suppress(Exception):
                await storage.delete(key)
        raise


async def _ask_media_check(
    services: Any, wechat: Any, person_id: uuid.UUID, ident: uuid.UUID, url: str
) -> None:
    """Send the upload to WeChat's image check. When it cannot be asked (the uploader has no WeChat
    identity, WeChat is down or slow) the photo stays held: shown to its uploader only."""
    openid = await photos.openid_of(services.sessions, person_id)
    if not openid:
        log.info("photo held: its uploader has no WeChat identity to check it against")
        return
    try:
        async with asyncio.timeout(MEDIA_CHECK_TIMEOUT_SECONDS):
            trace_id = await wechat.media_check_async(openid, url)
    except (TimeoutError, QilijiaError) as exc:
        log.warning("photo held: WeChat mediaCheckAsync failed (%s)", type(exc).__name__)
        return
    await photos.await_check(services.sessions, ident, trace_id)


async def forget_unattached(sessions: Any, storage: Storage | None) -> int:
    """The periodic clean-up: uploads attached to nothing after a day, their rows and then their
    files (a file whose deletion fails is left behind, never a row without its file)."""
    if storage is None:
        return 0
    gone = await photos.forget_unattached(sessions)
    for ident in gone:
        for key in (original_key(ident), thumbnail_key(ident)):
            try:
                await storage.delete(key)
            except Exception:
                log.warning("file of a forgotten upload not deleted: %s", key, exc_info=True)
    return len(gone)


async def file(request: Request) -> Response:
    """`GET /files/<id>?exp=…&sig=…[&thumb=1]`: a photo or its thumbnail, while its URL's signature
    holds. Reached by `<image src>`, which sends no token: the signature is the permission."""
    query = request.query_params
    try:
        ident = uuid.UUID(request.path_params["id"])
        expires = int(query.get("exp", ""))
    except ValueError:
        return _error("FORBIDDEN", BAD_LINK)
    if not signature_valid(request.app.state.file_url_key, ident, expires, query.get("sig", ""), time.time()):
        return _error("FORBIDDEN", BAD_LINK)
    thumb = query.get("thumb") == "1"
    content = await request.app.state.storage.get(thumbnail_key(ident) if thumb else original_key(ident))
    if content is None:
        return _error("NOT_FOUND", "照片已不存在。")
    media_type = "image/jpeg" if thumb else _media_type(content)
    headers = {
        "Cache-Control": f"private, max-age={max(0, expires - int(time.time()))}",
        # served as what it is, never sniffed as something a browser would run
        "X-Content-Type-Options": "nosniff",
    }
    if media_type == PDF:
        headers["Content-Disposition"] = "attachment"
    return Response(content, media_type=media_type, headers=headers)


def _media_type(content: bytes) -> str:
    """The type of a file we stored (`app.images` writes JPEG, PNG or WebP), from its first bytes."""
    if content.startswith(pdf_files.MAGIC):
        return PDF
    if content.startswith(b"\x89PNG"):
        return "image/png"
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    return "image/jpeg"


async def wechat_push(request: Request) -> Response:
    """WeChat's message push: `GET` verifies the URL (echoes `echostr`), `POST` carries an event —
    here the image check's verdict (`wxa_media_check`). Both signed with `WECHAT_PUSH_TOKEN`."""
    settings = request.app.state.settings
    token = settings.wechat_push_token
    params = dict(request.query_params)
    if token is None or not push_signed(token.get_secret_value(), params, time.time()):
        return _error("FORBIDDEN", "消息推送签名无效。")
    if request.method == "GET":
        return PlainTextResponse(params.get("echostr", ""))
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return _error(
            "BAD_USER_INPUT", "消息推送内容不是 JSON（请在小程序后台选择 JSON 数据格式、明文模式）。"
        )
    verdict = media_verdict(body, settings.wechat_appid)
    if verdict is None:
        return PlainTextResponse("success")  # an event of another kind: nothing of ours to do
    decided = await photos.decide(
        request.app.state.services.sessions, verdict.trace_id, passed=verdict.passed
    )
    if decided is None:
        # no upload waits for this check yet (pushed before its trace id was stored): not
        # "success", so that WeChat pushes it again
        log.warning("image check verdict for an unknown trace id; WeChat will push it again")
        return _error("NOT_FOUND", "没有等待该检查结果的照片。")
    return PlainTextResponse("success")
