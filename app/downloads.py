"""Files the API hands out beside GraphQL: the workbook and the PDF of an evaluation export, and the
record of an ended vote.

A file is binary and may be large, so it is a plain `GET` with the same `Authorization` header as
the API (the mini-program's `wx.downloadFile`), not a GraphQL field; the GraphQL type gives its
path. Refusals are the API's JSON errors with their codes.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from auth.principal import ANONYMOUS
from models.errors import QilijiaError
from resolvers import evaluation_export as exports
from resolvers import vote_record
from resolvers.context import Context
from resolvers.ids import decode

STATUS = {"UNAUTHENTICATED": 401, "FORBIDDEN": 403, "BAD_USER_INPUT": 400, "NOT_FOUND": 404, "CONFLICT": 409}


def _error(code: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": code}}]}, status_code=STATUS.get(code, 400)
    )


async def evaluation_export(request: Request) -> Response:
    """`GET /exports/evaluations/{id}.xlsx` or `.pdf`: the file as it was sent, for the committee
    of the export's community; every download is on the audit trail."""
    ident, _, kind = request.path_params["file"].rpartition(".")
    if kind not in exports.FILES:
        return _error("NOT_FOUND", "没有这种文件：请下载 .xlsx 或 .pdf。")
    try:
        export_id = decode(ident, "EvaluationExport", field="id")[1]
        await request.app.state.graphql.read_principal(request)
        ctx = Context(
            principal=request.scope.get("user") or ANONYMOUS,
            services=request.app.state.services,
            request=request,
        )
        content, media, name = await exports.download(ctx, export_id, kind)
    except QilijiaError as refused:
        return _error(refused.code, refused.message)
    return Response(
        content,
        media_type=media,
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
            "Cache-Control": "no-store",
        },
    )


async def vote_record_file(request: Request) -> Response:
    """`GET /exports/votes/{id}.pdf`: the record of an ended vote, made when asked, for the owners'
    committee and the community committee; every download is on the audit trail."""
    ident, _, kind = request.path_params["file"].rpartition(".")
    if kind != "pdf":
        return _error("NOT_FOUND", "没有这种文件：请下载 .pdf。")
    try:
        vote_id = decode(ident, "Vote", field="id")[1]
        await request.app.state.graphql.read_principal(request)
        ctx = Context(
            principal=request.scope.get("user") or ANONYMOUS,
            services=request.app.state.services,
            request=request,
        )
        content, name = await vote_record.download(ctx, vote_id)
    except QilijiaError as refused:
        return _error(refused.code, refused.message)
    return Response(
        content,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
            "Cache-Control": "no-store",
        },
    )
